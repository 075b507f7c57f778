"""Approval policy by risk (docs/architecture.md, "Approval policy")."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rescind.actions.base import Plan, Risk
from rescind.engine.responder import Approval
from rescind.errors import UsageError
from rescind.modes import Mode
from rescind.runbook.model import ActionStep, Runbook

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


APPROVERS_FIX = ("pass --approvers FILE: an allowed_signers file listing the keys your team "
                 "trusts to approve (each approver's `rescind keys show` line), or set "
                 "`approvers` in the settings")


def trusted_approvers(mode: Mode, settings: Mapping[str, Any]) -> Path | None:
    """The allowed_signers file a two-person approval's second key must be in.

    Live mode has no default: a key made on the spot must not count as a second
    person. Exercise mode accepts any other key when none is configured (the
    simulated approver's), and says so where the approval is recorded.
    """
    value = settings.get("approvers")
    if value:
        path = Path(str(value))
        if not path.is_file():
            raise UsageError(f"the approvers file {path} does not exist", fix=APPROVERS_FIX)
        return path
    if mode is Mode.LIVE:
        raise UsageError("a two-person approval in live mode needs a list of trusted "
                         "approvers, and none is configured", fix=APPROVERS_FIX)
    return None


def require_approvers(runbook: Runbook, mode: Mode, settings: Mapping[str, Any]) -> None:
    """Refuse a live incident whose runbook has critical steps but no trusted approvers,
    before anything is created, rather than at the approval itself. (A plan that
    becomes critical only at run time, e.g. too many targets, is refused then.)"""
    from rescind.actions import registry

    critical_steps = [
        step.id for _, step in runbook.steps()
        if isinstance(step, ActionStep) and (cls := registry.get(step.action)) is not None
        and cls.risk is Risk.CRITICAL]
    if critical_steps and mode is Mode.LIVE and not settings.get("approvers"):
        raise UsageError(f"step(s) {', '.join(critical_steps)} need a two-person approval in "
                         "live mode, and no trusted approvers are configured",
                         fix=APPROVERS_FIX)
    if critical_steps:
        trusted_approvers(mode, settings)
