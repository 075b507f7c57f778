"""Approval policy by risk (docs/architecture.md, "Approval policy")."""

from __future__ import annotations

from rescind.actions.base import Plan, Risk
from rescind.engine.responder import Approval
from rescind.modes import Mode

_BY_RISK = {
    Risk.LOW: Approval.NONE,
    Risk.MEDIUM: Approval.CONFIRM,
    Risk.HIGH: Approval.TYPE_NAME,
    Risk.CRITICAL: Approval.TWO_PERSON,
}


def required_approval(plan: Plan, mode: Mode) -> Approval:
    """What a responder must do before ``plan`` is applied.

    Read-only plans need nothing. In dry-run the guard makes changes impossible,
    so a plan is only confirmed, whatever its risk: the rehearsal still shows it.
    """
    if not plan.mutating:
        return Approval.NONE
    needed = _BY_RISK[plan.risk]
    if mode is Mode.DRY_RUN and needed is not Approval.NONE:
        return Approval.CONFIRM
    return needed
