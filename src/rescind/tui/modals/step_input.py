"""Manual steps (one "done" key, an optional note) and prompts (an answer).

Escape hides the dialog without answering: the engine keeps waiting, the step
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
from textual.validation import Regex, ValidationResult, Validator
from textual.widgets import Button, Footer, Input, Static

from rescind.engine.responder import StepState
from rescind.tui.modals.request import FIRST, RequestModal
from rescind.tui.widgets.plain import Plain


class AcknowledgeModal(RequestModal[tuple[str | None]]):
    """Returns (note,) once done. Done has the focus: one Enter marks the step done.

    ``anchor`` is the latest ANCHOR line, shown (with a copy key) for a step that asks
    the responder to paste it somewhere.
    """

    HELP_TITLE = "Manual step"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "note", "Note", id="manual.note", tooltip="Add a note for the record"),
        Binding("a", "copy_anchor", "Copy anchor", id="manual.copy_anchor",
                tooltip="Copy the latest ANCHOR line (OSC 52)"),
    ]

    def __init__(self, step: StepState, anchor: str | None = None) -> None:
        super().__init__()
        self.step = step
        self.anchor_line = anchor

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Plain(f"☐ Manual step: {self.step.title}", classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Plain(self.step.text or self.step.title)
            if self.anchor_line:
                yield Plain(Text.assemble(("latest anchor (a copies it)\n", "dim"),
                                          (self.anchor_line, "bold")), id="manual-anchor")
            yield Input(placeholder="note for the record (optional; Enter: done)", id="note")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Later", id="later")
                yield Button("✓ Done", id="confirm", variant="primary", classes=FIRST)
        yield Footer()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "copy_anchor":
            return self.anchor_line is not None
        return True

    @on(Input.Submitted, "#note")
    def _note_submitted(self) -> None:
        self._confirm()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "confirm":
            self._confirm()
        else:
            self.action_later()

    def action_note(self) -> None:
        self.query_one("#note", Input).focus()

    def action_copy_anchor(self) -> None:
        if self.anchor_line:
            self.app.copy_to_clipboard(self.anchor_line)
            self.notify("Anchor line copied (OSC 52); paste it into the ticket.",
                        title="Copied")

    def _confirm(self) -> None:
        note = self.query_one("#note", Input).value.strip()
        self.dismiss((note or None,))


class AnswerModal(RequestModal[str]):
    """Returns the answer; None when hidden. A secret answer is masked and never shown."""

    HELP_TITLE = "Question"

    def __init__(self, step: StepState, *, default: str | None, secret: bool,
                 pattern: str | None, refusal: str | None = None) -> None:
        super().__init__()
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
                        valid_empty=bool(self.default), classes=FIRST)
            yield Plain("", id="answer-problem", classes="dialog-hint -bad")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Later", id="later")
                yield Button("Answer", id="confirm", variant="primary")
        yield Footer()

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
