"""Dry-run: every action plans and applies with the guard installed, and the server-side
request log shows that no mutating request reached the simulated account."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from rescind.actions import registry
from rescind.actions.base import ActionContext
from rescind.modes import Mode
from rescind.redaction import REDACTED
from rescind.sandbox.aws import AwsSandbox
from tests.aws.cases import MUTATING, READ_ONLY, Case
from tests.aws.conftest import Recorder, RequestLog
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
