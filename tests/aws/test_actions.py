"""Every AWS action against the simulated account: plan reads, apply changes exactly the
plan's targets (read back from moto), verify agrees, undo restores, each target journaled."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rescind.actions import registry
from rescind.actions.base import Action, ActionContext, Risk
from rescind.errors import ActionError
from rescind.modes import Mode
from rescind.sandbox.aws import AwsSandbox
from tests.aws.cases import MUTATING, READ_ONLY, Case, give_rotation_function
from tests.aws.conftest import LEAKED_KEY, SECOND_KEY, Recorder, make_provider
from tests.aws.state import snapshot


def _action(name: str) -> Action[Any]:
    cls = registry.get(name)
    assert cls is not None, name
    return cls()


# An exercise-only case has no live run: live refuses it, which
# test_rotate_secret_needs_a_rotation_function_outside_exercises checks.
@pytest.mark.parametrize(("case", "mode"), [
    pytest.param(case, mode, id=f"{mode}-{case.id}")
    for case in MUTATING for mode in (Mode.LIVE, Mode.EXERCISE)
    if not (case.exercise_only and mode is Mode.LIVE)])
async def test_action_changes_exactly_its_plan(case: Case, mode: Mode, sandbox: AwsSandbox,
                                               make_ctx: Callable[..., ActionContext],
                                               recorder: Recorder) -> None:
    case.setup(sandbox)
    before = snapshot(sandbox)
    ctx = make_ctx(mode)
    action = _action(case.action)
    plan = await action.plan(ctx, action.parse_params(case.params), "step")
    assert snapshot(sandbox) == before, "plan must not change anything"
    assert plan.mutating and plan.changes and plan.targets
    assert plan.risk is action.risk and plan.warnings
    result = await action.apply(ctx, plan)
    after = snapshot(sandbox)
    assert after == case.expect(before, result)
    verification = await action.verify(ctx, plan, result)
    assert verification.ok, verification.detail
    # Each target: intent journaled before its call, outcome after.
    intents, outcomes = recorder.targets("intent"), recorder.targets("outcome")
    assert len(intents) == len(outcomes) == len(case.blocked)
    assert all(entry["ok"] is True for entry in outcomes)
    for intent in intents:
        later = [i for i, (_, d) in enumerate(recorder.entries)
                 if d.get("stage") == "outcome" and d["target"] == intent["target"]]
        assert later and later[0] > recorder.entries.index(("action.target", intent))
    for name in case.secret:
        assert name in action.secret_outputs and name not in action.outputs
        value = result.outputs[name]
        assert value not in repr(recorder.entries) and value not in repr(plan.model_dump())
        assert value not in " ".join(result.details)
    if action.reversible:
        undone = await action.undo(ctx, plan, result)
        assert snapshot(sandbox) == before, "undo must restore the state before"
        assert undone.details
        assert not (await action.verify(ctx, plan, result)).ok


async def test_plan_is_a_noop_when_the_target_is_already_as_planned(
        make_ctx: Callable[..., ActionContext], iam: Any, recorder: Recorder) -> None:
    iam.update_access_key(UserName="deploy-bot", AccessKeyId=LEAKED_KEY, Status="Inactive")
    action = _action("aws.iam.deactivate_access_key")
    ctx = make_ctx()
    plan = await action.plan(ctx, action.parse_params({"access_key_id": LEAKED_KEY}), "s")
    assert plan.changes == [] and plan.targets == []
    assert plan.summary.startswith("Nothing to do")
    result = await action.apply(ctx, plan)
    assert result.outputs["access_key_ids"] == [LEAKED_KEY]
    assert recorder.targets() == []


async def test_delete_refuses_an_active_key_unless_forced(
        make_ctx: Callable[..., ActionContext]) -> None:
    action = _action("aws.iam.delete_access_key")
    with pytest.raises(ActionError) as err:
        await action.plan(make_ctx(), action.parse_params({"access_key_id": LEAKED_KEY}), "s")
    assert err.value.kind == "refused" and "force: true" in (err.value.fix or "")


async def test_deactivate_then_delete_the_leaked_key(
        make_ctx: Callable[..., ActionContext], iam: Any) -> None:
    ctx = make_ctx()
    for name, params in [("aws.iam.deactivate_access_key", {"access_key_id": LEAKED_KEY}),
                         ("aws.iam.delete_access_key", {"access_key_id": LEAKED_KEY})]:
        action = _action(name)
        plan = await action.plan(ctx, action.parse_params(params), "s")
        result = await action.apply(ctx, plan)
        assert (await action.verify(ctx, plan, result)).ok
    keys = iam.list_access_keys(UserName="deploy-bot")["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [SECOND_KEY]


async def test_many_keys_run_concurrently_and_each_is_journaled(
        sandbox: AwsSandbox, tmp_path: Path, recorder: Recorder, iam: Any) -> None:
    keys = []
    for i in range(10):
        iam.create_user(UserName=f"build-{i}")
        keys += [iam.create_access_key(UserName=f"build-{i}")["AccessKey"]["AccessKeyId"]
                 for _ in range(2)]
    sandbox.set_latency(40)  # a real round trip: concurrency must show
    action = _action("aws.iam.deactivate_access_key")
    provider = make_provider(sandbox)  # straight to the sandbox, which counts concurrency
    ctx = ActionContext(mode=Mode.LIVE, incident_dir=tmp_path, providers={"aws": provider},
                        journal=recorder.journal)
    plan = await action.plan(ctx, action.parse_params({"access_key_ids": keys}), "s")
    sandbox.traffic.reset()
    result = await action.apply(ctx, plan)
    assert sandbox.traffic.peak > 4  # requests were in flight together
    assert sorted(d["target"] for d in recorder.targets("outcome")) == sorted(keys)
    assert result.undo and len(result.undo["access_keys"]) == 20
    sandbox.set_latency(0)
    provider.close()
    statuses = {k["AccessKeyId"]: k["Status"] for i in range(10) for k in
                iam.list_access_keys(UserName=f"build-{i}")["AccessKeyMetadata"]}
    assert set(statuses.values()) == {"Inactive"}


async def test_temporary_keys_are_explained(make_ctx: Callable[..., ActionContext]) -> None:
    action = _action("aws.iam.deactivate_access_key")
    with pytest.raises(ActionError) as err:
        await action.plan(make_ctx(), action.parse_params(
            {"access_key_id": "ASIAIOSFODNN7EXAMPLE"}), "s")
    assert "temporary (STS)" in err.value.message
    assert "revoke_sessions" in (err.value.fix or "")


async def test_an_unknown_key_is_not_found(make_ctx: Callable[..., ActionContext]) -> None:
    action = _action("aws.iam.deactivate_access_key")
    with pytest.raises(ActionError) as err:
        await action.plan(make_ctx(), action.parse_params(
            {"access_key_id": "AKIAUNKNOWN00EXAMPLE"}), "s")
    assert err.value.kind == "not-found" and not err.value.retryable


async def test_rotate_secret_needs_a_rotation_function_outside_exercises(
        sandbox: AwsSandbox, make_ctx: Callable[..., ActionContext]) -> None:
    action = _action("aws.secretsmanager.rotate_secret")
    params = action.parse_params({"secret_id": "prod/db-password"})
    with pytest.raises(ActionError) as err:
        await action.plan(make_ctx(Mode.LIVE), params, "s")
    assert "no rotation function" in err.value.message
    assert "put-secret-value" in (err.value.fix or "")
    give_rotation_function(sandbox)
    plan = await action.plan(make_ctx(Mode.LIVE), params, "s")
    assert plan.targets == ["prod/db-password"]


@pytest.mark.parametrize(("case_id", "name", "params"), READ_ONLY, ids=[c[0] for c in READ_ONLY])
async def test_read_only_actions_change_nothing(case_id: str, name: str, params: dict[str, Any],
                                                sandbox: AwsSandbox,
                                                make_ctx: Callable[..., ActionContext]) -> None:
    before = snapshot(sandbox)
    action = _action(name)
    assert not action.mutating and action.risk is Risk.LOW
    ctx = make_ctx()
    plan = await action.plan(ctx, action.parse_params(params), "s")
    result = await action.apply(ctx, plan)
    assert set(result.outputs) == set(action.outputs)
    assert snapshot(sandbox) == before


async def test_describe_principal_reports_the_key_owner(
        make_ctx: Callable[..., ActionContext]) -> None:
    action = _action("aws.iam.describe_principal")
    ctx = make_ctx()
    plan = await action.plan(ctx, action.parse_params({"access_key_id": LEAKED_KEY}), "s")
    out = (await action.apply(ctx, plan)).outputs
    assert out["user"] == "deploy-bot"
    assert out["arn"] == "arn:aws:iam::123456789012:user/service/deploy-bot"
    assert out["access_key_ids"] == [LEAKED_KEY, SECOND_KEY]
    leaked = next(k for k in out["keys"] if k["access_key_id"] == LEAKED_KEY)
    assert leaked["status"] == "Active" and leaked["age_days"] >= 409 and leaked["leaked"]
    assert out["console_access"] is True and out["mfa"] is False
    assert out["groups"] == ["deployers"]
    assert "inline:read-deploy-secret" in out["policies"]
    assert any("without MFA" in w for w in plan.warnings)
    assert any("days old" in w for w in plan.warnings)


async def test_describe_role_lists_who_can_assume_it(
        make_ctx: Callable[..., ActionContext]) -> None:
    action = _action("aws.iam.describe_principal")
    ctx = make_ctx()
    plan = await action.plan(ctx, action.parse_params({"role": "vendor-audit"}), "s")
    out = (await action.apply(ctx, plan)).outputs
    assert out["role"] == "vendor-audit" and out["user"] == ""
    assert out["trusted_principals"] == ["arn:aws:iam::111122223333:root"]
    assert out["attached_policies"] == ["arn:aws:iam::aws:policy/SecurityAudit"]


async def test_check_root(make_ctx: Callable[..., ActionContext]) -> None:
    action = _action("aws.iam.check_root")
    ctx = make_ctx()
    plan = await action.plan(ctx, action.parse_params({}), "s")
    out = (await action.apply(ctx, plan)).outputs
    # moto's root has no keys and (it cannot be set) no MFA.
    assert out == {"root_access_keys": False, "root_mfa": False, "compliant": False,
                   "account": "123456789012"}
    assert any("no MFA" in w for w in plan.warnings)


def test_a_trust_policy_with_one_statement_object_has_its_external_id_found() -> None:
    """IAM accepts ``Statement`` as one object as well as a list."""
    from rescind.actions.aws_iam_trust import (
        external_id_statements,
        redact_external_ids,
        with_external_id,
    )

    policy = {"Version": "2012-10-17", "Statement": {
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": "old-value"}}}}
    assert external_id_statements(policy) == [0]
    updated = with_external_id(policy, [0], "new-value")
    assert updated["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"] == "new-value"
    assert "old-value" not in str(redact_external_ids(policy))
