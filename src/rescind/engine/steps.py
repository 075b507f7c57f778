"""Running one step: its condition, its kind, and the responder's choice when it fails.

Action steps are ``engine/action_steps.py``; manual, prompt and note steps are
here. A failure is shown with every secret value redacted and ends in the
responder's choice: retry, skip (with a reason) or abort.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rescind.engine.action_steps import run_action
from rescind.engine.responder import Aborted, EventKind, StepState, StepStatus
from rescind.errors import ErrorKind, RescindError
from rescind.redaction import REDACTED
from rescind.runbook.conditions import compile_condition
from rescind.runbook.model import ActionStep, ManualStep, NoteStep, PromptStep

if TYPE_CHECKING:
    from rescind.engine.session import IncidentSession

AnyStep = ActionStep | ManualStep | PromptStep | NoteStep


async def run_step(session: IncidentSession, step: AnyStep, state: StepState) -> None:
    session._append("step.start", {"step": step.id, "phase": state.phase,
                                   "kind": state.kind, "title": state.title})
    while True:
        session._set_status(state, StepStatus.RUNNING)
        try:
            if step.when and not compile_condition(step.when).evaluate(
                    session.inputs, session._steps_view()):
                session._skip(state, f"condition is false: {step.when}")
            elif isinstance(step, ManualStep):
                await _manual(session, step, state)
            elif isinstance(step, PromptStep):
                await _prompt(session, step, state)
            elif isinstance(step, NoteStep):
                text = session._text(step.note)
                state.text = text
                session._append("note", {"step": step.id, "text": text})
                session._finish(state, {})
            else:
                await run_action(session, step, state)
            return
        except RescindError as caught:
            exc = session._secrets.shown_error(caught)
            session.in_flight = False
            state.error = exc.message
            session._set_status(state, StepStatus.DECLINED if exc.kind is ErrorKind.DECLINED
                                else StepStatus.FAILED)
            session._append("step.failed", {"step": step.id, "error": str(exc),
                                            "kind": exc.kind})
            choice = await session.responder.on_failure(state, exc)
            session._append("step.choice", {"step": step.id, "choice": choice.choice,
                                            "reason": choice.reason})
            if choice.choice == "retry":
                state.error = None
                continue
            if choice.choice == "skip":
                session._skip(state, choice.reason or "skipped by the responder")
                return
            raise Aborted(choice.reason or f"aborted at step {step.id}") from caught


async def _manual(session: IncidentSession, step: ManualStep, state: StepState) -> None:
    state.text = session._text(step.manual)
    session._set_status(state, StepStatus.WAITING)
    note = await session.responder.acknowledge(state)
    state.note = note
    session._append("manual.ack", {"step": step.id, "text": state.text, "note": note})
    session._finish(state, {"note": note or ""})


async def _prompt(session: IncidentSession, step: PromptStep, state: StepState) -> None:
    state.text = session._text(step.prompt)
    session._set_status(state, StepStatus.WAITING)
    while True:
        answer = await session.responder.answer(state, step.default, step.secret)
        if step.pattern and not re.fullmatch(step.pattern, answer):
            session._emit(EventKind.WARNING, message=f"the answer must match {step.pattern}")
            continue
        break
    if step.secret and answer:
        session._secrets.add(answer)
    session._append("prompt.answer", {"step": step.id, "question": state.text,
                                      "answer": REDACTED if step.secret else answer})
    # A secret answer stays in memory for later steps and is never journaled.
    session._finish(state, {"answer": answer},
                    secret_keys={"answer"} if step.secret else set())
