"""An action step: plan → approve → apply → verify, and the re-check after a crash.

The journal gets the intent before a mutating call and the outcome after; a
checkpoint signs the journal after every mutating action. What is shown, hashed,
signed and journaled is the plan with every secret value redacted; apply alone
gets the real values.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rescind.actions import registry
from rescind.actions.base import ActionContext, Plan, Result
from rescind.engine.approvals import approve
from rescind.engine.policy import required_approval
from rescind.engine.responder import Aborted, EventKind, StepState
from rescind.errors import ActionError, ErrorKind, RescindError
from rescind.modes import Mode
from rescind.runbook.model import ActionStep
from rescind.runbook.refs import resolve

if TYPE_CHECKING:
    from rescind.engine.session import IncidentSession


async def run_action(session: IncidentSession, step: ActionStep, state: StepState) -> None:
    action_cls = registry.get(step.action)
    if action_cls is None:  # validation prevents this unless the registry changed
        raise ActionError(f"unknown action {step.action}", retryable=False)
    action = action_cls()
    raw = resolve(step.with_, session.inputs, session.outputs)
    if step.max_targets is not None:
        raw = {**raw, "max_targets": step.max_targets} if "max_targets" in (
            action.params_model.model_fields) else raw
    try:
        params = action.parse_params(raw)
    except ValueError as exc:
        raise ActionError(f"bad parameters for {step.action}: {exc}", kind=ErrorKind.ERROR,
                          retryable=False) from None
    ctx = context(session, step.id)
    plan = with_overlay_notes(await call(action.plan(ctx, params, step.id)), ctx)
    shown = Plan.model_validate(session._secrets.scrub(plan.model_dump(mode="json"))
                                | {"incident": session.incident_id})
    state.plan = shown
    state.text = shown.summary
    plan_file = write_plan(session.incident_dir, shown)
    session._append("action.plan", {"step": step.id, "action": step.action,
                                    "plan_hash": shown.digest,
                                    "plan": shown.model_dump(mode="json")})
    policy = required_approval(shown, session.mode)
    planned = plan.digest
    await approve(session, state, shown, policy, plan_file)
    if plan.digest != planned or plan_file.read_bytes() != shown.canonical_bytes():
        raise ActionError("the plan changed after it was approved; refusing to apply",
                          kind=ErrorKind.CONFLICT, fix="retry to plan and approve again")
    session.in_flight = plan.mutating
    session._append("action.intent", {"step": step.id, "plan_hash": shown.digest,
                                      "targets": plan.targets})
    result = await call(action.apply(ctx, plan))
    public, secret_outputs = split_outputs(result, action.secret_outputs)
    public = {**plan.outputs, **public}
    session._secrets.add(*secret_outputs.values())
    session._append("action.outcome", {"step": step.id, "plan_hash": shown.digest,
                                       "action": step.action, "targets": plan.targets,
                                       "ok": True, "outputs": public,
                                       "details": result.details, "undo": result.undo})
    session.in_flight = False
    for name, value in secret_outputs.items():
        session._emit(EventKind.SECRET, step=step.id, name=name, value=value)
    if session.mode is Mode.DRY_RUN and plan.mutating:
        # Later plans read the cloud as this approved, blocked plan would have left it.
        session._overlay.record(step.id, plan.changes)
        session._append("action.verify", {"step": step.id, "ok": None,
                                          "detail": "dry-run: no change was made to verify"})
    else:
        verification = await call(action.verify(ctx, plan, result))
        session._append("action.verify", {"step": step.id, "ok": verification.ok,
                                          "detail": verification.detail})
        if not verification.ok:
            raise ActionError(f"verification failed: {verification.detail}",
                              kind=ErrorKind.ERROR)
    if plan.mutating:
        session._checkpoint(f"after {step.id}", step=step.id)
    session._finish(state, {**public, **secret_outputs}, secret_keys=set(secret_outputs))


async def reverify(session: IncidentSession, pending: dict[str, Any]) -> str:
    """An intent without an outcome: find out from the cloud whether it happened.

    Returns what was found, in words, for the resume summary."""
    step_id = pending["step"]
    step = session._defs.get(step_id)
    if not isinstance(step, ActionStep):
        return f"{step_id} is no change of this runbook; it runs again"
    try:
        plan = Plan.model_validate(pending["plan"])
    except ValueError:
        plan = None
    if plan is None or plan.step_id != step_id or plan.action != step.action:
        found = f"the journal names no usable plan for {step_id}'s change; it is planned again"
        session._emit(EventKind.WARNING, message=found)
        return found
    action_cls = registry.get(step.action)
    if action_cls is None:
        return f"{step_id} could not be checked ({step.action} is not installed); it runs again"
    try:
        verification = await call(action_cls().verify(context(session, step_id), plan, None))
    except ActionError as exc:
        # The check itself failed: the step runs again from its plan, which reads
        # the target's state as it is now, and asks for approval again.
        session._append("action.verify", {"step": step_id, "ok": None, "recovered": True,
                                          "detail": f"could not check: {exc.message}"})
        found = (f"could not check whether {step_id} took effect ({exc.message}); "
                 "it is planned again")
        session._emit(EventKind.WARNING, message=found)
        return found
    session._append("action.verify", {"step": step_id, "ok": verification.ok,
                                      "detail": verification.detail, "recovered": True})
    state = session._state(step_id)
    if verification.ok:
        # A signed outcome knows what the apply returned (the key's user, say);
        # without one, what was known at planning is all there is.
        outputs = {**plan.outputs, **pending.get("outputs", {})}
        session._append("action.outcome", {"step": step_id, "plan_hash": plan.digest,
                                           "action": step.action, "targets": plan.targets,
                                           "ok": True, "outputs": outputs,
                                           "recovered": True,
                                           "details": ["confirmed by verify after a crash"]})
        session._checkpoint(f"after {step_id} (recovered)", step=step_id)
        session._finish(state, outputs)
        return f"{step_id} had taken effect ({verification.detail})"
    return f"{step_id} had not taken effect; it is planned again"


def with_overlay_notes(plan: Plan, ctx: ActionContext) -> Plan:
    """The plan, saying which of its reads only the dry-run overlay made true."""
    notes = ctx.overlay.notes
    if not notes:
        return plan
    return plan.model_copy(update={"warnings": [*plan.warnings, *notes]})


def context(session: IncidentSession, step_id: str) -> ActionContext:
    """What an action sees of the incident: journal, progress and evidence for its step."""
    def journal(kind: str, data: dict[str, Any]) -> int:
        return session._append(kind, {"step": step_id, **data})

    def progress(done: int, total: int, message: str) -> None:
        session._emit(EventKind.PROGRESS, step=step_id, done=done, total=total, message=message)

    def evidence(name: str, data: bytes) -> Path:
        from rescind.record.journal import ensure_private_dir, write_private_file

        path = session.incident_dir / "evidence" / name
        ensure_private_dir(path.parent)
        write_private_file(path, data)
        return path

    def notice(kind: str, data: dict[str, Any]) -> None:
        session._emit(EventKind(kind), step=step_id, **data)

    return ActionContext(mode=session.mode, incident_dir=session.incident_dir,
                         providers=session._providers or {}, journal=journal,
                         progress=progress, evidence=evidence, settings=session.settings,
                         holds_secret=lambda text: session._secrets.scrub(text) != text,
                         notice=notice, overlay=session._overlay.view())


def write_plan(incident_dir: Path, plan: Plan) -> Path:
    """The plan's canonical bytes: what a second responder signs with `rescind approve`."""
    from rescind.record.approval import plan_path
    from rescind.record.journal import ensure_private_dir, write_private_file

    path = plan_path(incident_dir, plan.step_id, plan.digest)
    ensure_private_dir(path.parent)
    write_private_file(path, plan.canonical_bytes())
    return path


async def call(awaitable: Any) -> Any:
    """Await an action coroutine, turning an unexpected exception into an ActionError.

    A bug in an action must end the step with a message and a choice, never a
    traceback that loses the responder's place.
    """
    try:
        return await awaitable
    except (ActionError, Aborted, asyncio.CancelledError):
        raise
    except RescindError as exc:
        raise ActionError(exc.message, fix=exc.fix) from exc
    except Exception as exc:
        raise ActionError(f"unexpected {type(exc).__name__}: {exc}",
                          kind=ErrorKind.ERROR) from exc


def split_outputs(result: Result, secret_names: tuple[str, ...]
                  ) -> tuple[dict[str, Any], dict[str, Any]]:
    public = {k: v for k, v in result.outputs.items() if k not in secret_names}
    secret = {k: v for k, v in result.outputs.items() if k in secret_names}
    return public, secret
