"""The form that starts an incident, generated from the runbook's input definitions.

Each field is validated as the responder types (required, pattern, number);
secret inputs are masked; Start stays disabled until every field is valid.
Start first reads the settings and asks every provider the runbook uses who
rescind would act as (read-only, as `rescind config check` does): a missing
credential refuses the start here, naming the fix, rather than at the first cloud
step. Live mode asks once more, naming the account, since it changes it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.validation import Function, Integer, Number, Regex, ValidationResult, Validator
from textual.widgets import Button, Checkbox, Input, RadioButton, RadioSet, Select, Static

from rescind.engine.exercise import scenario_inputs
from rescind.modes import Mode
from rescind.runbook.model import InputSpec, Runbook
from rescind.tui.modals import DIALOGS_CSS
from rescind.tui.modals.confirm import ConfirmModal
from rescind.tui.widgets.plain import Plain
from rescind.tui.workers import ReportsFailures

if TYPE_CHECKING:
    from rescind.engine.identity import Identity

# Blocking (reads settings, calls the clouds): run from a thread.
CredentialCheck = Callable[[Mode], Sequence["Identity"]]
CHECK_GROUP = "form-credentials"

_MODES = (
    (Mode.EXERCISE, "EXERCISE — simulated cloud, nothing real changes"),
    (Mode.DRY_RUN, "DRY-RUN — real accounts, read-only; changes are blocked"),
    (Mode.LIVE, "LIVE — real accounts; approved changes are made"),
)


@dataclass
class StartChoice:
    runbook: Path
    mode: Mode
    inputs: dict[str, str]


def _validators(spec: InputSpec) -> list[Validator]:
    validators: list[Validator] = []
    if spec.required:
        validators.append(Function(lambda v: bool(v.strip()), "required"))
    if spec.type == "integer":
        validators.append(Integer(failure_description="a whole number"))
    elif spec.type == "number":
        validators.append(Number(failure_description="a number"))
    if spec.pattern:
        validators.append(Regex(f"(?:{spec.pattern})\\Z",
                                failure_description=f"must match {spec.pattern}"))
    return validators


class InputsForm(ReportsFailures, ModalScreen[StartChoice | None]):
    CSS_PATH = DIALOGS_CSS
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="form.cancel"),
    ]

    def __init__(self, runbook: Runbook, path: Path, *, mode: Mode = Mode.EXERCISE,
                 values: dict[str, str] | None = None, only: set[str] | None = None,
                 fixed_mode: bool = False, check: CredentialCheck | None = None) -> None:
        """``only`` limits the form to those inputs (resuming asks for secrets again);
        ``fixed_mode`` keeps the mode chosen on the command line; ``check`` is asked
        before starting (it raises RescindError when the settings are wrong)."""
        super().__init__(classes="dialog-screen")
        self.runbook = runbook
        self.path = path
        self.mode = mode
        self.values = values or {}
        if mode is Mode.EXERCISE and only is None:
            # An exercise's scenario says which key leaked; players need not know it.
            self.values = scenario_inputs(runbook, path) | self.values
        self.only = only
        self.fixed_mode = fixed_mode or only is not None
        self.check = check
        self.checking = False

    @property
    def specs(self) -> dict[str, InputSpec]:
        return {k: v for k, v in self.runbook.inputs.items()
                if self.only is None or k in self.only}

    def compose(self) -> ComposeResult:
        resuming = self.only is not None
        with Vertical(classes="dialog -wide", id="inputs-form"):
            title = "Resume" if resuming else "Start"
            yield Plain(f"{title}: {self.runbook.title}", classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                if not self.specs:
                    yield Plain("This runbook takes no inputs.", classes="dialog-hint")
                for name, spec in self.specs.items():
                    yield from self._field(name, spec)
                if not self.fixed_mode:
                    yield Plain("Mode", classes="field-label")
                    with RadioSet(id="mode"):
                        for mode, label in _MODES:
                            yield RadioButton(label, value=mode is self.mode, name=mode.value)
            yield Plain("", id="form-check", classes="dialog-hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button(title, id="start", variant="primary")

    def _field(self, name: str, spec: InputSpec) -> ComposeResult:
        need = "required" if spec.required else f"default {spec.default}"
        label = f"{name}  ({spec.type}, {need}{', secret' if spec.secret else ''})"
        yield Plain(label, classes="field-label")
        if spec.description:
            yield Plain(spec.description, classes="dialog-hint")
        value = self.values.get(name, "" if spec.default is None else str(spec.default))
        field_id = f"in-{name}"
        if spec.type == "boolean":
            yield Checkbox(name, value=value.lower() in ("true", "1", "yes"), id=field_id)
        elif spec.choices:
            yield Select([(c, c) for c in spec.choices], value=value or spec.choices[0],
                         allow_blank=False, id=field_id)
        else:
            yield Input(value="" if spec.secret else value, password=spec.secret,
                        placeholder=spec.pattern or spec.type, validators=_validators(spec),
                        valid_empty=not spec.required, id=field_id)
            yield Plain("", id=f"problem-{name}", classes="dialog-hint -bad")

    def on_mount(self) -> None:
        fields = self.query(Input)
        if fields:
            fields.first().focus()
            for field in fields:
                self._show_problem(field, field.validate(field.value))
        self._update_start()

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        self._show_problem(event.input, event.validation_result)
        self._update_start()

    def _show_problem(self, field: Input, result: ValidationResult | None) -> None:
        name = (field.id or "").removeprefix("in-")
        problem = "" if result is None or result.is_valid else \
            "; ".join(result.failure_descriptions)
        self.query_one(f"#problem-{name}", Static).update(problem)

    @on(RadioSet.Changed, "#mode")
    def _mode_changed(self) -> None:
        self._update_start()

    def _problems(self) -> list[str]:
        problems = []
        for name, spec in self.specs.items():
            if spec.type == "boolean" or spec.choices:
                continue
            value = self.query_one(f"#in-{name}", Input).value
            if spec.required and not value.strip():
                problems.append(f"{name} is required")
            elif value and spec.pattern and not re.fullmatch(spec.pattern, value):
                problems.append(f"{name} must match {spec.pattern}")
        return problems

    @property
    def chosen_mode(self) -> Mode:
        if self.fixed_mode:
            return self.mode
        pressed = self.query_one("#mode", RadioSet).pressed_button
        return Mode(pressed.name) if pressed is not None and pressed.name else self.mode

    def _update_start(self) -> None:
        start = self.query_one("#start", Button)
        start.disabled = bool(self._problems()) or self.checking
        live = self.chosen_mode is Mode.LIVE
        start.variant = "error" if live else "primary"
        if self.checking:
            start.label = "Checking…"
        elif self.only is None:
            start.label = "Start LIVE" if live else "Start"

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self._start()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "start":
            self._start()
        else:
            self.action_cancel()

    def _collect(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for name, spec in self.specs.items():
            widget = self.query_one(f"#in-{name}")
            if isinstance(widget, Checkbox):
                values[name] = "true" if widget.value else "false"
            elif isinstance(widget, Select):
                values[name] = str(widget.value)
            elif isinstance(widget, Input) and (widget.value or spec.required):
                values[name] = widget.value
        return values

    def _start(self) -> None:
        problems = self._problems()
        if problems:
            self.notify("; ".join(problems), severity="warning", markup=False)
            return
        if self.checking:
            return
        choice = StartChoice(self.path, self.chosen_mode, self._collect())
        if self.check is None:
            self._confirm(choice, [])
            return
        self._set_checking(True, "reading the settings and checking credentials…")
        self._check_credentials(choice)

    @work(thread=True, exclusive=True, group=CHECK_GROUP, exit_on_error=False)
    def _check_credentials(self, choice: StartChoice) -> None:
        assert self.check is not None
        found = list(self.check(choice.mode))
        self.app.call_from_thread(self._checked, choice, found)

    def _set_checking(self, checking: bool, text: str | Text) -> None:
        self.checking = checking
        self.query_one("#form-check", Static).update(text)
        self._update_start()

    def _checked(self, choice: StartChoice, found: list[Identity]) -> None:
        bad = [who for who in found if not who.ok]
        if bad:
            text = Text("Cannot start: no usable credentials.\n", style="bold red")
            for who in bad:
                text.append(f"  {who.provider}: {who.problem}\n", style="red")
            text.append("Fix them (the settings are read again on Start), or choose "
                        "EXERCISE mode.", style="red")
            self._set_checking(False, text)
            return
        acting = "; ".join(f"{who.provider} {who.account} as {who.principal}" for who in found)
        self._set_checking(False, Text(f"✓ acting as {acting}", style="green")
                           if acting else "")
        self._confirm(choice, found)

    def work_failed(self, group: str, text: str) -> None:
        if group == CHECK_GROUP:
            self._set_checking(False, Text(f"Cannot start: {text}", style="bold red"))

    def _confirm(self, choice: StartChoice, found: Sequence[Identity]) -> None:
        if choice.mode is not Mode.LIVE:
            self.dismiss(choice)
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.dismiss(choice)

        accounts = ", ".join(f"{who.provider} {who.account} as {who.principal}"
                             for who in found)
        self.app.push_screen(ConfirmModal(
            "Start a LIVE incident?",
            "LIVE mode talks to the real accounts" + (f" ({accounts})" if accounts else "")
            + ". Every change still needs your approval of its plan, but approved changes "
            "are real.", yes="Start LIVE"), confirmed)

    def action_cancel(self) -> None:
        self.dismiss(None)
