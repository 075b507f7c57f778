"""One case per mutating AWS action: setup, params, the state it must leave, the calls it makes.

``expect(before, result)`` returns the whole account snapshot the action must leave
behind: the tests compare it with what moto reports, so a change to anything else
fails too.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rescind.actions.base import Result
from rescind.sandbox.aws import AwsSandbox
from tests.aws.conftest import LEAKED_KEY, SECOND_KEY

Snapshot = dict[str, Any]
VENDOR_POLICY = {"Version": "2012-10-17",
                 "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
SECURITY_AUDIT = "arn:aws:iam::aws:policy/SecurityAudit"
ROTATOR = "arn:aws:lambda:us-east-1:123456789012:function:rotate-db-password"


@dataclass
class Case:
    id: str
    action: str
    params: dict[str, Any]
    blocked: list[str]  # what a dry-run must block, in order
    expect: Callable[[Snapshot, Result], Snapshot]
    setup: Callable[[AwsSandbox], None] = lambda sandbox: None
    secret: list[str] = field(default_factory=list)  # result outputs that must never leak
    dry_setup: Callable[[AwsSandbox], None] | None = None  # instead of setup, for dry-run
    exercise_only: bool = False  # moto can do it only the way the exercise simulates it


def _changed(before: Snapshot, edit: Callable[[Snapshot], None]) -> Snapshot:
    after = copy.deepcopy(before)
    edit(after)
    return after


def _key_status(key: str, status: str) -> Callable[[Snapshot, Result], Snapshot]:
    def expect(before: Snapshot, result: Result) -> Snapshot:
        return _changed(before, lambda s: s["users"]["deploy-bot"]["keys"].__setitem__(
            key, status))
    return expect


def _both_inactive(before: Snapshot, result: Result) -> Snapshot:
    def edit(s: Snapshot) -> None:
        s["users"]["deploy-bot"]["keys"] = {LEAKED_KEY: "Inactive", SECOND_KEY: "Inactive"}
    return _changed(before, edit)


def _second_deleted(before: Snapshot, result: Result) -> Snapshot:
    return _changed(before, lambda s: s["users"]["deploy-bot"]["keys"].pop(SECOND_KEY))


def revoke_document(issued: str) -> dict[str, Any]:
    return {"Version": "2012-10-17",
            "Statement": [{"Effect": "Deny", "Action": ["*"], "Resource": ["*"],
                           "Condition": {"DateLessThan": {"aws:TokenIssueTime": issued}}}]}


def _user_revoked(before: Snapshot, result: Result) -> Snapshot:
    issued = result.outputs["revoked_before"]
    return _changed(before, lambda s: s["users"]["deploy-bot"]["inline"].__setitem__(
        "AWSRevokeOlderSessions", revoke_document(issued)))


def _role_revoked(before: Snapshot, result: Result) -> Snapshot:
    return _changed(before, lambda s: s["roles"]["vendor-audit"]["inline"].append(
        "AWSRevokeOlderSessions"))


def _quarantined(before: Snapshot, result: Result) -> Snapshot:
    document = {"Version": "2012-10-17", "Statement": [
        {"Sid": "RescindQuarantine", "Effect": "Deny", "Action": "*", "Resource": "*"}]}
    return _changed(before, lambda s: s["users"]["deploy-bot"]["inline"].__setitem__(
        "RescindQuarantine", document))


def _no_console(before: Snapshot, result: Result) -> Snapshot:
    return _changed(before, lambda s: s["users"]["deploy-bot"].__setitem__("console", False))


def _vendor_inline(sandbox: AwsSandbox) -> None:
    sandbox.client("iam").put_role_policy(RoleName="vendor-audit", PolicyName="VendorAccess",
                                          PolicyDocument=json.dumps(VENDOR_POLICY))


def _inline_gone(before: Snapshot, result: Result) -> Snapshot:
    return _changed(before, lambda s: s["roles"]["vendor-audit"]["inline"].remove(
        "VendorAccess"))


def _detached(before: Snapshot, result: Result) -> Snapshot:
    return _changed(before, lambda s: s["roles"]["vendor-audit"]["attached"].remove(
        SECURITY_AUDIT))


def _new_external_id(before: Snapshot, result: Result) -> Snapshot:
    value = result.outputs["external_id"]

    def edit(s: Snapshot) -> None:
        statement = s["roles"]["vendor-audit"]["trust"]["Statement"][0]
        statement["Condition"]["StringEquals"]["sts:ExternalId"] = value
    return _changed(before, edit)


def give_rotation_function(sandbox: AwsSandbox) -> None:
    """moto cannot run a rotation Lambda; record one on the secret as AWS would have it."""
    from moto.secretsmanager.models import secretsmanager_backends

    backend = secretsmanager_backends[sandbox.account_id]["us-east-1"]
    for secret in backend.secrets.values():
        secret.rotation_lambda_arn = ROTATOR
        secret.rotation_enabled = True
        secret.rotation_requested = True  # moto describes rotation only once it was asked for
        secret.auto_rotate_after_days = 30


def _rotated(before: Snapshot, result: Result) -> Snapshot:
    (version,) = result.outputs["version_ids"].values()

    def edit(s: Snapshot) -> None:
        stages = s["secrets"]["prod/db-password"]
        for old, labels in list(stages.items()):
            if "AWSCURRENT" in labels:
                stages[old] = ["AWSPREVIOUS"]
            elif "AWSPREVIOUS" in labels:
                del stages[old]
        stages[version] = ["AWSCURRENT"]
    return _changed(before, edit)


MUTATING: list[Case] = [
    Case("deactivate-one", "aws.iam.deactivate_access_key", {"access_key_id": LEAKED_KEY},
         ["iam:UpdateAccessKey"], _key_status(LEAKED_KEY, "Inactive")),
    Case("deactivate-all-of-user", "aws.iam.deactivate_access_key",
         {"user": "arn:aws:iam::123456789012:user/service/deploy-bot", "all_keys": True},
         ["iam:UpdateAccessKey"] * 2, _both_inactive),
    Case("delete-key", "aws.iam.delete_access_key", {"access_key_id": SECOND_KEY,
                                                     "force": True},
         ["iam:DeleteAccessKey"], _second_deleted),
    Case("revoke-user-sessions", "aws.iam.revoke_sessions", {"user": "deploy-bot"},
         ["iam:PutUserPolicy"], _user_revoked),
    Case("revoke-role-sessions", "aws.iam.revoke_sessions", {"role": "vendor-audit"},
         ["iam:PutRolePolicy"], _role_revoked),
    Case("revoke-role-sessions-across", "aws.org.revoke_role_sessions",
         {"role": "vendor-audit", "accounts": ["123456789012"]},
         ["iam:PutRolePolicy"], _role_revoked),
    Case("quarantine", "aws.iam.quarantine_user", {"user": "deploy-bot"},
         ["iam:PutUserPolicy"], _quarantined),
    Case("delete-login-profile", "aws.iam.delete_login_profile", {"users": "deploy-bot"},
         ["iam:DeleteLoginProfile"], _no_console),
    Case("delete-role-policy", "aws.iam.delete_role_policy",
         {"role": "vendor-audit", "policy_name": "VendorAccess"},
         ["iam:DeleteRolePolicy"], _inline_gone, setup=_vendor_inline),
    Case("detach-role-policy", "aws.iam.detach_role_policy",
         {"role": "arn:aws:iam::123456789012:role/vendor-audit", "all_attached": True},
         ["iam:DetachRolePolicy"], _detached),
    Case("rotate-external-id", "aws.iam.rotate_external_id", {"role": "vendor-audit"},
         ["iam:UpdateAssumeRolePolicy"], _new_external_id, secret=["external_id"]),
    Case("rotate-secret", "aws.secretsmanager.rotate_secret", {"secret_id": "prod/db-password"},
         ["secretsmanager:RotateSecret"], _rotated, dry_setup=give_rotation_function,
         exercise_only=True),
]

READ_ONLY: list[tuple[str, str, dict[str, Any]]] = [
    ("describe-key-owner", "aws.iam.describe_principal", {"access_key_id": LEAKED_KEY}),
    ("describe-role", "aws.iam.describe_principal", {"role": "vendor-audit"}),
    ("check-root", "aws.iam.check_root", {}),
]
