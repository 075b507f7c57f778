"""A leaked key id alone: its account found by STS, the organisation's role assumed there."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rescind.actions import registry
from rescind.actions.base import ActionContext
from rescind.modes import Mode
from rescind.sandbox.aws import AwsSandbox
from tests.aws.conftest import Recorder, make_provider

MEMBER = "111122223333"


def _as_member(sandbox: AwsSandbox) -> Any:
    """IAM in the member account, through the organisation role (moto trusts any)."""
    creds = sandbox.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{MEMBER}:role/IncidentResponse",
        RoleSessionName="test-setup")["Credentials"]
    return _client(sandbox, creds)


def _client(sandbox: AwsSandbox, creds: dict[str, Any]) -> Any:
    import boto3

    return boto3.client("iam", region_name="us-east-1", endpoint_url=sandbox.endpoint_url,
                        aws_access_key_id=creds["AccessKeyId"],
                        aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"])


async def test_a_key_id_alone_is_contained_in_its_own_account(
        sandbox: AwsSandbox, tmp_path: Any, make_ctx: Callable[..., ActionContext],
        recorder: Recorder) -> None:
    member_iam = _as_member(sandbox)
    member_iam.create_user(UserName="ci-deployer")
    key = member_iam.create_access_key(UserName="ci-deployer")["AccessKey"]["AccessKeyId"]

    provider = make_provider(sandbox, org_role="IncidentResponse")
    ctx = ActionContext(mode=Mode.LIVE, incident_dir=tmp_path, providers={"aws": provider},
                        journal=recorder.journal, settings={"aws": {}})
    cls = registry.get("aws.iam.deactivate_access_key")
    assert cls is not None
    action = cls()
    plan = await action.plan(ctx, action.parse_params({"access_key_id": key}), "step")
    assert plan.params["account"] == MEMBER and plan.state["account"] == MEMBER
    await action.apply(ctx, plan)
    # Read back in the member account: the key is Inactive there.
    status = {k["AccessKeyId"]: k["Status"] for k in
              member_iam.list_access_keys(UserName="ci-deployer")["AccessKeyMetadata"]}
    assert status == {key: "Inactive"}
    provider.close()
