"""What every dialog the engine waits on shares: it can be put aside, never answered by accident.

Escape hides the dialog (the engine keeps waiting; Enter on the incident screen
brings it back). `t` and `r` put it aside to look at the timeline or the record
and it comes back when the responder returns; `?` lists the dialog's keys; a
footer shows the keys that work right now (a text field takes letters, so then
only function keys show). Page up/down scroll a long body whatever has focus.
"""

from __future__ import annotations

from typing import ClassVar, Literal, TypeVar

from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen

from rescind.tui.modals import DIALOGS_CSS

T = TypeVar("T")
# What a request dialog returns instead of an answer: look elsewhere first.
Aside = Literal["timeline", "record"]
ASIDE: tuple[Aside, ...] = ("timeline", "record")


FIRST = "-first-focus"


class RequestModal(ModalScreen[T | Aside | None]):
    """A dialog answering one engine request. Returns the answer, an Aside, or None (hidden)."""

    CSS_PATH = DIALOGS_CSS
    # The widget a dialog's compose marks FIRST has the focus from the first frame. A
    # focus() in on_mount lands a frame later, after Textual has focused the first
    # focusable widget (the scrolling body): keys typed in between went there, and a
    # typed name's 't' or 'r' even put the dialog aside.
    AUTO_FOCUS = f".{FIRST}"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "later", "Later", id="request.later",
                tooltip="Hide this; the engine keeps waiting (Enter brings it back)"),
        Binding("t", "aside('timeline')", "Timeline", id="request.timeline",
                tooltip="Look at the timeline first; this comes back after"),
        Binding("r", "aside('record')", "Record", id="request.record",
                tooltip="Look at the record first; this comes back after"),
        Binding("question_mark,f1", "help", "Help", id="request.help",
                tooltip="Every key of this dialog"),
        Binding("pagedown", "scroll_body(1)", "Scroll", show=False, id="request.pagedown"),
        Binding("pageup", "scroll_body(-1)", "Scroll up", show=False, id="request.pageup"),
        # Reached only when the focused widget has no use for them (a name field, a
        # button): the plan's last warnings must be reachable without Tab.
        Binding("down", "scroll_body(2)", "Scroll", show=False, id="request.down"),
        Binding("up", "scroll_body(-2)", "Scroll up", show=False, id="request.up"),
    ]

    def __init__(self) -> None:
        super().__init__(classes="dialog-screen")

    def action_later(self) -> None:
        self.dismiss(None)

    def action_aside(self, where: Aside) -> None:
        self.dismiss(where)

    def action_help(self) -> None:
        from rescind.tui.modals.help import HelpModal

        self.app.push_screen(HelpModal(self))

    def action_scroll_body(self, direction: int) -> None:
        """±1 a page, ±2 a line."""
        body = self.query(".dialog-body").first(VerticalScroll)
        if abs(direction) == 2:
            body.scroll_relative(y=direction // 2, animate=False, immediate=True)
        elif direction > 0:
            body.scroll_page_down(animate=False)
        else:
            body.scroll_page_up(animate=False)
