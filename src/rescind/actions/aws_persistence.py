"""Find the IAM persistence a leaked credential left behind, from the pulled timeline.

Reads ``timeline.jsonl`` (events from ``timeline.pull``), follows the credential and
everything it created (a key made by the leaked key is tracked too), and reads each
created or changed user, key, role, policy and login profile back from IAM so the
responder sees what still exists. Read-only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from rescind.actions.aws_common import ACCESS_KEY_PATTERN, AwsParams, aws, iam_name
from rescind.actions.base import Action, ActionContext, Plan, Result, Risk
from rescind.actions.common import bounded, plan_for
from rescind.actions.registry import register
from rescind.errors import ActionError
from rescind.providers.aws import AwsProvider
from rescind.timeline.event import Event

TIMELINE_FILE = "timeline.jsonl"
OUTPUTS = ("users", "access_key_ids", "roles", "policies", "login_profiles", "groups",
           "secrets_read", "findings", "count")
SECRET_READS = frozenset({"GetSecretValue", "BatchGetSecretValue"})
# eventName -> kind of persistence it creates or changes.
PERSISTENCE_EVENTS = {
    "CreateUser": "user",
    "CreateAccessKey": "access_key",
    "UpdateAccessKey": "access_key",
    "CreateLoginProfile": "login_profile",
    "UpdateLoginProfile": "login_profile",
    "PutUserPolicy": "inline_policy",
    "PutRolePolicy": "inline_policy",
    "PutGroupPolicy": "inline_policy",
    "AttachUserPolicy": "attached_policy",
    "AttachRolePolicy": "attached_policy",
    "AttachGroupPolicy": "attached_policy",
    "AddUserToGroup": "group_membership",
    "CreateRole": "role",
    "UpdateAssumeRolePolicy": "trust_policy",
    "CreatePolicy": "managed_policy",
    "CreatePolicyVersion": "managed_policy",
    "SetDefaultPolicyVersion": "managed_policy",
    "CreateVirtualMFADevice": "mfa_device",
    "EnableMFADevice": "mfa_device",
    "CreateSAMLProvider": "identity_provider",
    "CreateOpenIDConnectProvider": "identity_provider",
}


class PersistenceParams(AwsParams):
    timeline: str | None = Field(
        default=None,
        description="The events file to read: timeline.pull's `path` output. Default: the "
                    "incident's timeline.jsonl")
    access_key_id: str | None = Field(default=None, pattern=ACCESS_KEY_PATTERN,
                                      description="Only follow this credential (and what it "
                                                  "created)")
    user: str | None = Field(default=None, description="Only follow this IAM user")
    role: str | None = Field(default=None, description="Only follow sessions of this role")


def cloudtrail_record(event: Event) -> dict[str, Any]:
    """The CloudTrail record behind an event (LookupEvents keeps it as a JSON string)."""
    raw = event.raw or {}
    if isinstance(raw.get("CloudTrailEvent"), str):
        try:
            record: dict[str, Any] = json.loads(raw["CloudTrailEvent"])
            return record
        except ValueError:
            return {}
    return raw if "eventName" in raw else {}


def load_events(path: Path) -> list[Event]:
    if not path.is_file():
        raise ActionError(f"no timeline at {path}", kind="not-found", retryable=False,
                          fix="pull it first with a timeline.pull step, and pass its `path` "
                              "output as `timeline`")
    events: list[Event] = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                events.append(Event.model_validate_json(line))
            except ValueError as exc:
                raise ActionError(f"{path}:{number}: not a timeline event ({exc})",
                                  retryable=False) from exc
    return sorted(events, key=lambda e: e.time)


class _Tracker:
    """Which credentials and users count as the attacker's, growing as they create more."""

    def __init__(self, params: PersistenceParams) -> None:
        self.everything = not (params.access_key_id or params.user or params.role)
        self.keys = {params.access_key_id} if params.access_key_id else set()
        self.users = {iam_name(params.user, "user").lower()} if params.user else set()
        self.role = iam_name(params.role, "role").lower() if params.role else None

    def matches(self, event: Event, record: dict[str, Any]) -> bool:
        if self.everything:
            return True
        identity = record.get("userIdentity", {}) or {}
        key = event.credential or identity.get("accessKeyId")
        if key and key in self.keys:
            return True
        name = str(identity.get("userName") or event.actor.rsplit("/", 1)[-1]).lower()
        kind = identity.get("type", "IAMUser")
        if (kind == "IAMUser" and name in self.users) or (kind == "Root" and "root" in self.users):
            return True
        arn = str(identity.get("arn") or event.actor)
        return bool(self.role and f":assumed-role/{self.role}/" in arn.lower())

    def adopt(self, finding: dict[str, Any]) -> None:
        if finding["kind"] == "access_key" and finding.get("access_key_id"):
            self.keys.add(finding["access_key_id"])
        if finding["kind"] in ("user", "access_key", "login_profile") and finding.get("user"):
            self.users.add(finding["user"].lower())


