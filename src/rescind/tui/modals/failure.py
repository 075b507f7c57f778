"""A failed step: retry, skip (with a reason, journaled) or abort the incident."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input

from rescind.engine.responder import FailureChoice, StepState
from rescind.errors import ActionError
from rescind.tui.widgets.plain import Plain


class FailureModal(ModalScreen[FailureChoice | None]):
    """Returns the choice; None when hidden for later (the engine keeps waiting)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "later", "Later", id="failure.later",
                tooltip="Hide this; the step keeps waiting (Enter brings it back)"),
    ]

    def __init__(self, step: StepState, error: ActionError) -> None:
        super().__init__(classes="dialog-screen")
        self.step = step
        self.error = error

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog -error"):
            yield Plain(f"Step failed: {self.step.title}", classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                body = Text()
                body.append(f"{self.error.message}\n", style="bold")
                body.append(f"kind: {self.error.kind}", style="dim")
                if self.error.fix:
                    body.append(f"\nfix: {self.error.fix}")
                if not self.error.retryable:
                    body.append("\nRetrying will not help: skip it with a reason, or abort.",
                                style="yellow")
                yield Plain(body)
            yield Input(placeholder="reason (needed to skip or abort; journaled)", id="reason")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Retry", id="retry", variant="primary",
                             disabled=not self.error.retryable)
                yield Button("Skip", id="skip", disabled=True)
                yield Button("Abort incident", id="abort", variant="error", disabled=True)

    def on_mount(self) -> None:
        self.query_one("#retry" if self.error.retryable else "#reason").focus()

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

    def action_later(self) -> None:
        self.dismiss(None)
