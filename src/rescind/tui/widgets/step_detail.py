"""The selected step: what it is, its plan as before → after, progress, error, outputs."""

from __future__ import annotations

import json

from rich.console import Group, RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import ProgressBar, Static

from rescind.engine.responder import StepState, StepStatus
from rescind.tui.widgets.plain import Plain
from rescind.tui.widgets.plan_view import render_plan
from rescind.tui.widgets.steps import step_mark

_WAITING_FOR = {"acknowledge": "you to mark it done", "answer": "an answer",
                "approve": "your approval of the plan", "failure": "retry, skip or abort"}


class StepDetail(VerticalScroll, can_focus=True):
    HELP_TITLE = "Step detail"

    def __init__(self) -> None:
        super().__init__(id="step-detail")
        self.step: StepState | None = None
        self.waiting: str | None = None  # request kind when this step waits for the responder

    def compose(self) -> ComposeResult:
        yield Plain("", id="detail-head")
        yield Plain("", id="detail-call", classes="call-to-action")
        yield ProgressBar(id="detail-progress", show_eta=False)
        yield Plain("", id="detail-progress-text", classes="dim")
        yield Plain("", id="detail-body")

    def on_mount(self) -> None:
        self._set_progress_visible(False)

    def show_step(self, step: StepState | None, waiting: str | None = None,
                  anchor: str | None = None) -> None:
        """``anchor``: the latest ANCHOR line, shown in a step that asks for it."""
        changed = step is not self.step
        self.step = step
        self.waiting = waiting
        head = self.query_one("#detail-head", Static)
        body = self.query_one("#detail-body", Static)
        call = self.query_one("#detail-call", Static)
        if step is None:
            head.update("Select a step to see its detail.")
            body.update("")
            call.display = False
            return
        mark, style = step_mark(step)
        head.update(Text.assemble((step.title, "bold"), "\n",
                                  (f"{mark} {step.status.value}", style),
                                  (f" · {step.kind} · phase {step.phase}", "dim"),
                                  (f" · {step.action}" if step.action else "", "dim")))
        call.display = waiting is not None
        if waiting is not None:
            call.update(f"Waiting for {_WAITING_FOR.get(waiting, 'you')} — press Enter")
        body.update(self._body(step, anchor))
        if changed or step.status is not StepStatus.RUNNING:
            self._set_progress_visible(False)

    def show_progress(self, done: int, total: int, message: str) -> None:
        self._set_progress_visible(True)
        bar = self.query_one("#detail-progress", ProgressBar)
        bar.update(total=total or None, progress=done)
        self.query_one("#detail-progress-text", Static).update(message)

    def _set_progress_visible(self, visible: bool) -> None:
        self.query_one("#detail-progress").display = visible
        self.query_one("#detail-progress-text").display = visible

    def _body(self, step: StepState, anchor: str | None) -> RenderableType:
        parts: list[RenderableType] = []
        if step.text and not (step.plan and step.text == step.plan.summary):
            parts.append(Text(step.text))
        if anchor and "anchor" in step.text.lower():
            parts.append(Text.assemble(("\nlatest anchor (a copies it)\n", "dim"),
                                       (anchor, "bold")))
        if step.plan is not None:
            parts.append(render_plan(step.plan))
        if step.error:
            parts.append(Text(f"\n✗ {step.error}", style="bold red"))
        if step.note:
            parts.append(Text(f"\nnote: {step.note}", style="italic"))
        if step.outputs:
            parts.append(Text("\nOutputs", style="bold"))
            for key, value in step.outputs.items():
                shown = value if isinstance(value, str) else json.dumps(value, default=str)
                parts.append(Text(f"  {key}: {shown}"))
        return Group(*parts)