def finding_from(event: Event, record: dict[str, Any]) -> dict[str, Any] | None:
    """What ``record`` created or changed, or None if it is not IAM persistence."""
    name = record.get("eventName") or event.action
    kind = PERSISTENCE_EVENTS.get(name)
    source = record.get("eventSource", "iam.amazonaws.com")
    if kind is None or source != "iam.amazonaws.com" or record.get("errorCode") or \
            event.result == "failure":
        return None
    rp = record.get("requestParameters") or {}
    re_ = record.get("responseElements") or {}
    key = (re_.get("accessKey") or {}) if isinstance(re_, dict) else {}
    finding: dict[str, Any] = {
        "kind": kind, "event": name, "time": event.time.isoformat(), "event_id": event.uid,
        "source_ip": event.source_ip, "by": event.credential or event.actor,
        "user": rp.get("userName") or key.get("userName"), "role": rp.get("roleName"),
        "group": rp.get("groupName"), "policy_name": rp.get("policyName"),
        "policy_arn": rp.get("policyArn") or ((re_.get("policy") or {}).get("arn")
                                              if isinstance(re_, dict) else None),
        "access_key_id": key.get("accessKeyId") or rp.get("accessKeyId"),
        "mfa_serial": rp.get("serialNumber"),
        "provider_arn": (re_.get("sAMLProviderArn") or re_.get("openIDConnectProviderArn"))
        if isinstance(re_, dict) else None,
    }
    if name == "UpdateAccessKey" and rp.get("status") != "Active":
        return None  # deactivating a key is not persistence
    if name == "CreateVirtualMFADevice":
        finding["mfa_serial"] = ((re_.get("virtualMFADevice") or {}).get("serialNumber")
                                 if isinstance(re_, dict) else None)
    return {k: v for k, v in finding.items() if v not in (None, "")}


