"""Read-only IAM actions: who owns a key and what it can do; is the root account safe."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import Field, model_validator

from rescind.actions.aws_common import ACCESS_KEY_PATTERN, AwsParams, aws, iam_name
from rescind.actions.aws_iam_principals import policy_document
from rescind.actions.base import Action, ActionContext, Plan, Result, Risk
from rescind.actions.common import bounded, plan_for
from rescind.actions.registry import register
from rescind.errors import ActionError
from rescind.providers.aws import AwsProvider

PRINCIPAL_OUTPUTS = ("user", "role", "arn", "keys", "access_key_ids", "console_access", "mfa",
                     "mfa_devices", "groups", "policies", "attached_policies",
                     "inline_policies", "trusted_principals")


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def _age_days(value: Any, now: datetime) -> int | None:
    return (now - value).days if isinstance(value, datetime) else None


class DescribeParams(AwsParams):
    access_key_id: str | None = Field(default=None, pattern=ACCESS_KEY_PATTERN,
                                      description="Describe the owner of this access key")
    user: str | None = Field(default=None, description="Describe this IAM user (name or ARN)")
    role: str | None = Field(default=None, description="Describe this IAM role (name or ARN)")

    @model_validator(mode="after")
    def _one(self) -> DescribeParams:
        if sum(v is not None for v in (self.access_key_id, self.user, self.role)) != 1:
            raise ValueError("give exactly one of access_key_id, user, role")
        return self


async def _describe_user(provider: AwsProvider, account: str | None, user: str,
                         focus_key: str | None) -> dict[str, Any]:
    now = datetime.now(UTC)
    reply = await provider.acall("iam", "GetUser", account=account, UserName=user)
    info = reply["User"]
    keys = await provider.apaginate("iam", "ListAccessKeys", "AccessKeyMetadata",
                                    account=account, UserName=user)

    async def key(meta: dict[str, Any]) -> dict[str, Any]:
        used = await provider.acall("iam", "GetAccessKeyLastUsed", account=account,
                                    AccessKeyId=meta["AccessKeyId"])
        last = used.get("AccessKeyLastUsed", {})
        return {"access_key_id": meta["AccessKeyId"], "status": meta["Status"],
                "created": _iso(meta.get("CreateDate")),
                "age_days": _age_days(meta.get("CreateDate"), now),
                "last_used": _iso(last.get("LastUsedDate")),
                "last_used_service": last.get("ServiceName"),
                "last_used_region": last.get("Region"),
                "leaked": meta["AccessKeyId"] == focus_key}

    described = await bounded(keys, key, provider.width)
    try:
        await provider.acall("iam", "GetLoginProfile", account=account, UserName=user)
        console = True
    except ActionError as exc:
        if exc.kind != "not-found":
            raise
        console = False
    mfa = await provider.apaginate("iam", "ListMFADevices", "MFADevices", account=account,
                                   UserName=user)
    groups = await provider.apaginate("iam", "ListGroupsForUser", "Groups", account=account,
                                      UserName=user)
    attached = await provider.apaginate("iam", "ListAttachedUserPolicies", "AttachedPolicies",
                                        account=account, UserName=user)
    inline = await provider.apaginate("iam", "ListUserPolicies", "PolicyNames", account=account,
                                      UserName=user)
    attached_arns = [p["PolicyArn"] for p in attached]
    return {"user": user, "role": "", "arn": info["Arn"], "keys": described,
            "access_key_ids": [k["access_key_id"] for k in described],
            "console_access": console, "password_last_used": _iso(info.get("PasswordLastUsed")),
            "mfa": bool(mfa), "mfa_devices": [d["SerialNumber"] for d in mfa],
            "groups": [g["GroupName"] for g in groups],
            "policies": attached_arns + [f"inline:{n}" for n in inline],
            "attached_policies": attached_arns, "inline_policies": list(inline),
            "trusted_principals": []}


async def _describe_role(provider: AwsProvider, account: str | None, name: str
                         ) -> dict[str, Any]:
    reply = await provider.acall("iam", "GetRole", account=account, RoleName=name)
    role = reply["Role"]
    trust = policy_document(role.get("AssumeRolePolicyDocument", {}))
    principals: list[str] = []
    statements = trust.get("Statement", [])
    for statement in [statements] if isinstance(statements, dict) else statements:
        principal = statement.get("Principal", {})
        if isinstance(principal, str):
            principals.append(principal)
            continue
        for value in principal.values():
            principals.extend([value] if isinstance(value, str) else value)
    attached = await provider.apaginate("iam", "ListAttachedRolePolicies", "AttachedPolicies",
                                        account=account, RoleName=name)
    inline = await provider.apaginate("iam", "ListRolePolicies", "PolicyNames", account=account,
                                      RoleName=name)
    last = role.get("RoleLastUsed", {}) or {}
    attached_arns = [p["PolicyArn"] for p in attached]
    return {"user": "", "role": name, "arn": role["Arn"], "keys": [], "access_key_ids": [],
            "console_access": False, "mfa": False, "mfa_devices": [], "groups": [],
            "policies": attached_arns + [f"inline:{n}" for n in inline],
            "attached_policies": attached_arns, "inline_policies": list(inline),
            "trusted_principals": principals,
            "role_last_used": _iso(last.get("LastUsedDate")),
            "role_last_used_region": last.get("Region"),
            "max_session_hours": int(role.get("MaxSessionDuration", 3600)) // 3600}


@register
class DescribePrincipal(Action[DescribeParams]):
    name = "aws.iam.describe_principal"
    description = ("The owner of an access key, or a user or role: keys with age and last use, "
                   "console access, MFA, groups and policies (read-only)")
    params_model = DescribeParams
    risk = Risk.LOW
    reversible = False
    mutating = False
    providers = ("aws",)
    outputs: ClassVar[tuple[str, ...]] = PRINCIPAL_OUTPUTS
    permissions: ClassVar[tuple[str, ...]] = (
        "iam:GetAccessKeyLastUsed", "iam:GetUser", "iam:ListAccessKeys", "iam:GetLoginProfile",
        "iam:ListMFADevices", "iam:ListGroupsForUser", "iam:ListAttachedUserPolicies",
        "iam:ListUserPolicies", "iam:GetRole", "iam:ListAttachedRolePolicies",
        "iam:ListRolePolicies")

    async def plan(self, ctx: ActionContext, params: DescribeParams, step_id: str) -> Plan:
        provider = aws(ctx)
        if params.role:
            facts = await _describe_role(provider, params.account, iam_name(params.role, "role"))
        else:
            user = iam_name(params.user, "user") if params.user else None
            if params.access_key_id:
                if params.access_key_id.startswith("ASIA"):
                    raise ActionError(f"{params.access_key_id} is a temporary (STS) key: IAM "
                                      "does not know its owner", retryable=False,
                                      fix="find the role session that used it in the timeline "
                                          "(timeline.pull) and describe that role")
                reply = await provider.acall("iam", "GetAccessKeyLastUsed",
                                             account=params.account,
                                             AccessKeyId=params.access_key_id,
                                             resource=params.access_key_id)
                user = str(reply["UserName"])
            assert user is not None
            facts = await _describe_user(provider, params.account, user, params.access_key_id)
        return plan_for(self, params, step_id,
                        summary=_summary(facts), warnings=_findings(facts), state=facts)

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        return Result(outputs={k: plan.state.get(k) for k in PRINCIPAL_OUTPUTS},
                      details=[plan.summary, *plan.warnings])


def _summary(facts: dict[str, Any]) -> str:
    if facts["role"]:
        return (f"Role {facts['role']}: trusted by {', '.join(facts['trusted_principals']) or '-'}"
                f"; {len(facts['policies'])} policies")
    keys = ", ".join(f"{k['access_key_id']} ({k['status']}, {k['age_days']} d)"
                     for k in facts["keys"]) or "no keys"
    return (f"User {facts['user']}: {keys}; console {'yes' if facts['console_access'] else 'no'}"
            f"; MFA {'yes' if facts['mfa'] else 'no'}; groups {', '.join(facts['groups']) or '-'}"
            f"; {len(facts['policies'])} policies")


def _findings(facts: dict[str, Any]) -> list[str]:
    notes: list[str] = []
    if facts["console_access"] and not facts["mfa"]:
        notes.append(f"{facts['user']} can sign in to the console without MFA")
    if any(p.endswith("/AdministratorAccess") or p == "inline:*" for p in facts["policies"]):
        notes.append(f"{facts['user'] or facts['role']} has AdministratorAccess: assume the "
                     "credential could do anything in the account")
    for key in facts["keys"]:
        if key["status"] == "Active" and (key["age_days"] or 0) > 180:
            notes.append(f"{key['access_key_id']} is {key['age_days']} days old (policy: rotate "
                         "static keys every 6 months)")
    if "*" in facts.get("trusted_principals", []):
        notes.append(f"role {facts['role']} can be assumed by any AWS principal")
    return notes


class RootParams(AwsParams):
    pass


@register
class CheckRoot(Action[RootParams]):
    name = "aws.iam.check_root"
    description = ("Check the root user: no access keys and MFA enabled (GetAccountSummary); "
                   "read-only, no API can revoke root")
    params_model = RootParams
    risk = Risk.LOW
    reversible = False
    mutating = False
    providers = ("aws",)
    outputs: ClassVar[tuple[str, ...]] = ("root_access_keys", "root_mfa", "compliant", "account")
    permissions: ClassVar[tuple[str, ...]] = ("iam:GetAccountSummary", "sts:GetCallerIdentity")

    async def plan(self, ctx: ActionContext, params: RootParams, step_id: str) -> Plan:
        provider = aws(ctx)
        account = await provider.run(provider.account_id, params.account)
        summary = (await provider.acall("iam", "GetAccountSummary",
                                        account=params.account))["SummaryMap"]
        keys = int(summary.get("AccountAccessKeysPresent", 0)) > 0
        mfa = int(summary.get("AccountMFAEnabled", 0)) > 0
        warnings = []
        if keys:
            warnings.append("The root user has access keys: sign in as root and delete them "
                            "(Security credentials page); no IAM API can do it for root")
        if not mfa:
            warnings.append("The root user has no MFA: sign in as root and assign an MFA device")
        state = {"account": account, "root_access_keys": keys, "root_mfa": mfa,
                 "compliant": not keys and mfa}
        return plan_for(self, params, step_id,
                        summary=(f"Root of {account}: access keys {'present' if keys else 'none'}, "
                                 f"MFA {'enabled' if mfa else 'NOT enabled'}"),
                        warnings=warnings, state=state)

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        return Result(outputs={k: plan.state[k] for k in self.outputs},
                      details=[plan.summary, *plan.warnings])
