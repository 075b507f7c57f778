"""The AWS provider: lazy SDK import, cached clients, caller identity, assume-role, guard."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from rescind.modes import Mode
from rescind.providers.aws import AwsProvider
from rescind.providers.aws_guard import is_read_operation
from rescind.providers.base import BlockedCall, Provider
from rescind.providers.registry import build_providers
from rescind.sandbox.aws import AwsSandbox
from tests.aws.conftest import LEAKED_KEY, RESPONDER_KEY, RequestLog, make_provider


def test_importing_the_provider_and_actions_does_not_load_boto3() -> None:
    code = ("import sys, rescind.providers.aws, rescind.providers.registry, rescind.actions.aws;"
            "print(sorted(m for m in ('boto3', 'botocore', 'moto') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_provider_protocol_and_factory(sandbox: AwsSandbox) -> None:
    providers = build_providers({"aws"}, Mode.EXERCISE, {"aws": sandbox.provider_settings()})
    provider = providers["aws"]
    assert isinstance(provider, Provider)
    assert isinstance(provider, AwsProvider)
    assert provider.endpoint_url == sandbox.endpoint_url
    assert provider.cloudtrail_endpoint_url == sandbox.cloudtrail_url
    assert provider.break_glass == sandbox.break_glass
    assert provider.caller_identity().access_key_id == RESPONDER_KEY


def test_exercise_mode_never_falls_back_to_real_aws() -> None:
    from rescind.errors import UsageError

    with pytest.raises(UsageError, match="simulated AWS account"):
        build_providers({"aws"}, Mode.EXERCISE, {})


def test_clients_are_cached_per_service_region_account_with_adaptive_retries(
        provider: AwsProvider) -> None:
    iam = provider.client("iam")
    assert provider.client("iam") is iam
    assert provider.client("iam", "eu-west-1") is not iam
    assert provider.client("sts") is not iam
    config = iam.meta.config
    # botocore stores max_attempts=10 (retries) as 11 attempts in all.
    assert config.retries == {"mode": "adaptive", "total_max_attempts": 11}
    assert config.max_pool_connections == provider.width


def test_caller_identity_is_cached(provider: AwsProvider, requests_log: RequestLog) -> None:
    first = provider.caller_identity()
    second = provider.caller_identity()
    assert first is second
    assert first.user_name == "responder" and first.role_name is None
    assert first.access_key_id == RESPONDER_KEY
    assert requests_log.operations().count("sts:GetCallerIdentity") == 1


def test_assume_role_per_account(sandbox: AwsSandbox, logged_server: tuple[str, Any]) -> None:
    other = "111122223333"
    provider = make_provider(sandbox, logged_server[0], assume_roles={
        other: {"role_arn": f"arn:aws:iam::{other}:role/incident-response",
                "external_id": "ir-example"}})
    try:
        home = provider.caller_identity()
        there = provider.caller_identity(other)
        assert home.account == "123456789012"
        assert there.account == other
        assert there.arn == (f"arn:aws:sts::{other}:assumed-role/incident-response/"
                             "rescind-test-incident")
        assert there.role_name == "incident-response"
        assert there.access_key_id and there.access_key_id.startswith("ASIA")
        provider.call("iam", "CreateUser", account=other, UserName="only-there")
        there_users = [u["UserName"] for u in provider.paginate("iam", "ListUsers", "Users",
                                                                account=other)]
        home_users = [u["UserName"] for u in provider.paginate("iam", "ListUsers", "Users")]
        assert there_users == ["only-there"]
        assert "only-there" not in home_users
        assert provider.account_id(other) == other
    finally:
        provider.close()


def test_an_account_without_a_role_is_a_config_error(provider: AwsProvider) -> None:
    from rescind.errors import ActionError

    with pytest.raises(ActionError) as err:
        provider.account_id("999999999999")
    assert err.value.kind == "config"
    assert "aws.assume_roles" in (err.value.fix or "")


@pytest.mark.parametrize(("service", "operation", "read"), [
    ("iam", "GetUser", True), ("iam", "ListAccessKeys", True),
    ("ec2", "DescribeInstances", True), ("cloudtrail", "LookupEvents", True),
    ("s3", "HeadObject", True), ("iam", "SimulatePrincipalPolicy", True),
    ("sts", "GetCallerIdentity", True), ("sts", "AssumeRole", True),
    ("iam", "UpdateAccessKey", False), ("iam", "DeleteAccessKey", False),
    ("iam", "PutUserPolicy", False), ("iam", "GenerateCredentialReport", False),
    ("dynamodb", "BatchGetItem", False), ("iam", "Getaway", False),
    ("secretsmanager", "RotateSecret", False), ("sts", "AssumeRoleWithSAML", False),
    ("sts", "GetSessionToken", False), ("sts", "GetFederationToken", False),
    ("cognito-identity", "GetId", False), ("redshift", "GetClusterCredentials", False),
])
def test_read_allow_list(service: str, operation: str, read: bool) -> None:
    assert is_read_operation(service, operation) is read


def test_every_read_named_exception_is_a_botocore_operation() -> None:
    """A misspelt entry would let the real operation through as a read."""
    import botocore.session

    from rescind.providers.aws_guard import NOT_READ_OPERATIONS, iam_prefix

    session = botocore.session.get_session()
    known: set[str] = set()
    for name in session.get_available_services():
        model = session.get_service_model(name)
        known |= {f"{iam_prefix(model)}:{op}" for op in model.operation_names}
    assert not NOT_READ_OPERATIONS - known, NOT_READ_OPERATIONS - known


def test_guard_blocks_mutations_on_clients_made_before_and_after_install(
        sandbox: AwsSandbox, provider: AwsProvider, requests_log: RequestLog) -> None:
    before = provider.client("iam")  # made before the guard: must be covered too
    blocked: list[BlockedCall] = []
    assert not provider.guarded
    provider.install_dry_run_guard(blocked.append)
    assert provider.guarded
    after = provider.client("iam", "eu-west-1")
    reply = before.update_access_key(UserName="deploy-bot", AccessKeyId=LEAKED_KEY,
                                     Status="Inactive")
    assert reply["ResponseMetadata"]["RequestId"] == "rescind-dry-run"
    after.put_user_policy(UserName="deploy-bot", PolicyName="x", PolicyDocument="{}")
    provider.client("sts").get_caller_identity()
    keys = provider.call("iam", "ListAccessKeys", UserName="deploy-bot")["AccessKeyMetadata"]
    assert [(b.provider, b.operation) for b in blocked] == [
        ("aws", "iam:UpdateAccessKey"), ("aws", "iam:PutUserPolicy")]
    assert blocked[0].params == {"UserName": "deploy-bot", "AccessKeyId": LEAKED_KEY,
                                 "Status": "Inactive"}
    assert blocked[0].describe().startswith("would call iam:UpdateAccessKey {")
    assert provider.blocked_calls == blocked
    assert requests_log.mutating() == []
    assert {k["AccessKeyId"]: k["Status"] for k in keys}[LEAKED_KEY] == "Active"
    real = sandbox.client("iam").list_access_keys(UserName="deploy-bot")["AccessKeyMetadata"]
    assert {k["AccessKeyId"]: k["Status"] for k in real}[LEAKED_KEY] == "Active"


def test_guard_covers_assumed_role_sessions(sandbox: AwsSandbox,
                                            logged_server: tuple[str, RequestLog]) -> None:
    other = "111122223333"
    log = logged_server[1]
    log.clear()
    provider = make_provider(sandbox, logged_server[0],
                             assume_roles={other: f"arn:aws:iam::{other}:role/ir"})
    blocked: list[BlockedCall] = []
    provider.install_dry_run_guard(blocked.append)
    try:
        provider.call("iam", "CreateUser", account=other, UserName="x")
        assert provider.caller_identity(other).account == other  # AssumeRole went through
        assert [b.operation for b in blocked] == ["iam:CreateUser"]
        assert log.mutating() == []
    finally:
        provider.close()
