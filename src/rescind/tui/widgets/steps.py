"""The step list: every step under its phase, with a status mark that reads without colour."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets.option_list import Option

from rescind.engine.responder import StepState, StepStatus
from rescind.tui.widgets.lists import KeyedOptionList

STATUS_MARK: dict[StepStatus, tuple[str, str]] = {
    StepStatus.PENDING: ("·", "dim"),
    StepStatus.RUNNING: ("▶", "bold cyan"),
    StepStatus.WAITING: ("?", "bold yellow"),
    StepStatus.DONE: ("✓", "green"),
    StepStatus.SKIPPED: ("↷", "magenta"),
    StepStatus.FAILED: ("✗", "bold red"),
    StepStatus.DECLINED: ("⊘", "bold magenta"),
}
KIND_WORD = {"action": "", "manual": "manual", "prompt": "question", "note": "note"}


def step_mark(step: StepState) -> tuple[str, str]:
    """The status glyph; a manual step reads as a box to tick (☐) until it is done (✓)."""
    if step.kind == "manual" and step.status in (StepStatus.PENDING, StepStatus.WAITING):
        return "☐", STATUS_MARK[step.status][1]
    return STATUS_MARK[step.status]


def step_prompt(step: StepState) -> Text:
    mark, style = step_mark(step)
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{mark} ", style=style)
    text.append(step.title, style="bold" if step.status is StepStatus.WAITING else "")
    kind = KIND_WORD.get(step.kind, step.kind)
    if kind:
        text.append(f"  {kind}", style="dim")
    return text


class StepList(KeyedOptionList):
    HELP_TITLE = "Step list"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select", "Respond", id="steps.respond",
                tooltip="Open what the engine waits for (or the step's detail)"),
    ]

    def __init__(self) -> None:
        super().__init__(id="step-list")
        self._steps: dict[str, StepState] = {}

    def load(self, steps: list[StepState]) -> None:
        self._steps = {s.id: s for s in steps}
        options: list[Option] = []
        phase = None
        for step in steps:
            if step.phase != phase:
                phase = step.phase
                options.append(Option(Text(phase.upper(), style="bold"), disabled=True))
            options.append(Option(step_prompt(step), id=step.id))
        self.set_options(options)

    def refresh_step(self, step_id: str) -> None:
        step = self._steps.get(step_id)
        if step is not None:
            self.replace_option_prompt(step_id, step_prompt(step))

    def select_step(self, step_id: str) -> None:
        self.highlighted = self.get_option_index(step_id)

    @property
    def selected_step(self) -> StepState | None:
        option = self.highlighted_option
        return self._steps.get(option.id) if option is not None and option.id else None