class _State:
    """Current IAM state of what the findings name, read once per principal."""

    def __init__(self, provider: AwsProvider, account: str | None) -> None:
        self.provider, self.account = provider, account

    async def _get(self, op: str, **params: Any) -> dict[str, Any] | None:
        try:
            return await self.provider.acall("iam", op, account=self.account, **params)
        except ActionError as exc:
            if exc.kind == "not-found":
                return None
            raise

    async def _list(self, op: str, key: str, **params: Any) -> list[Any] | None:
        try:
            return await self.provider.apaginate("iam", op, key, account=self.account, **params)
        except ActionError as exc:
            if exc.kind == "not-found":
                return None
            raise

    async def state(self, f: dict[str, Any]) -> dict[str, Any]:
        """{exists: bool, ...} for one finding."""
        kind, user, role, group = f["kind"], f.get("user"), f.get("role"), f.get("group")
        if kind == "user":
            keys = await self._list("ListAccessKeys", "AccessKeyMetadata", UserName=user)
            if keys is None:
                return {"exists": False}
            return {"exists": True, "access_keys": {k["AccessKeyId"]: k["Status"] for k in keys},
                    "console": await self._get("GetLoginProfile", UserName=user) is not None}
        if kind == "access_key":
            keys = await self._list("ListAccessKeys", "AccessKeyMetadata", UserName=user) \
                if user else None
            status = {k["AccessKeyId"]: k["Status"] for k in keys or []}.get(f.get(
                "access_key_id", ""))
            return {"exists": status is not None, "status": status or "deleted"}
        if kind == "login_profile":
            return {"exists": await self._get("GetLoginProfile", UserName=user) is not None}
        if kind == "inline_policy":
            op, who = (("GetUserPolicy", {"UserName": user}) if user else
                       ("GetRolePolicy", {"RoleName": role}) if role else
                       ("GetGroupPolicy", {"GroupName": group}))
            return {"exists": await self._get(op, PolicyName=f.get("policy_name"), **who)
                    is not None}
        if kind == "attached_policy":
            op, who = (("ListAttachedUserPolicies", {"UserName": user}) if user else
                       ("ListAttachedRolePolicies", {"RoleName": role}) if role else
                       ("ListAttachedGroupPolicies", {"GroupName": group}))
            attached = await self._list(op, "AttachedPolicies", **who)
            return {"exists": any(p["PolicyArn"] == f.get("policy_arn")
                                  for p in attached or [])}
        if kind == "group_membership":
            groups = await self._list("ListGroupsForUser", "Groups", UserName=user)
            return {"exists": any(g["GroupName"] == group for g in groups or [])}
        if kind in ("role", "trust_policy"):
            found = await self._get("GetRole", RoleName=role)
            return {"exists": found is not None}
        if kind == "managed_policy":
            found = await self._get("GetPolicy", PolicyArn=f.get("policy_arn"))
            policy = (found or {}).get("Policy", {})
            return {"exists": found is not None,
                    "attachments": policy.get("AttachmentCount", 0)}
        if kind == "mfa_device":
            devices = await self._list("ListMFADevices", "MFADevices", UserName=user) \
                if user else None
            return {"exists": bool(devices)}
        if kind == "identity_provider":
            arn = f.get("provider_arn", "")
            op = "GetSAMLProvider" if ":saml-provider/" in arn else "GetOpenIDConnectProvider"
            key = "SAMLProviderArn" if op == "GetSAMLProvider" else "OpenIDConnectProviderArn"
            return {"exists": bool(arn) and await self._get(op, **{key: arn}) is not None}
        return {"exists": None}


def _unique(values: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(v for v in values if v))


def secret_read(event: Event, record: dict[str, Any]) -> list[str]:
    """The secret ids a successful GetSecretValue / BatchGetSecretValue read."""
    if (record.get("eventName") or event.action) not in SECRET_READS or \
            record.get("errorCode") or event.result == "failure":
        return []
    rp = record.get("requestParameters") or {}
    ids = [rp.get("secretId"), *(rp.get("secretIdList") or [])]
    return [str(i) for i in ids if i]


def summarize(findings: list[dict[str, Any]], own_key: str | None) -> dict[str, Any]:
    """The outputs: what still exists, by kind, ready for the remediation steps."""
    live = [f for f in findings if f.get("exists")]
    policies = [f.get("policy_arn") or f"{f.get('user') or f.get('role') or f.get('group')}:"
                f"{f.get('policy_name')}" for f in live
                if f["kind"] in ("inline_policy", "attached_policy", "managed_policy")]
    return {
        "users": _unique(f["user"] for f in live if f["kind"] == "user"),
        "access_key_ids": _unique(f.get("access_key_id") for f in live
                                  if f["kind"] == "access_key"
                                  and f.get("access_key_id") != own_key),
        "roles": _unique(f.get("role") for f in live if f["kind"] in ("role", "trust_policy")),
        "policies": _unique(policies),
        "login_profiles": _unique(f.get("user") for f in live if f["kind"] == "login_profile"),
        "groups": _unique(f.get("group") for f in live if f["kind"] == "group_membership"),
        "findings": findings,
        "count": len(findings),
    }


