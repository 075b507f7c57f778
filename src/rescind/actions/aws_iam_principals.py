"""Users and roles: revoke their sessions, quarantine a user, remove console access."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import Field, model_validator

from rescind.actions.aws_common import (
    LINGERING_AWS,
    AwsParams,
    StrList,
    TargetCall,
    arn,
    aws,
    bounded,
    break_glass,
    drift,
    escalated_risk,
    iam_name,
    max_targets,
    plan_changes,
    plan_for,
    plural,
    run_targets,
)
from rescind.actions.base import Action, ActionContext, Plan, Result, Risk, Verification
from rescind.actions.registry import register
from rescind.errors import ActionError
from rescind.providers.aws import AwsProvider

REVOKE_POLICY = "AWSRevokeOlderSessions"  # the name the console's "Revoke active sessions" uses
QUARANTINE_POLICY = "RescindQuarantine"
QUARANTINE_DOCUMENT: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "RescindQuarantine", "Effect": "Deny", "Action": "*",
                   "Resource": "*"}],
}
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


def _document(raw: Any) -> dict[str, Any]:
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


async def _exists(provider: AwsProvider, account: str | None, p: Principal, acct: str) -> None:
    """Raise not-found if the user or role does not exist."""
    op = "GetUser" if p.kind == "user" else "GetRole"
    key = "UserName" if p.kind == "user" else "RoleName"
    await provider.acall("iam", op, account=account, resource=arn(acct, p.kind, p.name),
                         **{key: p.name})


async def _inline(provider: AwsProvider, account: str | None, p: Principal, policy: str,
                  acct: str) -> dict[str, Any] | None:
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
    return _document(reply["PolicyDocument"])


def _put_inline(provider: AwsProvider, account: str | None, p: Principal, policy: str,
                document: dict[str, Any], acct: str) -> None:
    op = "PutUserPolicy" if p.kind == "user" else "PutRolePolicy"
    key = "UserName" if p.kind == "user" else "RoleName"
    provider.call("iam", op, account=account, resource=arn(acct, p.kind, p.name),
                  PolicyName=policy, PolicyDocument=json.dumps(document), **{key: p.name})


def _delete_inline(provider: AwsProvider, account: str | None, p: Principal, policy: str,
                   acct: str) -> None:
    op = "DeleteUserPolicy" if p.kind == "user" else "DeleteRolePolicy"
    key = "UserName" if p.kind == "user" else "RoleName"
    provider.call("iam", op, account=account, resource=arn(acct, p.kind, p.name),
                  PolicyName=policy, **{key: p.name})


class UsersParams(AwsParams):
    user: str | None = Field(default=None, description="IAM user name or ARN")
    users: StrList = Field(default_factory=list, description="Several IAM users (names or ARNs)")

    @model_validator(mode="after")
    def _some(self) -> UsersParams:
        if not self.names():
            raise ValueError("give user or users")
        return self

    def names(self) -> list[str]:
        raw = ([self.user] if self.user else []) + list(self.users)
        return list(dict.fromkeys(iam_name(u, "user") for u in raw if u.strip()))


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
        users = ([self.user] if self.user else []) + list(self.users)
        roles = ([self.role] if self.role else []) + list(self.roles)
        found = [Principal("user", iam_name(u, "user")) for u in users if u.strip()]
        found += [Principal("role", iam_name(r, "role")) for r in roles if r.strip()]
        return list({p.tid: p for p in found}.values())


async def _guard(ctx: ActionContext, params: AwsParams, principals: list[Principal]) -> str:
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
                await _exists(provider, params.account, p, acct)
            except ActionError as exc:
                if missing_ok and exc.kind == "not-found":
                    return
                raise
            current[p.tid] = await _inline(provider, params.account, p, REVOKE_POLICY, acct)

        await bounded(principals, read, provider.width)
        return current

    async def plan(self, ctx: ActionContext, params: PrincipalsParams, step_id: str) -> Plan:
        principals = params.principals()
        acct = await _guard(ctx, params, principals)
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
                              fn=lambda: _put_inline(provider, params.account, p, REVOKE_POLICY,
                                                     document, acct))

        done = await run_targets(ctx, self.name, [put(t) for t in todo],
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
            document = await _inline(provider, params.account, Principal.parse(tid),
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

        def restore(tid: str) -> TargetCall:
            p, doc = Principal.parse(tid), previous[tid]
            if doc is None:
                return TargetCall(target=tid, operation=f"iam:Delete{p.kind.title()}Policy",
                                  detail={"account": acct, "policy": REVOKE_POLICY},
                                  fn=lambda: _delete_inline(provider, params.account, p,
                                                            REVOKE_POLICY, acct))
            return TargetCall(target=tid, operation=f"iam:Put{p.kind.title()}Policy",
                              detail={"account": acct, "policy": REVOKE_POLICY},
                              fn=lambda: _put_inline(provider, params.account, p, REVOKE_POLICY,
                                                     doc, acct))

        done = await run_targets(ctx, self.name, [restore(t) for t in previous],
                                 verb="session restorations")
        return Result(outputs=_principal_outputs(plan.state["targets"]),
                      details=[f"{t}: {REVOKE_POLICY} restored to its previous state"
                               for t in done])


def _principal_outputs(targets: dict[str, Any]) -> dict[str, Any]:
    principals = [Principal.parse(t) for t in targets]
    return {"users": [p.name for p in principals if p.kind == "user"],
            "roles": [p.name for p in principals if p.kind == "role"]}


def _quarantine_state(document: dict[str, Any] | None) -> str:
    if document is None:
        return ABSENT
    return "quarantined" if document == QUARANTINE_DOCUMENT else "a different policy"


@register
class QuarantineUser(Action[UsersParams]):
    name = "aws.iam.quarantine_user"
    description = f"Attach an inline deny-all policy ({QUARANTINE_POLICY}) to users; reversible"
    params_model = UsersParams
    risk = Risk.MEDIUM
    reversible = True
    mutating = True
    providers = ("aws",)
    outputs: ClassVar[tuple[str, ...]] = ("user", "users")
    permissions: ClassVar[tuple[str, ...]] = (
        "iam:GetUser", "iam:GetUserPolicy", "iam:PutUserPolicy", "iam:DeleteUserPolicy",
        "sts:GetCallerIdentity")

    async def _read(self, ctx: ActionContext, account: str | None, acct: str, users: list[str],
                    *, missing_ok: bool) -> dict[str, dict[str, Any] | None]:
        provider = aws(ctx)
        current: dict[str, dict[str, Any] | None] = {}

        async def read(user: str) -> None:
            p = Principal("user", user)
            try:
                await _exists(provider, account, p, acct)
            except ActionError as exc:
                if missing_ok and exc.kind == "not-found":
                    return
                raise
            current[user] = await _inline(provider, account, p, QUARANTINE_POLICY, acct)

        await bounded(users, read, provider.width)
        return current

    async def plan(self, ctx: ActionContext, params: UsersParams, step_id: str) -> Plan:
        users = params.names()
        acct = await _guard(ctx, params, [Principal("user", u) for u in users])
        current = await self._read(ctx, params.account, acct, users, missing_ok=False)
        targets = {u: {"before": _quarantine_state(current[u]), "after": "quarantined",
                       "previous": current[u]} for u in users}
        changes = plan_changes(targets, f"inline policy {QUARANTINE_POLICY}")
        changing = [c.target for c in changes]
        return plan_for(
            type(self), params, step_id, targets=changing, changes=changes,
            state={"account": acct, "targets": targets},
            summary=(f"Quarantine {', '.join(changing[:3])}" + (" ..." if len(changing) > 3
                                                                  else "")
                     if changing else "Nothing to do: already quarantined"),
            warnings=["The deny-all policy blocks every call the user makes, with any of its "
                      "keys, sessions or console sign-ins; roles it has already assumed keep "
                      "their own sessions (aws.iam.revoke_sessions on those roles)",
                      LINGERING_AWS],
            risk=escalated_risk(self.risk, len(changing)))

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        provider = aws(ctx)
        account = plan.params.get("account")
        acct = plan.state["account"]
        targets: dict[str, dict[str, Any]] = plan.state["targets"]
        now = await self._read(ctx, account, acct, list(targets), missing_ok=True)
        todo = drift(targets, {u: _quarantine_state(d) for u, d in now.items()}, what="user")

        def put(user: str) -> TargetCall:
            return TargetCall(target=user, operation="iam:PutUserPolicy",
                              detail={"account": acct, "policy": QUARANTINE_POLICY},
                              fn=lambda: _put_inline(provider, account, Principal("user", user),
                                                     QUARANTINE_POLICY, QUARANTINE_DOCUMENT,
                                                     acct))

        done = await run_targets(ctx, self.name, [put(u) for u in todo], verb="quarantines")
        return Result(outputs=_users_outputs(targets),
                      details=[f"{u}: {QUARANTINE_POLICY} attached" for u in done],
                      undo={"previous": {u: targets[u]["previous"] for u in todo}})

    async def verify(self, ctx: ActionContext, plan: Plan, result: Result | None) -> Verification:
        acct = plan.state["account"]
        users = list(plan.state["targets"])
        current = await self._read(ctx, plan.params.get("account"), acct, users, missing_ok=True)
        wrong = [u for u in users if current.get(u) != QUARANTINE_DOCUMENT]
        if wrong:
            return Verification(ok=False, detail="not quarantined: " + ", ".join(wrong[:5]))
        return Verification(ok=True, detail=f"{plural(len(users), 'user')} quarantined")

    async def undo(self, ctx: ActionContext, plan: Plan, result: Result) -> Result:
        provider = aws(ctx)
        account = plan.params.get("account")
        acct = plan.state["account"]
        previous: dict[str, Any] = (result.undo or {}).get("previous", {})

        def restore(user: str) -> TargetCall:
            p, doc = Principal("user", user), previous[user]
            if doc is None:
                return TargetCall(target=user, operation="iam:DeleteUserPolicy",
                                  detail={"account": acct, "policy": QUARANTINE_POLICY},
                                  fn=lambda: _delete_inline(provider, account, p,
                                                            QUARANTINE_POLICY, acct))
            return TargetCall(target=user, operation="iam:PutUserPolicy",
                              detail={"account": acct, "policy": QUARANTINE_POLICY},
                              fn=lambda: _put_inline(provider, account, p, QUARANTINE_POLICY,
                                                     doc, acct))

        done = await run_targets(ctx, self.name, [restore(u) for u in previous],
                                 verb="quarantine removals")
        return Result(outputs=_users_outputs(plan.state["targets"]),
                      details=[f"{u}: quarantine lifted" for u in done])


def _users_outputs(targets: dict[str, Any]) -> dict[str, Any]:
    users = list(targets)
    return {"user": users[0] if len(users) == 1 else "", "users": users}


@register
class DeleteLoginProfile(Action[UsersParams]):
    name = "aws.iam.delete_login_profile"
    description = "Remove users' console password (DeleteLoginProfile)"
    params_model = UsersParams
    risk = Risk.HIGH
    reversible = False
    mutating = True
    providers = ("aws",)
    outputs: ClassVar[tuple[str, ...]] = ("user", "users")
    permissions: ClassVar[tuple[str, ...]] = (
        "iam:GetUser", "iam:GetLoginProfile", "iam:DeleteLoginProfile", "sts:GetCallerIdentity")

    async def _read(self, ctx: ActionContext, account: str | None, acct: str, users: list[str],
                    *, missing_ok: bool) -> dict[str, str]:
        provider = aws(ctx)
        current: dict[str, str] = {}

        async def read(user: str) -> None:
            try:
                await _exists(provider, account, Principal("user", user), acct)
            except ActionError as exc:
                if missing_ok and exc.kind == "not-found":
                    return
                raise
            try:
                await provider.acall("iam", "GetLoginProfile", account=account, UserName=user,
                                     resource=arn(acct, "user", user))
            except ActionError as exc:
                if exc.kind != "not-found":
                    raise
                current[user] = "none"
            else:
                current[user] = "console password"

        await bounded(users, read, provider.width)
        return current

    async def plan(self, ctx: ActionContext, params: UsersParams, step_id: str) -> Plan:
        users = params.names()
        acct = await _guard(ctx, params, [Principal("user", u) for u in users])
        current = await self._read(ctx, params.account, acct, users, missing_ok=False)
        targets = {u: {"before": current[u], "after": "none"} for u in users}
        changes = plan_changes(targets, "console access")
        changing = [c.target for c in changes]
        return plan_for(
            type(self), params, step_id, targets=changing, changes=changes,
            state={"account": acct, "targets": targets},
            summary=(f"Remove console access of {', '.join(changing[:3])}"
                     + (" ..." if len(changing) > 3 else "")
                     if changing else "Nothing to do: no console password"),
            warnings=["Console sessions already signed in stay open until they expire; the "
                      "quarantine policy (aws.iam.quarantine_user) blocks them now",
                      "The password cannot be restored; a new one must be set and shared"],
            risk=escalated_risk(self.risk, len(changing)))

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        provider = aws(ctx)
        account = plan.params.get("account")
        acct = plan.state["account"]
        targets: dict[str, dict[str, Any]] = plan.state["targets"]
        todo = drift(targets, await self._read(ctx, account, acct, list(targets),
                                               missing_ok=True), what="user")

        def delete(user: str) -> TargetCall:
            return TargetCall(target=user, operation="iam:DeleteLoginProfile",
                              detail={"account": acct},
                              fn=lambda: provider.call("iam", "DeleteLoginProfile",
                                                       account=account, UserName=user,
                                                       resource=arn(acct, "user", user)))

        done = await run_targets(ctx, self.name, [delete(u) for u in todo],
                                 verb="console access removals")
        return Result(outputs=_users_outputs(targets),
                      details=[f"{u}: console password removed" for u in done])

    async def verify(self, ctx: ActionContext, plan: Plan, result: Result | None) -> Verification:
        users = list(plan.state["targets"])
        current = await self._read(ctx, plan.params.get("account"), plan.state["account"], users,
                                   missing_ok=True)
        wrong = [u for u in users if current.get(u, "none") != "none"]
        if wrong:
            return Verification(ok=False, detail="still has console access: " + ", ".join(wrong))
        return Verification(ok=True, detail=f"no console password on {plural(len(users), 'user')}")
