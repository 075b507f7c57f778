"""Yes/no questions, with the safe answer focused when the other one is hard to undo."""

from __future__ import annotations

from typing import ClassVar

from rich.console import RenderableType
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button

from rescind.tui.modals import DIALOGS_CSS
from rescind.tui.widgets.plain import Plain


class ConfirmModal(ModalScreen[bool]):
    """Returns True only for an explicit yes. ``danger`` focuses the safe choice."""

    CSS_PATH = DIALOGS_CSS
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "answer(False)", "Cancel", id="confirm.cancel"),
    ]

    def __init__(self, title: str, body: RenderableType, *, yes: str = "Yes",
                 no: str = "Cancel", danger: bool = True) -> None:
        super().__init__(classes="dialog-screen")
        self._title = title
        self._body = body
        self._yes = yes
        self._no = no
        self._danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Plain(self._title, classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Plain(self._body)
            with Horizontal(classes="dialog-buttons"):
                # The safe choice comes first, so it is where focus lands.
                yield Button(self._no, id="no", variant="primary" if self._danger else "default")
                yield Button(self._yes, id="yes",
                             variant="error" if self._danger else "primary")

    def on_mount(self) -> None:
        self.query_one("#no" if self._danger else "#yes", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class NoticeModal(ModalScreen[None]):
    """Something the responder must read (an error and its fix, a result)."""

    CSS_PATH = DIALOGS_CSS
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="notice.close"),
    ]

    def __init__(self, title: str, body: RenderableType, *, error: bool = False) -> None:
        super().__init__(classes="dialog-screen")
        self._title = title
        self._body = body
        self._error = error

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -error" if self._error else "dialog"):
            yield Plain(self._title, classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Plain(self._body)
            with Horizontal(classes="dialog-buttons"):
                yield Button("OK", id="ok", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#ok", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