@register
class FindPersistence(Action[PersistenceParams]):
    name = "aws.iam.find_persistence"
    description = ("From the pulled timeline: users, keys, roles, policies and login profiles "
                   "the credential created or changed, with their current state, and the "
                   "secrets it read (read-only)")
    params_model = PersistenceParams
    risk = Risk.LOW
    reversible = False
    mutating = False
    providers = ("aws",)
    outputs: ClassVar[tuple[str, ...]] = OUTPUTS
    permissions: ClassVar[tuple[str, ...]] = (
        "iam:ListAccessKeys", "iam:GetLoginProfile", "iam:GetUserPolicy",
        "iam:GetRolePolicy", "iam:GetGroupPolicy", "iam:ListAttachedUserPolicies",
        "iam:ListAttachedRolePolicies", "iam:ListAttachedGroupPolicies",
        "iam:ListGroupsForUser", "iam:GetRole", "iam:GetPolicy", "iam:ListMFADevices",
        "iam:GetSAMLProvider", "iam:GetOpenIDConnectProvider")

    async def plan(self, ctx: ActionContext, params: PersistenceParams, step_id: str) -> Plan:
        path = Path(params.timeline) if params.timeline else Path(TIMELINE_FILE)
        if not path.is_absolute():
            path = ctx.incident_dir / path
        events = load_events(path)
        tracker = _Tracker(params)
        findings: list[dict[str, Any]] = []
        secrets: list[str] = []
        for event in events:
            if event.cloud != "aws":
                continue
            record = cloudtrail_record(event)
            if not tracker.matches(event, record):
                continue
            secrets += secret_read(event, record)
            finding = finding_from(event, record)
            if finding is not None:
                findings.append(finding)
                tracker.adopt(finding)
        reader = _State(aws(ctx), params.account)

        async def read(finding: dict[str, Any]) -> None:
            finding.update(await reader.state(finding))

        await bounded(findings, read, aws(ctx).width)
        outputs = summarize(findings, params.access_key_id) | {"secrets_read": _unique(secrets)}
        live = [f for f in findings if f.get("exists")]
        warnings = [f"{f['event']} at {f['time']} from {f.get('source_ip', '?')}: "
                    f"{_describe(f)} still exists" for f in live]
        if outputs["secrets_read"]:
            warnings.append("The credential read secrets: " + ", ".join(outputs["secrets_read"])
                            + " (rotate them)")
        warnings.append("Only IAM persistence is checked: also review the timeline for "
                        "Lambda, EC2, S3 bucket policies, KMS key policies and "
                        "Organizations changes")
        return plan_for(self, params, step_id,
                        summary=(f"{len(findings)} IAM changes by the credential in {len(events)} "
                                 f"events; {len(live)} still in place"),
                        warnings=warnings, state=outputs | {"events": len(events),
                                                            "timeline": str(path)})

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        return Result(outputs={k: plan.state[k] for k in OUTPUTS},
                      details=[plan.summary, *plan.warnings])


def _describe(f: dict[str, Any]) -> str:
    kind = f["kind"]
    if kind == "access_key":
        return f"access key {f.get('access_key_id')} of {f.get('user')} ({f.get('status')})"
    if kind in ("inline_policy", "attached_policy"):
        who = f.get("user") or f.get("role") or f.get("group")
        return f"policy {f.get('policy_name') or f.get('policy_arn')} on {who}"
    if kind == "group_membership":
        return f"{f.get('user')} in group {f.get('group')}"
    if kind == "managed_policy":
        return f"managed policy {f.get('policy_arn')}"
    if kind == "login_profile":
        return f"console password of {f.get('user')}"
    if kind == "identity_provider":
        return f"identity provider {f.get('provider_arn')}"
    if kind == "mfa_device":
        return f"MFA device of {f.get('user')}"
    name = f.get("user") or f.get("role")
    return f"{kind.replace('_', ' ')} {name}"
