"""A secret value the engine hands over once (e.g. a new external id).

It is shown here and nowhere else: not journaled, not logged, and the widget
is cleared when the modal closes. A mapping of values (new KV values by path and
field) is one ``path field: value`` line each, never a Python repr; Copy takes them all.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from rescind.engine.responder import secret_lines
from rescind.tui.modals import DIALOGS_CSS
from rescind.tui.widgets.plain import Plain


class SecretModal(ModalScreen[None]):
    CSS_PATH = DIALOGS_CSS
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "copy", "Copy", id="secret.copy"),
    ]

    def __init__(self, step: str, name: str, value: Any) -> None:
        super().__init__(classes="dialog-screen")
        self._step = step
        self._name = name
        self._value = "\n".join(secret_lines(value))

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Plain(f"Shown once: {self._name}", classes="dialog-title")
            yield Plain(f"Step {self._step} produced this secret. rescind does not keep it: "
                         "store it now (password manager, vault).", classes="dialog-how")
            yield Plain(Text(self._value, style="bold"), id="secret-value")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Copy", id="copy")
                yield Button("I have stored it", id="done", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "copy":
            self.action_copy()
        else:
            self._forget()
            self.dismiss(None)

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self._value)
        self.notify("Copied (OSC 52). If your terminal ignores that, select the value with "
                    "the mouse.")

    def _forget(self) -> None:
        self.query_one("#secret-value", Static).update("")
        self._value = ""
