"""Across an organisation: revoke a compromised role's sessions in every account it is in.

A cross-account role (a vendor's, a deployment pipeline's) exists under one name in
many accounts. The accounts are an explicit list or every active account of the
organisation (organizations:ListAccounts, from the management or a delegated
administrator account); each is entered through its ``aws.assume_roles`` entry or
the organisation's ``aws.org_role``. Each account is one target: its intent and
outcome are journaled on their own, and the step's target cap counts them all.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, model_validator

from rescind.actions.aws_common import AwsParams, aws, break_glass, iam_name, max_targets
from rescind.actions.aws_iam_principals import (
    REVOKE_AFTER,
    REVOKE_POLICY,
    Principal,
    _iso_now,
    _revoke_state,
    _token_time,
    get_inline_policy,
    put_inline_policy,
    restore_inline_policy,
    revoke_document,
)
from rescind.actions.base import Action, ActionContext, Plan, Result, Risk, Verification
from rescind.actions.common import (
    StrList,
    TargetCall,
    bounded,
    escalated_risk,
    plan_changes,
    plan_for,
    plural,
    run_targets,
)
from rescind.actions.registry import register
from rescind.errors import ActionError
from rescind.providers.aws import AwsProvider


class OrgRoleParams(AwsParams):
    role: str = Field(description="The role's name (or ARN: its name is used in every account)")
    accounts: StrList = Field(default_factory=list,
                              description="Account ids to act in, or [organization] for every "
                                          "active account of the organisation")

    @model_validator(mode="after")
    def _some(self) -> OrgRoleParams:
        if not self.accounts:
            raise ValueError("give accounts: a list of account ids, or [organization]")
        if self.accounts != ["organization"] and not all(
                a.isdigit() and len(a) == 12 for a in self.accounts):
            raise ValueError("accounts are 12-digit account ids, or [organization]")
        if self.account is not None:
            raise ValueError("use accounts, not account, for a fan-out")
        return self


async def _accounts(provider: AwsProvider, params: OrgRoleParams) -> list[str]:
    if params.accounts != ["organization"]:
        return list(dict.fromkeys(params.accounts))
    listed = await provider.apaginate("organizations", "ListAccounts", "Accounts")
    return sorted(str(a["Id"]) for a in listed if a.get("Status", "ACTIVE") == "ACTIVE")


def _tid(account: str, role: str) -> str:
    return f"{account}:role/{role}"


def _split(tid: str) -> tuple[str, Principal]:
    account, _, rest = tid.partition(":")
    return account, Principal.parse(rest)


async def _read_all(provider: AwsProvider, accounts: list[str], role: str
                    ) -> tuple[dict[str, dict[str, Any] | None], list[str]]:
    """Per account with the role: its revoke policy (None: none); and the accounts without."""
    found: dict[str, dict[str, Any] | None] = {}
    absent: list[str] = []
    p = Principal("role", role)

    async def read(account: str) -> None:
        try:
            await provider.acall("iam", "GetRole", account=account, RoleName=role,
                                 resource=f"arn:aws:iam::{account}:role/{role}")
        except ActionError as exc:
            if exc.kind != "not-found":
                raise
            absent.append(account)
            return
        found[account] = await get_inline_policy(provider, account, p, REVOKE_POLICY, account)

    await bounded(accounts, read, provider.width)
    return found, sorted(absent)


@register
class RevokeRoleSessionsAcross(Action[OrgRoleParams]):
    name = "aws.org.revoke_role_sessions"
    description = ("Revoke the active sessions of one role in every account it exists in "
                   f"(a list, or the whole organisation): {REVOKE_POLICY} in each")
    params_model = OrgRoleParams
    risk = Risk.MEDIUM
    reversible = True
    mutating = True
    providers = ("aws",)
    outputs: ClassVar[tuple[str, ...]] = ("accounts", "absent_in", "revoked_before")
    permissions: ClassVar[tuple[str, ...]] = (
        "organizations:ListAccounts", "iam:GetRole", "iam:GetRolePolicy",
        "iam:PutRolePolicy", "iam:DeleteRolePolicy", "sts:GetCallerIdentity")

    async def plan(self, ctx: ActionContext, params: OrgRoleParams, step_id: str) -> Plan:
        provider = aws(ctx)
        role = iam_name(params.role, "role")
        accounts = await _accounts(provider, params)
        read, absent = await _read_all(provider, accounts, role)
        present = [a for a in accounts if a in read]
        # The cap counts every account's target; break-glass is checked in each account.
        async def guard(account: str) -> None:
            await provider.run(provider.check_targets, account=account, roles=[role],
                               break_glass=break_glass(ctx),
                               max_targets=max_targets(ctx, params), count=len(present))

        await bounded(present, guard, provider.width)
        targets = {_tid(a, role): {"before": _revoke_state(read[a]),
                                   "after": REVOKE_AFTER, "previous": read[a]}
                   for a in present}
        changes = plan_changes(targets, f"inline policy {REVOKE_POLICY}")
        warnings = ["Every current session of the role is cut off in each account, "
                    "legitimate ones too; fix the trust that lets the attacker in again"]
        if absent:
            warnings.append(f"No role {role} in {plural(len(absent), 'account')}: "
                            f"{', '.join(absent[:5])}" + (" ..." if len(absent) > 5 else ""))
        return plan_for(type(self), params, step_id, targets=list(targets), changes=changes,
                        state={"role": role, "targets": targets, "absent": absent,
                               "planned_at": _iso_now()},
                        outputs={"accounts": present, "absent_in": absent},
                        summary=f"Revoke the sessions of role {role} in "
                                f"{plural(len(present), 'account')}",
                        warnings=warnings, risk=escalated_risk(self.risk, len(present)))

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        provider = aws(ctx)
        targets: dict[str, dict[str, Any]] = plan.state["targets"]
        issued = _iso_now()
        document = revoke_document(issued)

        def put(tid: str) -> TargetCall:
            account, p = _split(tid)
            return TargetCall(target=tid, operation="iam:PutRolePolicy",
                              detail={"account": account, "policy": REVOKE_POLICY,
                                      "revoked_before": issued},
                              fn=lambda: put_inline_policy(provider, account, p, REVOKE_POLICY,
                                                           document, account))

        done = await run_targets(ctx, provider, self.name, [put(t) for t in targets],
                                 verb="session revocations")
        return Result(outputs={"accounts": [_split(t)[0] for t in targets],
                               "absent_in": plan.state["absent"], "revoked_before": issued},
                      details=[f"{plural(len(done), 'account')}: sessions of "
                               f"{plan.state['role']} issued before {issued} denied"],
                      undo={"previous": {t: targets[t]["previous"] for t in targets}})

    async def verify(self, ctx: ActionContext, plan: Plan, result: Result | None) -> Verification:
        provider = aws(ctx)
        floor = str((result.outputs.get("revoked_before") if result else None)
                    or plan.state["planned_at"])
        wrong: list[str] = []

        async def check(tid: str) -> None:
            account, p = _split(tid)
            document = await get_inline_policy(provider, account, p, REVOKE_POLICY, account)
            issued = _token_time(document) if document else None
            if issued is None or issued < floor:
                wrong.append(f"{tid} has no {REVOKE_POLICY} policy from {floor} or later")

        await bounded(list(plan.state["targets"]), check, provider.width)
        if wrong:
            return Verification(ok=False, detail="; ".join(sorted(wrong)[:5]))
        return Verification(ok=True, detail=f"{REVOKE_POLICY} in place in "
                                            f"{plural(len(plan.state['targets']), 'account')}")

    async def undo(self, ctx: ActionContext, plan: Plan, result: Result) -> Result:
        provider = aws(ctx)
        previous: dict[str, Any] = (result.undo or {}).get("previous", {})

        def restore(tid: str) -> TargetCall:
            account, p = _split(tid)
            return restore_inline_policy(provider, account, p, REVOKE_POLICY, previous[tid],
                                         account, tid)

        done = await run_targets(ctx, provider, self.name, [restore(t) for t in previous],
                                 verb="session restorations")
        return Result(outputs={"accounts": [_split(t)[0] for t in previous],
                               "absent_in": plan.state["absent"]},
                      details=[f"{t}: {REVOKE_POLICY} restored" for t in done])
