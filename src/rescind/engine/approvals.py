"""Asking for a plan's approval and checking the answer against the policy.

Every answer is journaled (``action.approval``: who, which plan hash, which policy);
a wrong typed name or an untrusted token is refused with a warning and asked again,
a decline ends the step as ``declined``. The policy itself is ``engine/policy.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rescind.actions.base import Plan
from rescind.engine.notifying import request_approval
from rescind.engine.policy import trusted_approvers
from rescind.engine.responder import (
    Approval,
    ApprovalRequest,
    ApprovalResponse,
    EventKind,
    StepState,
    StepStatus,
)
from rescind.errors import ActionError, ApprovalRefused, ErrorKind

if TYPE_CHECKING:
    from rescind.engine.session import IncidentSession


async def approve(session: IncidentSession, state: StepState, plan: Plan, policy: Approval,
                  plan_file: Path) -> None:
    if policy is Approval.NONE:
        return
    await request_approval(session, state, plan, plan_file)
    expected = plan.targets or [plan.step_id]
    request = ApprovalRequest(step=state, plan=plan, policy=policy, plan_file=plan_file,
                              expected_names=expected)
    while True:
        session._set_status(state, StepStatus.WAITING)
        entry: dict[str, Any] = {"step": state.id, "plan_hash": plan.digest,
                                 "policy": policy.value, "by": session._responder_identity()}
        # Exercise inject: whoever must sign this off cannot be reached (docs/exercises.md).
        unreachable = session.exercise.take_unreachable() if session.exercise else None
        if unreachable is not None:
            reason = f"timed out: the approver did not answer (exercise inject {unreachable})"
            session._append("action.approval", entry | {
                "approved": False, "reason": reason, "timed_out": True, "inject": unreachable})
            raise ActionError(f"{policy.value} approval {reason}", kind=ErrorKind.ERROR,
                              fix="retry to ask an approver again, or skip with a reason")
        response = await session.responder.approve(request)
        if not response.approved:
            session._append("action.approval", entry | {
                "approved": False, "reason": response.reason or "declined"})
            raise ActionError("the responder declined the plan", kind=ErrorKind.DECLINED,
                              fix="retry to re-plan, or skip with a reason")
        try:
            entry |= _check(session, policy, response, plan, plan_file, expected)
        except ApprovalRefused as exc:
            session._append("action.approval", entry | {"approved": False,
                                                        "reason": exc.message})
            session._emit(EventKind.WARNING, message=exc.message)
            continue
        session._append("action.approval", entry | {"approved": True})
        session._set_status(state, StepStatus.RUNNING)
        return


def _check(session: IncidentSession, policy: Approval, response: ApprovalResponse, plan: Plan,
           plan_file: Path, expected: list[str]) -> dict[str, Any]:
    """What the approval entry records beyond who approved; ApprovalRefused if it fails."""
    if policy is Approval.TYPE_NAME:
        if (response.typed or "").strip() not in expected:
            raise ApprovalRefused(
                f"typed name does not match; type one of: {', '.join(expected)}")
        return {"typed": response.typed}
    if policy is Approval.TWO_PERSON:
        from rescind.record.approval import check_approval, store_approval

        if not response.token:
            raise ApprovalRefused("a two-person approval needs a token from "
                                  f"`rescind approve {plan_file}`")
        trusted = trusted_approvers(session.mode, session.settings)
        info = check_approval(response.token, plan_file.read_bytes(),
                              requester_fingerprint=session.signer.fingerprint,
                              trusted=trusted)
        token_path = store_approval(session.incident_dir, plan.step_id, plan.digest, info)
        checked = (f"key in {trusted}" if trusted is not None else
                   "exercise default: any second key (no approvers list configured)")
        if trusted is None:
            session._emit(EventKind.WARNING,
                          message=f"exercise: the approval by {info.fingerprint} was "
                                  "accepted from any second key; live mode needs --approvers")
        return {"approver": {"fingerprint": info.fingerprint,
                             "public_key_line": info.public_key_line,
                             "principal": info.principal},
                "approver_trust": checked,
                "token": str(token_path.relative_to(session.incident_dir))}
    return {}
