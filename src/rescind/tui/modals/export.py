"""Export the timeline: pick one of the engine's formats and a path."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, RadioButton, RadioSet

from rescind.tui.widgets.plain import Plain


class ExportModal(ModalScreen[tuple[str, Path] | None]):
    """``formats`` maps the engine's format name to the file name it suggests."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="export.cancel"),
    ]

    def __init__(self, formats: dict[str, str], folder: Path) -> None:
        super().__init__(classes="dialog-screen")
        self._formats = formats
        self._folder = folder
        self._names = list(formats)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="export"):
            yield Plain("Export the timeline", classes="dialog-title")
            with RadioSet(id="formats"):
                for n, name in enumerate(self._names):
                    yield RadioButton(f"{name}  ({self._formats[name]})", value=n == 0)
            yield Input(str(self._folder / self._formats[self._names[0]]), id="path")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Export", id="export-go", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#formats", RadioSet).focus()

    @property
    def chosen(self) -> str:
        index = self.query_one("#formats", RadioSet).pressed_index
        return self._names[max(index, 0)]

    @on(RadioSet.Changed)
    def _format_changed(self) -> None:
        path = Path(self.query_one("#path", Input).value or str(self._folder))
        self.query_one("#path", Input).value = str(path.parent / self._formats[self.chosen])

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
        self.dismiss((self.chosen, Path(value).expanduser()))

    def action_cancel(self) -> None:
        self.dismiss(None)
