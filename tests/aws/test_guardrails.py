"""Guardrails: never the caller's own key, user or role session; never break-glass; a cap."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rescind.actions import registry
from rescind.actions.base import ActionContext, Plan, Risk
from rescind.errors import ActionError
from rescind.modes import Mode
from rescind.providers.aws import AwsProvider
from rescind.providers.aws_guardrails import CallerIdentity, check_targets, on_break_glass
from rescind.sandbox.aws import AwsSandbox
from tests.aws.conftest import RESPONDER_KEY, Recorder

ACCOUNT = "123456789012"


async def _plan(ctx: ActionContext, name: str, params: dict[str, Any]) -> Plan:
    action = registry.get(name)
    assert action is not None
    instance = action()
    plan: Plan = await instance.plan(ctx, instance.parse_params(params), "step")
    return plan


async def _refused(ctx: ActionContext, name: str, params: dict[str, Any]) -> ActionError:
    with pytest.raises(ActionError) as err:
        await _plan(ctx, name, params)
    assert err.value.kind == "refused" and not err.value.retryable
    return err.value


async def test_refuses_the_access_key_rescind_runs_with(
        make_ctx: Callable[..., ActionContext], recorder: Recorder) -> None:
    ctx = make_ctx()
    for name in ("aws.iam.deactivate_access_key", "aws.iam.delete_access_key"):
        error = await _refused(ctx, name, {"access_key_id": RESPONDER_KEY, "force": True}
                               if name.endswith("delete_access_key")
                               else {"access_key_id": RESPONDER_KEY})
        assert "the access key rescind is running with" in error.message
    assert recorder.targets() == []


@pytest.mark.parametrize("name", ["aws.iam.quarantine_user", "aws.iam.revoke_sessions",
                                  "aws.iam.delete_login_profile"])
async def test_refuses_the_user_rescind_runs_as(make_ctx: Callable[..., ActionContext],
                                                name: str) -> None:
    error = await _refused(make_ctx(), name,
                           {"user": f"arn:aws:iam::{ACCOUNT}:user/responder"})
    assert "the identity rescind is running as" in error.message


async def test_refuses_the_role_of_its_own_session(sandbox: AwsSandbox, tmp_path: Path,
                                                   recorder: Recorder) -> None:
    iam = sandbox.client("iam")
    iam.create_role(RoleName="incident-response", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                 "Principal": {"AWS": ACCOUNT}}]}))
    iam.put_role_policy(RoleName="incident-response", PolicyName="ir",
                        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                            {"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    creds = sandbox.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/incident-response",
        RoleSessionName="jane")["Credentials"]
    provider = AwsProvider(endpoint_url=sandbox.endpoint_url, credentials={
        "access_key_id": creds["AccessKeyId"], "secret_access_key": creds["SecretAccessKey"],
        "session_token": creds["SessionToken"]})
    ctx = ActionContext(mode=Mode.LIVE, incident_dir=tmp_path, providers={"aws": provider},
                        journal=recorder.journal)
    try:
        assert provider.caller_identity().role_name == "incident-response"
        for name, params in [("aws.iam.revoke_sessions", {"role": "incident-response"}),
                             ("aws.iam.delete_role_policy", {"role": "incident-response",
                                                             "all_inline": True})]:
            error = await _refused(ctx, name, params)
            assert "rescind's own session" in error.message
        # Another role is fine.
        plan = await _plan(ctx, "aws.iam.revoke_sessions", {"role": "vendor-audit"})
        assert plan.targets == ["role/vendor-audit"]
    finally:
        provider.close()


async def test_refuses_break_glass_principals(make_ctx: Callable[..., ActionContext]) -> None:
    ctx = make_ctx()  # the scenario's break_glass: [breakglass-admin]
    error = await _refused(ctx, "aws.iam.quarantine_user", {"user": "breakglass-admin"})
    assert "break-glass" in error.message and "break_glass" in (error.fix or "")
    error = await _refused(ctx, "aws.iam.deactivate_access_key",
                           {"access_key_id": "AKIABREAKGLS1EXAMPLE"})
    assert "its user breakglass-admin is on the break-glass list" in error.message
    by_arn = make_ctx(break_glass=[f"arn:aws:iam::{ACCOUNT}:role/Vendor-Audit"])
    error = await _refused(by_arn, "aws.iam.rotate_external_id", {"role": "vendor-audit"})
    assert "role vendor-audit" in error.message


async def test_more_than_twenty_targets_needs_max_targets(
        sandbox: AwsSandbox, make_ctx: Callable[..., ActionContext]) -> None:
    iam = sandbox.client("iam")
    keys: list[str] = []
    for i in range(11):
        iam.create_user(UserName=f"ci-{i}")
        keys += [iam.create_access_key(UserName=f"ci-{i}")["AccessKey"]["AccessKeyId"]
                 for _ in range(2)]
    ctx = make_ctx()
    error = await _refused(ctx, "aws.iam.deactivate_access_key", {"access_key_ids": keys[:21]})
    assert "21 targets" in error.message and "max_targets` to 21" in (error.fix or "")
    plan = await _plan(ctx, "aws.iam.deactivate_access_key", {"access_key_ids": keys[:20]})
    assert len(plan.targets) == 20 and plan.risk is Risk.MEDIUM
    plan = await _plan(ctx, "aws.iam.deactivate_access_key",
                       {"access_key_ids": keys, "max_targets": 22})
    assert len(plan.targets) == 22
    assert plan.risk is Risk.CRITICAL  # many targets: two-person approval
    plan = await _plan(make_ctx(max_targets=22), "aws.iam.deactivate_access_key",
                       {"access_key_ids": ",".join(keys)})
    assert len(plan.targets) == 22
    error = await _refused(ctx, "aws.iam.deactivate_access_key",
                           {"access_key_ids": keys, "max_targets": 21})
    assert "limit of 21" in error.message


def test_break_glass_matching() -> None:
    entries = ["Ops-Admin", f"arn:aws:iam::{ACCOUNT}:role/path/BreakGlass",
               "arn:aws:iam::999999999999:user/alice"]
    assert on_break_glass("user", "ops-admin", ACCOUNT, entries) == "Ops-Admin"
    assert on_break_glass("role", "ops-admin", ACCOUNT, entries) == "Ops-Admin"
    assert on_break_glass("role", "breakglass", ACCOUNT, entries) == entries[1]
    assert on_break_glass("user", "breakglass", ACCOUNT, entries) is None
    assert on_break_glass("user", "alice", ACCOUNT, entries) is None  # another account
    assert on_break_glass("user", "alice", "999999999999", entries) == entries[2]


def test_caller_identity_names() -> None:
    user = CallerIdentity(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:user/ops/jane", "AIDA", "AKIA1")
    role = CallerIdentity(ACCOUNT, f"arn:aws:sts::{ACCOUNT}:assumed-role/ir/jane", "AROA")
    root = CallerIdentity(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT)
    assert (user.user_name, user.role_name) == ("jane", None)
    assert (role.user_name, role.role_name) == (None, "ir")
    assert root.is_root and root.user_name is None
    # A user of the same name in another account is not the caller.
    check_targets(user, account="999999999999", users=["jane"])
    with pytest.raises(ActionError):
        check_targets(user, account=ACCOUNT, users=["JANE"])
