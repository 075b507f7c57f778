"""Users only: quarantine a user, remove console access."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, model_validator

from rescind.actions.aws_common import (
    LINGERING_AWS,
    AwsParams,
    arn,
    aws,
    iam_name,
)
from rescind.actions.aws_iam_principals import (
    ABSENT,
    Principal,
    get_inline_policy,
    guard_principals,
    put_inline_policy,
    require_principal,
    restore_inline_policy,
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

QUARANTINE_POLICY = "RescindQuarantine"
QUARANTINE_DOCUMENT: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "RescindQuarantine", "Effect": "Deny", "Action": "*",
                   "Resource": "*"}],
}


class UsersParams(AwsParams):
    user: str | None = Field(default=None, description="IAM user name or ARN")
    users: StrList = Field(default_factory=list, description="Several IAM users (names or ARNs)")

    @model_validator(mode="after")
    def _some(self) -> UsersParams:
        if not self.names():
            raise ValueError("give user or users")
        return self

    def names(self) -> list[str]:
        return list(dict.fromkeys(iam_name(u, "user") for u in one_or_many(self.user, self.users)))


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
                await require_principal(provider, account, p, acct)
            except ActionError as exc:
                if missing_ok and exc.kind == "not-found":
                    return
                raise
            current[user] = await get_inline_policy(provider, account, p, QUARANTINE_POLICY, acct)

        await bounded(users, read, provider.width)
        return current

    async def plan(self, ctx: ActionContext, params: UsersParams, step_id: str) -> Plan:
        users = params.names()
        acct = await guard_principals(ctx, params, [Principal("user", u) for u in users])
        current = await self._read(ctx, params.account, acct, users, missing_ok=False)
        targets = {u: {"before": _quarantine_state(current[u]), "after": "quarantined",
                       "previous": current[u]} for u in users}
        changes = plan_changes(targets, f"inline policy {QUARANTINE_POLICY}")
        changing = [c.target for c in changes]
        return plan_for(
            type(self), params, step_id, targets=changing, changes=changes,
            state={"account": acct, "targets": targets}, outputs=_users_outputs(targets),
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
                              fn=lambda: put_inline_policy(provider, account,
                                                           Principal("user", user),
                                                           QUARANTINE_POLICY, QUARANTINE_DOCUMENT,
                                                           acct))

        done = await run_targets(ctx, aws(ctx), self.name, [put(u) for u in todo],
                                 verb="quarantines")
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

        calls = [restore_inline_policy(provider, account, Principal("user", u), QUARANTINE_POLICY,
                                       previous[u], acct, u) for u in previous]
        done = await run_targets(ctx, aws(ctx), self.name, calls,
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
                await require_principal(provider, account, Principal("user", user), acct)
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
        acct = await guard_principals(ctx, params, [Principal("user", u) for u in users])
        current = await self._read(ctx, params.account, acct, users, missing_ok=False)
        targets = {u: {"before": current[u], "after": "none"} for u in users}
        changes = plan_changes(targets, "console access")
        changing = [c.target for c in changes]
        return plan_for(
            type(self), params, step_id, targets=changing, changes=changes,
            state={"account": acct, "targets": targets}, outputs=_users_outputs(targets),
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

        done = await run_targets(ctx, aws(ctx), self.name, [delete(u) for u in todo],
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
