"""Export the timeline: pick one of the engine's formats and a path.

Moving in the list chooses the format (no separate "press space to select"), and
an existing file is never overwritten without asking.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, OptionList
from textual.widgets.option_list import Option

from rescind.tui.modals import DIALOGS_CSS
from rescind.tui.modals.confirm import ConfirmModal
from rescind.tui.widgets.lists import KeyedOptionList
from rescind.tui.widgets.plain import Plain


class ExportModal(ModalScreen[tuple[str, Path] | None]):
    """``formats`` maps the engine's format name to the file name it suggests."""

    CSS_PATH = DIALOGS_CSS
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="export.cancel"),
    ]

    def __init__(self, formats: dict[str, str], folder: Path) -> None:
        super().__init__(classes="dialog-screen")
        self._formats = formats
        self._folder = folder
        self._names = list(formats)
        self.chosen = self._names[0]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="export"):
            yield Plain("Export the timeline", classes="dialog-title")
            yield KeyedOptionList(*(Option(f"{name}  ({self._formats[name]})", id=name)
                                    for name in self._names), id="formats")
            yield Input(str(self._folder / self._formats[self.chosen]), id="path")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Export", id="export-go", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        formats = self.query_one("#formats", OptionList)
        formats.highlighted = 0
        formats.focus()

    @on(OptionList.OptionHighlighted, "#formats")
    def _format_moved(self, event: OptionList.OptionHighlighted) -> None:
        self.chosen = event.option.id or self._names[0]
        field = self.query_one("#path", Input)
        path = Path(field.value or str(self._folder))
        field.value = str(path.parent / self._formats[self.chosen])

    @on(OptionList.OptionSelected, "#formats")
    @on(Input.Submitted, "#path")
    def _submitted(self) -> None:
        self._export()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "export-go":
            self._export()
        else:
            self.action_cancel()

    def _export(self) -> None:
        value = self.query_one("#path", Input).value.strip()
        if not value:
            self.notify("Give a file path.", severity="warning")
            return
        path = Path(value).expanduser()
        choice = (self.chosen, path)
        if not path.exists():
            self.dismiss(choice)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.dismiss(choice)

        self.app.push_screen(ConfirmModal(
            "Overwrite the file?", f"{path} already exists. Replace it with the {self.chosen} "
            "export?", yes="Overwrite", no="Keep it"), answered)

    def action_cancel(self) -> None:
        self.dismiss(None)
