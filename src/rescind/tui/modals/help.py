"""Help: every key binding of the screen underneath, with what it does."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widgets import Button

from rescind.tui.modals import DIALOGS_CSS
from rescind.tui.widgets.plain import Plain


def _own_bindings(node: DOMNode) -> list[Binding]:
    """The bindings declared by rescind's classes for ``node`` (not Textual's built-ins)."""
    found: list[Binding] = []
    for cls in type(node).__mro__:
        if not cls.__module__.startswith("rescind."):
            continue
        for item in cls.__dict__.get("BINDINGS", []):
            # Bindings without a description only explain why another key cannot act.
            if isinstance(item, Binding) and item.description:
                found.append(item)
    return found


def binding_rows(screen: Screen[Any]) -> list[tuple[str, list[Binding]]]:
    """(section title, bindings) for the screen, its widgets and the app."""
    sections: list[tuple[str, list[Binding]]] = []
    own = _own_bindings(screen)
    if own:
        sections.append((getattr(screen, "HELP_TITLE", "This screen"), own))
    seen: set[type] = set()
    for widget in screen.query("*"):
        if type(widget) in seen:
            continue
        seen.add(type(widget))
        bindings = _own_bindings(widget)
        if bindings:
            # A pane's own title, never a class name the responder has no use for.
            sections.append((getattr(widget, "HELP_TITLE", "Lists and tables"), bindings))
    sections.append(("Everywhere", _own_bindings(screen.app)))
    return sections


class HelpModal(ModalScreen[None]):
    CSS_PATH = DIALOGS_CSS
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,f1,q", "close", "Close help", id="help.close"),
    ]

    def __init__(self, screen: Screen[Any]) -> None:
        super().__init__(classes="dialog-screen")
        self._sections = binding_rows(screen)
        self._intro = getattr(screen, "HELP", "")

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(no_wrap=True, style="bold")
        table.add_column()
        for title, bindings in self._sections:
            table.add_row(Text(title, style="bold underline"), "")
            for binding in bindings:
                keys = " / ".join(self.app.get_key_display(Binding(key, binding.action))
                                  for key in binding.key.split(","))
                text = Text(binding.description)
                if binding.tooltip:
                    text.append(f" — {binding.tooltip}")
                if binding.id:
                    text.append(f"  [{binding.id}]", style="dim")  # for keymap.json
                table.add_row(Text(f"  {keys}"), text)
        with Vertical(classes="dialog -wide", id="help"):
            yield Plain("Keys on this screen", classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                if self._intro:
                    yield Plain(self._intro, classes="dialog-how")
                yield Plain(table)
                yield Plain("Tab and Shift+Tab move between panes and fields; ↑ ↓ move in a "
                             "list; Enter chooses; Escape closes a dialog. Ctrl+P opens the "
                             "command palette: every action by name.", classes="dialog-hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close", id="close", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    def on_button_pressed(self) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
