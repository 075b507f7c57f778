"""Pull the timeline again during an incident: the palette's "Pull timeline".

The runbook's finished timeline step names the source and whose history; a new
pull covers from a little before the last window ended (audit logs arrive minutes
late) until now. Read-only, and journaled as ``timeline.pull_again``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from rescind.actions import registry
from rescind.actions.base import Result
from rescind.engine.action_steps import call, context
from rescind.engine.responder import StepStatus
from rescind.errors import UsageError
from rescind.runbook.model import ActionStep
from rescind.runbook.refs import resolve

if TYPE_CHECKING:
    from rescind.engine.session import IncidentSession

PULL_ACTION = "timeline.pull"
PULL_OVERLAP = timedelta(minutes=15)


async def pull_again(session: IncidentSession) -> dict[str, Any]:
    """The pull's outputs (``events``, ``new_events``...)."""
    step = next((s for s in session.steps if s.action == PULL_ACTION
                 and s.status is StepStatus.DONE), None)
    if step is None:
        raise UsageError("the timeline has not been pulled yet",
                         fix="wait for the runbook's timeline step to finish")
    if session.in_flight:
        raise UsageError("an action is in flight", fix="pull again once it is done")
    definition = session._defs[step.id]
    assert isinstance(definition, ActionStep)
    action_cls = registry.get(PULL_ACTION)
    if action_cls is None:
        raise UsageError(f"no {PULL_ACTION} action in this version of rescind")
    action = action_cls()
    since = _last_pull_end(session, step.id)
    raw = {**resolve(definition.with_, session.inputs, session.outputs), "until": "now"}
    if since is not None:
        raw["since"] = (since - PULL_OVERLAP).isoformat(timespec="seconds")
    ctx = context(session, step.id)
    plan = await call(action.plan(ctx, action.parse_params(raw), step.id))
    result: Result = await call(action.apply(ctx, plan))
    session._append("timeline.pull_again", {"step": step.id, "since": plan.state["since"],
                                            "until": plan.state["until"],
                                            "outputs": result.outputs})
    return dict(result.outputs)


def _last_pull_end(session: IncidentSession, step_id: str) -> datetime | None:
    """Where the last pull's window ended: its plan, or the last pull again."""
    end = None
    for entry in session.journal_entries():
        if entry.data.get("step") != step_id:
            continue
        if entry.kind == "action.plan":
            end = entry.data.get("plan", {}).get("state", {}).get("until")
        elif entry.kind == "timeline.pull_again":
            end = entry.data.get("until")
    try:
        return datetime.fromisoformat(str(end)) if end else None
    except ValueError:
        return None
