"""The scenario seeds real moto state, read back through boto3 as the responder."""

from __future__ import annotations

import json

import boto3
import pytest

from rescind.errors import RescindError
from rescind.sandbox.aws import AwsSandbox, start_aws_sandbox


def test_keys_have_the_scenario_ids(leaked: AwsSandbox) -> None:
    iam = leaked.client("iam")
    keys = iam.list_access_keys(UserName="deploy-bot")["AccessKeyMetadata"]
    assert {k["AccessKeyId"] for k in keys} == {"AKIAIOSFODNN7EXAMPLE", "AKIAI44QH8DHBEXAMPLE"}
    owner = iam.get_access_key_last_used(AccessKeyId="AKIAIOSFODNN7EXAMPLE")
    assert owner["UserName"] == "deploy-bot"
    # Last use is the leaked key's latest event in the history: the attacker's.
    assert owner["AccessKeyLastUsed"]["ServiceName"] == "ec2"
    assert owner["AccessKeyLastUsed"]["Region"] == "eu-west-1"


def test_account_state(leaked: AwsSandbox) -> None:
    iam = leaked.client("iam")
    assert iam.get_login_profile(UserName="deploy-bot")["LoginProfile"]["UserName"] == "deploy-bot"
    groups = iam.list_groups_for_user(UserName="deploy-bot")["Groups"]
    assert [g["GroupName"] for g in groups] == ["deployers"]
    assert iam.list_user_policies(UserName="deploy-bot")["PolicyNames"] == ["read-deploy-secret"]
    assert iam.list_mfa_devices(UserName="breakglass-admin")["MFADevices"]
    glass = iam.list_access_keys(UserName="breakglass-admin")["AccessKeyMetadata"]
    assert [k["Status"] for k in glass] == ["Inactive"]
    role = iam.get_role(RoleName="vendor-audit")["Role"]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    condition = trust["Statement"][0]["Condition"]["StringEquals"]
    assert condition["sts:ExternalId"] == "example-external-id-1"
    sm = leaked.client("secretsmanager")
    policy = json.loads(sm.get_resource_policy(SecretId="prod/db-password")["ResourcePolicy"])
    assert policy["Statement"][0]["Principal"]["AWS"] == [
        "arn:aws:iam::123456789012:user/service/deploy-bot"]
    assert leaked.break_glass == ["breakglass-admin"]


def test_attacker_persistence_exists(leaked: AwsSandbox) -> None:
    iam = leaked.client("iam")
    keys = iam.list_access_keys(UserName="backup-admin")["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == ["AKIABACKUPAD1EXAMPLE"]
    attached = iam.list_attached_user_policies(UserName="backup-admin")["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == ["arn:aws:iam::aws:policy/AdministratorAccess"]
    assert iam.list_user_policies(UserName="backup-admin")["PolicyNames"] == ["maintenance"]
    assert iam.get_login_profile(UserName="backup-admin")["LoginProfile"]
    # The user was created when the history says, not when the sandbox started.
    created = iam.get_user(UserName="backup-admin")["User"]["CreateDate"]
    assert (leaked.now - created).total_seconds() == pytest.approx(115 * 60, abs=5)


def test_responder_identity_is_its_own_user(leaked: AwsSandbox) -> None:
    ident = leaked.client("sts").get_caller_identity()
    assert ident["Arn"] == "arn:aws:iam::123456789012:user/responder"
    assert ident["Account"] == "123456789012"
    env = leaked.env()
    assert env["AWS_ACCESS_KEY_ID"] == "AKIARESPONDR9EXAMPLE"
    assert env["AWS_EC2_METADATA_DISABLED"] == "true"
    # A plain boto3 session built from env() alone reaches the sandbox as the responder.
    session = boto3.session.Session(aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                                    aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                                    region_name=env["AWS_DEFAULT_REGION"])
    sts = session.client("sts", endpoint_url=env["AWS_ENDPOINT_URL"])
    assert sts.get_caller_identity()["Arn"].endswith(":user/responder")
    # The leaked key maps to its owner, as in AWS.
    attacker = session.client("sts", endpoint_url=env["AWS_ENDPOINT_URL"],
                              aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
                              aws_secret_access_key="x")
    assert attacker.get_caller_identity()["Arn"] == (
        "arn:aws:iam::123456789012:user/service/deploy-bot")
    assert leaked.responder_arn == "arn:aws:iam::123456789012:user/responder"
    settings = leaked.provider_settings()
    assert settings["endpoint_url"] == leaked.endpoint_url
    assert settings["cloudtrail_endpoint_url"] == leaked.cloudtrail_url
    assert settings["access_key_id"] == "AKIARESPONDR9EXAMPLE"
    assert settings["break_glass"] == ["breakglass-admin"]


def test_one_sandbox_at_a_time(leaked: AwsSandbox) -> None:
    with pytest.raises(RescindError, match="already running"):
        start_aws_sandbox()
