"""Users and roles: revoke their sessions; what acting on a principal shares."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import Field, model_validator

from rescind.actions.aws_common import (
    AwsParams,
    arn,
    aws,
    break_glass,
    iam_name,
    max_targets,
)
from rescind.actions.base import Action, ActionContext, Plan, Result, Risk, Verification
from rescind.actions.common import (
    StrList,
    TargetCall,
    bounded,
    drift,
    escalated_risk,
    one_or_many,
    plan_changes,
    plan_for,
    plural,
    run_targets,
)
from rescind.actions.registry import register
from rescind.errors import ActionError
from rescind.providers.aws import AwsProvider

REVOKE_POLICY = "AWSRevokeOlderSessions"  # the name the console's "Revoke active sessions" uses
ABSENT = "absent"
REVOKE_AFTER = "deny every action to sessions issued before the time of apply"


def revoke_document(before: str) -> dict[str, Any]:
    """The console's revoke-sessions policy: deny all to tokens issued before ``before``."""
    return {"Version": "2012-10-17",
            "Statement": [{"Effect": "Deny", "Action": ["*"], "Resource": ["*"],
                           "Condition": {"DateLessThan": {"aws:TokenIssueTime": before}}}]}


def _iso_now() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _token_time(document: dict[str, Any]) -> str | None:
    """The aws:TokenIssueTime of a revoke-sessions document, None if it is not one."""
    for statement in document.get("Statement", []):
        if isinstance(statement, dict) and statement.get("Effect") == "Deny":
            value = statement.get("Condition", {}).get("DateLessThan", {}).get(
                "aws:TokenIssueTime")
            if value:
                return str(value)
    return None


def policy_document(raw: Any) -> dict[str, Any]:
    """A policy document from boto3 (already decoded) or a JSON string."""
    if isinstance(raw, dict):
        return raw
    from urllib.parse import unquote

    text = str(raw)
    try:
        parsed: dict[str, Any] = json.loads(text)
    except ValueError:
        parsed = json.loads(unquote(text))
    return parsed


class Principal:
    """A user or role target: ``kind`` is "user" or "role"; ``tid`` is "user/NAME"."""

    def __init__(self, kind: str, name: str) -> None:
        self.kind, self.name = kind, name

    @property
    def tid(self) -> str:
        return f"{self.kind}/{self.name}"

    @classmethod
    def parse(cls, tid: str) -> Principal:
        kind, _, name = tid.partition("/")
        return cls(kind, name)


async def require_principal(provider: AwsProvider, account: str | None, p: Principal,
                            acct: str) -> None:
    """Raise not-found if the user or role does not exist."""
    op = "GetUser" if p.kind == "user" else "GetRole"
    key = "UserName" if p.kind == "user" else "RoleName"
    await provider.acall("iam", op, account=account, resource=arn(acct, p.kind, p.name),
                         **{key: p.name})


async def get_inline_policy(provider: AwsProvider, account: str | None, p: Principal,
                            policy: str, acct: str) -> dict[str, Any] | None:
    """The inline policy document ``policy`` of a user or role, None if it has none."""
    op = "GetUserPolicy" if p.kind == "user" else "GetRolePolicy"
    key = "UserName" if p.kind == "user" else "RoleName"
    try:
        reply = await provider.acall("iam", op, account=account, PolicyName=policy,
                                     resource=arn(acct, p.kind, p.name), **{key: p.name})
    except ActionError as exc:
        if exc.kind == "not-found":
            return None
        raise
    return policy_document(reply["PolicyDocument"])


def put_inline_policy(provider: AwsProvider, account: str | None, p: Principal, policy: str,
                      document: dict[str, Any], acct: str) -> None:
    op = "PutUserPolicy" if p.kind == "user" else "PutRolePolicy"
    key = "UserName" if p.kind == "user" else "RoleName"
    provider.call("iam", op, account=account, resource=arn(acct, p.kind, p.name),
                  PolicyName=policy, PolicyDocument=json.dumps(document), **{key: p.name})


def delete_inline_policy(provider: AwsProvider, account: str | None, p: Principal,
                         policy: str, acct: str) -> None:
    op = "DeleteUserPolicy" if p.kind == "user" else "DeleteRolePolicy"
    key = "UserName" if p.kind == "user" else "RoleName"
    provider.call("iam", op, account=account, resource=arn(acct, p.kind, p.name),
                  PolicyName=policy, **{key: p.name})


