"""A failed step: retry, skip (with a reason, journaled) or abort the incident."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Footer, Input

from rescind.engine.responder import FailureChoice, StepState
from rescind.errors import ActionError
from rescind.tui.modals.request import FIRST, RequestModal
from rescind.tui.widgets.plain import Plain


class FailureModal(RequestModal[FailureChoice]):
    """Returns the choice; None when hidden for later (the engine keeps waiting).

    A declined plan comes here too (the engine waits for retry, skip or abort), but
    says "declined": the responder chose it, nothing broke.
    """

    HELP_TITLE = "Failed or declined step"

    def __init__(self, step: StepState, error: ActionError) -> None:
        super().__init__()
        self.step = step
        self.error = error

    @property
    def declined(self) -> bool:
        return self.error.kind == "declined"

    def compose(self) -> ComposeResult:
        title = "Plan declined" if self.declined else "Step failed"
        with Vertical(classes="dialog" if self.declined else "dialog -error"):
            yield Plain(f"{title}: {self.step.title}", classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                body = Text()
                if self.declined:
                    body.append("You declined this plan; the decline is journaled. Retry "
                                "plans it again and asks for approval; skip or abort need "
                                "a reason.", style="bold")
                else:
                    body.append(f"{self.error.message}\n", style="bold")
                    body.append(f"kind: {self.error.kind}", style="dim")
                if self.error.fix and not self.declined:
                    body.append(f"\nfix: {self.error.fix}")
                if not self.error.retryable:
                    body.append("\nRetrying will not help: skip it with a reason, or abort.",
                                style="yellow")
                yield Plain(body)
            yield Input(placeholder="reason (needed to skip or abort; journaled)", id="reason",
                        classes="" if self.error.retryable else FIRST)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Retry", id="retry", variant="primary",
                             disabled=not self.error.retryable,
                             classes=FIRST if self.error.retryable else "")
                yield Button("Skip", id="skip", disabled=True)
                yield Button("Abort incident", id="abort", variant="error", disabled=True)
        yield Footer()

    @on(Input.Changed, "#reason")
    def _reason(self, event: Input.Changed) -> None:
        empty = not event.value.strip()
        self.query_one("#skip", Button).disabled = empty
        self.query_one("#abort", Button).disabled = empty

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        reason = self.query_one("#reason", Input).value.strip()
        if event.button.id == "retry":
            self.dismiss(FailureChoice("retry"))
        elif event.button.id == "skip":
            self.dismiss(FailureChoice("skip", reason))
        elif event.button.id == "abort":
            self.dismiss(FailureChoice("abort", reason))
