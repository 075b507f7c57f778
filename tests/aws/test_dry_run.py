"""Dry-run: every action plans and applies with the guard installed, and the server-side
request log shows that no mutating request reached the simulated account."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from rescind.actions import registry
from rescind.actions.aws_iam_keys import DeactivateAccessKey, DeleteAccessKey
from rescind.actions.base import ActionContext, Change
from rescind.engine.action_steps import with_overlay_notes
from rescind.errors import ActionError
from rescind.modes import Mode
from rescind.redaction import REDACTED
from rescind.sandbox.aws import AwsSandbox
from tests.aws.cases import MUTATING, READ_ONLY, Case
from tests.aws.conftest import LEAKED_KEY, Recorder, RequestLog
from tests.aws.state import snapshot


@pytest.mark.parametrize("case", MUTATING, ids=lambda c: c.id)
async def test_dry_run_sends_no_mutating_request(case: Case, sandbox: AwsSandbox,
                                                 make_ctx: Callable[..., ActionContext],
                                                 recorder: Recorder,
                                                 requests_log: RequestLog) -> None:
    (case.dry_setup or case.setup)(sandbox)
    before = snapshot(sandbox)
    ctx = make_ctx(Mode.DRY_RUN)
    cls = registry.get(case.action)
    assert cls is not None
    action = cls()
    plan = await action.plan(ctx, action.parse_params(case.params), "step")
    result = await action.apply(ctx, plan)
    served = requests_log.operations()
    assert served, "the plan's reads reach the server"
    assert requests_log.mutating() == [], served
    assert [b.operation for b in recorder.blocked] == case.blocked
    assert all(b.provider == "aws" for b in recorder.blocked)
    assert snapshot(sandbox) == before
    # docs/aws.md lists each action's IAM permissions from this attribute: keep it exact.
    used = set(served) | {b.operation for b in recorder.blocked}
    assert used <= set(cls.permissions), used - set(cls.permissions)
    for call in recorder.blocked:
        assert call.describe().startswith(f"would call {call.operation} ")
    for name in case.secret:
        # Nothing was changed, so no value is shown; the blocked call hides the new one.
        assert name not in result.outputs
        text = json.dumps([b.params for b in recorder.blocked])
        assert REDACTED in text


async def test_a_later_plan_reads_an_earlier_blocked_change_and_says_so(
        make_ctx: Callable[..., ActionContext], recorder: Recorder, requests_log: RequestLog,
        iam: Any) -> None:
    ctx = make_ctx(Mode.DRY_RUN)
    deactivate, delete = DeactivateAccessKey(), DeleteAccessKey()
    key = {"access_key_id": LEAKED_KEY}
    with pytest.raises(ActionError, match="refusing to delete an active key"):
        await delete.plan(ctx, delete.parse_params(key), "delete_key")
    planned = await deactivate.plan(ctx, deactivate.parse_params(key), "deactivate")
    await deactivate.apply(ctx, planned)
    ctx.overlay.record("deactivate", planned.changes)  # as the engine does once blocked

    later = replace(ctx, overlay=ctx.overlay.view())  # the next step's context
    plan = with_overlay_notes(
        await delete.plan(later, delete.parse_params(key), "delete_key"), later)
    assert plan.changes == [Change(target=LEAKED_KEY, field="access key", before="Inactive",
                                   after="deleted")]
    assert plan.warnings[-1] == (f"{LEAKED_KEY}: Inactive after step deactivate, not applied "
                                 "in this dry-run (its status still reads Active)")
    await delete.apply(later, plan)  # its drift check reads through the overlay too
    assert [b.operation for b in recorder.blocked] == ["iam:UpdateAccessKey",
                                                        "iam:DeleteAccessKey"]
    assert requests_log.mutating() == []
    keys = iam.list_access_keys(UserName="deploy-bot")["AccessKeyMetadata"]
    assert {k["AccessKeyId"]: k["Status"] for k in keys}[LEAKED_KEY] == "Active"


@pytest.mark.parametrize(("case_id", "name", "params"), READ_ONLY, ids=[c[0] for c in READ_ONLY])
async def test_read_only_actions_work_in_dry_run(case_id: str, name: str,
                                                 params: dict[str, Any], sandbox: AwsSandbox,
                                                 make_ctx: Callable[..., ActionContext],
                                                 recorder: Recorder,
                                                 requests_log: RequestLog) -> None:
    cls = registry.get(name)
    assert cls is not None
    action = cls()
    ctx = make_ctx(Mode.DRY_RUN)
    plan = await action.plan(ctx, action.parse_params(params), "s")
    live = await action.apply(ctx, plan)
    assert live.outputs
    assert recorder.blocked == []
    assert requests_log.operations() and requests_log.mutating() == []
    used = set(requests_log.operations())
    assert used <= set(cls.permissions), used - set(cls.permissions)


def test_every_registered_aws_action_has_a_dry_run_case() -> None:
    covered = {c.action for c in MUTATING} | {name for _, name, _ in READ_ONLY} | {
        "aws.iam.find_persistence",  # tests/aws/test_persistence.py
        "timeline.pull",  # tests/aws/test_timeline_pull.py
    }
    aws_actions = {cls.name for cls in registry.all_actions()
                   if "aws" in cls.providers}
    assert aws_actions <= covered, aws_actions - covered