def restore_inline_policy(provider: AwsProvider, account: str | None, p: Principal,
                          policy: str, previous: dict[str, Any] | None, acct: str,
                          target: str) -> TargetCall:
    """The undo call for one target: put ``previous`` back, or delete ``policy`` if it had none."""
    detail = {"account": acct, "policy": policy}
    if previous is None:
        return TargetCall(target=target, operation=f"iam:Delete{p.kind.title()}Policy",
                          detail=detail,
                          fn=lambda: delete_inline_policy(provider, account, p, policy, acct))
    return TargetCall(target=target, operation=f"iam:Put{p.kind.title()}Policy", detail=detail,
                      fn=lambda: put_inline_policy(provider, account, p, policy, previous, acct))


class PrincipalsParams(AwsParams):
    user: str | None = Field(default=None, description="IAM user name or ARN")
    users: StrList = Field(default_factory=list, description="Several IAM users")
    role: str | None = Field(default=None, description="IAM role name or ARN")
    roles: StrList = Field(default_factory=list, description="Several IAM roles")

    @model_validator(mode="after")
    def _some(self) -> PrincipalsParams:
        if not self.principals():
            raise ValueError("give user, users, role or roles")
        return self

    def principals(self) -> list[Principal]:
        found = [Principal(kind, iam_name(name, kind))
                 for kind, one, many in (("user", self.user, self.users),
                                         ("role", self.role, self.roles))
                 for name in one_or_many(one, many)]
        return list({p.tid: p for p in found}.values())


async def guard_principals(ctx: ActionContext, params: AwsParams,
                           principals: list[Principal]) -> str:
    provider = aws(ctx)
    account = await provider.run(provider.account_id, params.account)
    await provider.run(provider.check_targets, account=params.account,
                       users=[p.name for p in principals if p.kind == "user"],
                       roles=[p.name for p in principals if p.kind == "role"],
                       break_glass=break_glass(ctx), max_targets=max_targets(ctx, params))
    return account


def _revoke_state(document: dict[str, Any] | None) -> str:
    if document is None:
        return ABSENT
    issued = _token_time(document)
    return f"deny sessions issued before {issued}" if issued else json.dumps(document,
                                                                             sort_keys=True)


