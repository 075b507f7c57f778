"""The facilitator's dialog (key f in an exercise): the clock, the injects, and commands.

A tabletop's facilitator runs the exercise from the same app: pause, resume, fire an
inject now, advance the exercise clock, add a note to the record. Each command goes
to the engine (``engine/injects.py``), which journals it; this dialog only shows the
status line and what each command did.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input

from rescind.errors import RescindError
from rescind.tui.modals import DIALOGS_CSS
from rescind.tui.widgets.plain import Plain

if TYPE_CHECKING:
    from rescind.engine.injects import Exercise

HELP = ("Commands: pause · resume · fire ID · advance +5m · note TEXT. "
        "Each is written to the incident's record. Escape closes.")


class FacilitatorModal(ModalScreen[None]):
    """A status line, a command field, and the last command's outcome."""

    CSS_PATH = DIALOGS_CSS
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="facilitator.close"),
    ]

    def __init__(self, exercise: Exercise) -> None:
        super().__init__(classes="dialog-screen")
        self.exercise = exercise

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Plain("Facilitator", classes="dialog-title")
            yield Plain(self.exercise.status(), id="facilitator-status")
            yield Plain(HELP)
            yield Input(placeholder="fire backdoor-key", id="facilitator-command")
            yield Plain("", id="facilitator-outcome")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._run(event.value)

    @work(group="facilitator", exclusive=True, exit_on_error=False)
    async def _run(self, text: str) -> None:
        try:
            outcome = await self.exercise.command(text)
        except RescindError as exc:
            outcome = f"{exc.message} (fix: {exc.fix or '-'})"
        else:
            self.query_one(Input).value = ""
        self.query_one("#facilitator-outcome", Plain).update(outcome)
        self.query_one("#facilitator-status", Plain).update(self.exercise.status())

    def action_close(self) -> None:
        self.dismiss(None)
