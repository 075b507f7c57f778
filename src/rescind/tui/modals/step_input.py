"""Manual steps (a tick and a note) and prompts (an answer).

Escape hides the modal without answering: the engine keeps waiting, the step
stays marked "waiting for you", and Enter on the incident screen brings it back.
"""

from __future__ import annotations

import re
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.validation import Regex, ValidationResult, Validator
from textual.widgets import Button, Checkbox, Input, Static

from rescind.engine.responder import StepState
from rescind.tui.widgets.plain import Plain

_LATER = Binding("escape", "later", "Later", id="step.later",
                 tooltip="Hide this; the step keeps waiting (Enter brings it back)")


class AcknowledgeModal(ModalScreen[tuple[str | None] | None]):
    """Returns (note,) once ticked; None when hidden for later."""

    BINDINGS: ClassVar[list[BindingType]] = [_LATER]

    def __init__(self, step: StepState) -> None:
        super().__init__(classes="dialog-screen")
        self.step = step

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Plain(f"Manual step: {self.step.title}", classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Plain(self.step.text or self.step.title)
            yield Checkbox("I have done this", id="done")
            yield Input(placeholder="note for the record (optional)", id="note")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Later", id="later")
                yield Button("Done", id="confirm", variant="primary", disabled=True)

    def on_mount(self) -> None:
        self.query_one("#done", Checkbox).focus()

    @on(Checkbox.Changed, "#done")
    def _ticked(self, event: Checkbox.Changed) -> None:
        self.query_one("#confirm", Button).disabled = not event.value

    @on(Input.Submitted, "#note")
    def _note_submitted(self) -> None:
        self._confirm()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "confirm":
            self._confirm()
        else:
            self.action_later()

    def _confirm(self) -> None:
        if not self.query_one("#done", Checkbox).value:
            self.notify("Tick “I have done this” first.", severity="warning")
            return
        note = self.query_one("#note", Input).value.strip()
        self.dismiss((note or None,))

    def action_later(self) -> None:
        self.dismiss(None)


class AnswerModal(ModalScreen[str | None]):
    """Returns the answer; None when hidden. A secret answer is masked and never shown."""

    BINDINGS: ClassVar[list[BindingType]] = [_LATER]

    def __init__(self, step: StepState, *, default: str | None, secret: bool,
                 pattern: str | None, refusal: str | None = None) -> None:
        super().__init__(classes="dialog-screen")
        self.step = step
        self.default = default
        self.secret = secret
        self.pattern = pattern
        self.refusal = refusal

    def compose(self) -> ComposeResult:
        validators: list[Validator] = []
        if self.pattern:
            validators.append(Regex(f"(?:{self.pattern})\\Z",
                                    failure_description=f"must match {self.pattern}"))
        with Vertical(classes="dialog"):
            yield Plain(f"Question: {self.step.title}", classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Plain(self.step.text or self.step.title)
            if self.refusal:
                yield Plain(Text(f"✗ {self.refusal}", style="bold"), classes="refusal")
            yield Input(value="" if self.secret else (self.default or ""),
                        placeholder="answer" + (" (hidden)" if self.secret else ""),
                        password=self.secret, validators=validators, id="answer",
                        valid_empty=bool(self.default))
            yield Plain("", id="answer-problem", classes="dialog-hint -bad")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Later", id="later")
                yield Button("Answer", id="confirm", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#answer", Input).focus()

    @on(Input.Changed, "#answer")
    def _changed(self, event: Input.Changed) -> None:
        self._show(event.validation_result)

    def _show(self, result: ValidationResult | None) -> None:
        problem = "" if result is None or result.is_valid else \
            "; ".join(result.failure_descriptions)
        self.query_one("#answer-problem", Static).update(problem)

    @on(Input.Submitted, "#answer")
    def _submitted(self) -> None:
        self._confirm()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "confirm":
            self._confirm()
        else:
            self.action_later()

    def _confirm(self) -> None:
        field = self.query_one("#answer", Input)
        value = field.value or (self.default or "")
        if self.pattern and not re.fullmatch(self.pattern, value):
            self._show(field.validate(value))
            return
        if not value:
            self.query_one("#answer-problem", Static).update("an answer is required")
            return
        field.value = ""  # a secret answer must not linger in the widget
        self.dismiss(value)

    def action_later(self) -> None:
        self.dismiss(None)