@register
class RevokeSessions(Action[PrincipalsParams]):
    name = "aws.iam.revoke_sessions"
    description = ("Revoke every active session of a user or role: an inline deny-all "
                   f"policy ({REVOKE_POLICY}) for tokens issued before now, as the console does")
    params_model = PrincipalsParams
    risk = Risk.MEDIUM
    reversible = True
    mutating = True
    providers = ("aws",)
    outputs: ClassVar[tuple[str, ...]] = ("users", "roles", "revoked_before")
    permissions: ClassVar[tuple[str, ...]] = (
        "iam:GetUser", "iam:GetRole", "iam:GetUserPolicy", "iam:GetRolePolicy",
        "iam:PutUserPolicy", "iam:PutRolePolicy", "iam:DeleteUserPolicy",
        "iam:DeleteRolePolicy", "sts:GetCallerIdentity")

    async def _read(self, ctx: ActionContext, params: PrincipalsParams, acct: str,
                    principals: list[Principal], *, missing_ok: bool) -> dict[str, Any]:
        provider = aws(ctx)
        current: dict[str, Any] = {}

        async def read(p: Principal) -> None:
            try:
                await require_principal(provider, params.account, p, acct)
            except ActionError as exc:
                if missing_ok and exc.kind == "not-found":
                    return
                raise
            current[p.tid] = await get_inline_policy(provider, params.account, p,
                                                     REVOKE_POLICY, acct)

        await bounded(principals, read, provider.width)
        return current

    async def plan(self, ctx: ActionContext, params: PrincipalsParams, step_id: str) -> Plan:
        principals = params.principals()
        acct = await guard_principals(ctx, params, principals)
        current = await self._read(ctx, params, acct, principals, missing_ok=False)
        targets = {p.tid: {"before": _revoke_state(current[p.tid]), "after": REVOKE_AFTER,
                           "previous": current[p.tid]} for p in principals}
        changes = plan_changes(targets, f"inline policy {REVOKE_POLICY}")
        warnings = [
            "Sessions issued after this change are not affected: deactivate the keys or fix "
            "the trust policy that lets the attacker get new ones",
            "Every current session is cut off, legitimate ones too (EC2, Lambda and ECS fetch "
            "new role credentials on their own; people must sign in or assume the role again)",
        ]
        if any(p.kind == "user" for p in principals):
            warnings.append("For a user this revokes the temporary credentials it obtained "
                            "(GetSessionToken, GetFederationToken); its access keys are "
                            "separate (aws.iam.deactivate_access_key)")
        names = [p.tid for p in principals]
        return plan_for(type(self), params, step_id, targets=names, changes=changes,
                        state={"account": acct, "targets": targets,
                               "planned_at": _iso_now()},
                        outputs=_principal_outputs(targets),
                        summary=f"Revoke the active sessions of {', '.join(names[:3])}"
                                + (" ..." if len(names) > 3 else ""),
                        warnings=warnings, risk=escalated_risk(self.risk, len(names)))

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        provider = aws(ctx)
        params = PrincipalsParams.model_validate(plan.params)
        targets: dict[str, dict[str, Any]] = plan.state["targets"]
        acct = plan.state["account"]
        principals = [Principal.parse(t) for t in targets]
        now = await self._read(ctx, params, acct, principals, missing_ok=True)
        todo = drift(targets, {t: _revoke_state(d) for t, d in now.items()},
                     what="principal")
        issued = _iso_now()
        document = revoke_document(issued)

        def put(tid: str) -> TargetCall:
            p = Principal.parse(tid)
            return TargetCall(target=tid, operation=f"iam:Put{p.kind.title()}Policy",
                              detail={"account": acct, "policy": REVOKE_POLICY,
                                      "revoked_before": issued},
                              fn=lambda: put_inline_policy(provider, params.account, p,
                                                           REVOKE_POLICY, document, acct))

        done = await run_targets(ctx, aws(ctx), self.name, [put(t) for t in todo],
                                 verb="session revocations")
        return Result(outputs=_principal_outputs(targets) | {"revoked_before": issued},
                      details=[f"{t}: sessions issued before {issued} denied" for t in done],
                      undo={"previous": {t: targets[t]["previous"] for t in todo}})

    async def verify(self, ctx: ActionContext, plan: Plan, result: Result | None) -> Verification:
        provider = aws(ctx)
        params = PrincipalsParams.model_validate(plan.params)
        acct = plan.state["account"]
        floor = str((result.outputs.get("revoked_before") if result else None)
                    or plan.state["planned_at"])
        wrong: list[str] = []

        async def check(tid: str) -> None:
            document = await get_inline_policy(provider, params.account, Principal.parse(tid),
                                               REVOKE_POLICY, acct)
            issued = _token_time(document) if document else None
            if issued is None or issued < floor:
                wrong.append(f"{tid} has no {REVOKE_POLICY} policy from {floor} or later")

        await bounded(list(plan.state["targets"]), check, provider.width)
        if wrong:
            return Verification(ok=False, detail="; ".join(wrong[:5]))
        return Verification(ok=True, detail=f"{REVOKE_POLICY} in place on "
                                            f"{plural(len(plan.state['targets']), 'principal')}")

    async def undo(self, ctx: ActionContext, plan: Plan, result: Result) -> Result:
        provider = aws(ctx)
        params = PrincipalsParams.model_validate(plan.params)
        acct = plan.state["account"]
        previous: dict[str, Any] = (result.undo or {}).get("previous", {})

        calls = [restore_inline_policy(provider, params.account, Principal.parse(t), REVOKE_POLICY,
                                       previous[t], acct, t) for t in previous]
        done = await run_targets(ctx, aws(ctx), self.name, calls,
                                 verb="session restorations")
        return Result(outputs=_principal_outputs(plan.state["targets"]),
                      details=[f"{t}: {REVOKE_POLICY} restored to its previous state"
                               for t in done])


def _principal_outputs(targets: dict[str, Any]) -> dict[str, Any]:
    principals = [Principal.parse(t) for t in targets]
    return {"users": [p.name for p in principals if p.kind == "user"],
            "roles": [p.name for p in principals if p.kind == "role"]}
