"""The dry-run overlay in the engine: a later plan sees what an earlier approved, blocked
change would have made, says so, and still sees it after a resume; live does not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rescind.actions import registry
from rescind.actions.base import ActionContext, Plan
from rescind.engine.responder import ApprovalRequest, ApprovalResponse
from rescind.engine.session import IncidentSession
from rescind.errors import ActionError
from rescind.modes import Mode
from rescind.record.journal import read_entries
from tests.engine.conftest import ScriptedResponder
from tests.engine.test_session import start
from tests.engine.testcloud import DeleteUser, FakeCloud, UserParams

RUNBOOK = """\
id: overlay-test
title: Disable, then delete only a disabled user
phases:
  contain:
    - id: disable
      action: test.disable_user
      with: {user: alice}
  remediate:
    - id: delete
      action: test.delete_disabled_user
      with: {user: alice}
"""

NOTE = "alice: False after step disable, not applied in this dry-run (its enabled still reads True)"


class DeleteDisabledUser(DeleteUser):
    """Deletes a user only once disabled: the precondition an earlier step meets."""

    name = "test.delete_disabled_user"
    description = "Delete a disabled test user."

    async def plan(self, ctx: ActionContext, params: UserParams, step_id: str) -> Plan:
        base = await super().plan(ctx, params, step_id)
        if ctx.overlay.value(params.user, "enabled", base.state["before"]["enabled"]):
            raise ActionError(f"{params.user} is still enabled: refusing to delete",
                              kind="refused", retryable=False)
        return base.model_copy(update={"action": self.name})


@pytest.fixture(autouse=True)
def delete_disabled(identity: None) -> Iterator[None]:
    registry.register(DeleteDisabledUser)
    yield
    registry.unregister(DeleteDisabledUser.name)


def _plans(session: IncidentSession, step: str) -> list[Plan]:
    return [Plan.model_validate(e.data["plan"])
            for e in read_entries(session.incident_dir / "journal.jsonl")
            if e.kind == "action.plan" and e.data["step"] == step]


async def test_a_later_plan_sees_the_earlier_blocked_change_and_says_so(
        tmp_path: Path, cloud: FakeCloud) -> None:
    responder = ScriptedResponder()
    session = await start(tmp_path, cloud, responder, body=RUNBOOK, mode=Mode.DRY_RUN)
    try:
        assert await session.run() == "completed"
    finally:
        session.shutdown()
    assert responder.errors == []
    [plan] = _plans(session, "delete")
    assert plan.warnings == [NOTE]
    assert cloud.load()["users"]["alice"] == {"enabled": True}
    assert set(cloud.load()["calls"]) == {"GetUser"}  # nothing mutating reached the cloud
    blocked = [e.data["operation"] for e in read_entries(session.incident_dir / "journal.jsonl")
               if e.kind == "dryrun.blocked"]
    assert blocked == ["test:DisableUser", "test:DeleteUser"]


async def test_live_reads_only_the_cloud(tmp_path: Path, cloud: FakeCloud) -> None:
    """The same precondition outside dry-run: the change is made, and no plan has a note."""
    responder = ScriptedResponder(approvals=[ApprovalResponse(approved=True),
                                             ApprovalResponse(approved=True, typed="alice")])
    session = await start(tmp_path, cloud, responder, body=RUNBOOK, mode=Mode.EXERCISE)
    try:
        assert await session.run() == "completed", responder.errors
    finally:
        session.shutdown()
    assert "alice" not in cloud.load()["users"]
    assert all(NOTE not in p.warnings for p in _plans(session, "delete"))


class Interrupted(Exception):
    """Stands in for the responder's process dying while a plan awaits approval."""


class InterruptAt(ScriptedResponder):
    async def approve(self, request: ApprovalRequest) -> ApprovalResponse:
        if request.plan.step_id == "delete":
            raise Interrupted
        return await super().approve(request)


async def test_a_resumed_dry_run_still_sees_the_blocked_change(
        tmp_path: Path, cloud: FakeCloud) -> None:
    session = await start(tmp_path, cloud, InterruptAt(), body=RUNBOOK, mode=Mode.DRY_RUN)
    try:
        with pytest.raises(Interrupted):
            await session.run()
    finally:
        session.shutdown()
    responder = ScriptedResponder()
    resumed = await IncidentSession.resume(session.incident_dir, responder,
                                           providers={"testcloud": cloud})
    try:
        assert await resumed.run() == "completed"
    finally:
        resumed.shutdown()
    assert responder.errors == []
    assert [p.warnings for p in _plans(resumed, "delete")] == [[NOTE], [NOTE]]
    assert set(cloud.load()["calls"]) == {"GetUser"}
