"""Roles: cut a role's permissions (delete an inline policy, detach managed ones).

Seed procedure (a vendor connector's access compromised): delete the role's policy,
rotate the external id in its trust policy (aws_iam_trust.py), then trace its
AssumeRole calls.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field, model_validator

from rescind.actions.aws_common import AwsParams, arn, aws, break_glass, iam_name, max_targets
from rescind.actions.aws_iam_principals import policy_document
from rescind.actions.base import Action, ActionContext, Change, Plan, Result, Risk, Verification
from rescind.actions.common import (
    StrList,
    TargetCall,
    bounded,
    drift,
    one_or_many,
    plan_changes,
    plan_for,
    plural,
    run_targets,
)
from rescind.actions.registry import register
from rescind.errors import ActionError
from rescind.providers.aws import AwsProvider

DELETED, DETACHED, ATTACHED = "deleted", "detached", "attached"


class RoleParams(AwsParams):
    role: str = Field(description="IAM role name or ARN")

    def role_name(self) -> str:
        return iam_name(self.role, "role")


async def get_role(provider: AwsProvider, account: str | None, name: str, acct: str
                   ) -> dict[str, Any]:
    reply = await provider.acall("iam", "GetRole", account=account, RoleName=name,
                                 resource=arn(acct, "role", name))
    role: dict[str, Any] = reply["Role"]
    return role


async def guard_role(ctx: ActionContext, params: RoleParams, count: int) -> str:
    provider = aws(ctx)
    account = await provider.run(provider.account_id, params.account)
    await provider.run(provider.check_targets, account=params.account,
                       roles=[params.role_name()], break_glass=break_glass(ctx),
                       max_targets=max_targets(ctx, params), count=count)
    return account


class RolePolicyParams(RoleParams):
    policy_name: str | None = Field(default=None, description="The inline policy to delete")
    policy_names: StrList = Field(default_factory=list,
                                  description="Several inline policies to delete")
    all_inline: bool = Field(default=False, description="Delete every inline policy of the role")

    @model_validator(mode="after")
    def _one_selection(self) -> RolePolicyParams:
        if bool(self.names()) == self.all_inline:
            raise ValueError("give policy_name or policy_names, or all_inline: true")
        return self

    def names(self) -> list[str]:
        return one_or_many(self.policy_name, self.policy_names)


@register
class DeleteRolePolicy(Action[RolePolicyParams]):
    name = "aws.iam.delete_role_policy"
    description = ("Delete inline policies of a role (DeleteRolePolicy); the documents are "
                   "kept in the plan for the record")
    params_model = RolePolicyParams
    risk = Risk.HIGH
    reversible = False
    mutating = True
    providers = ("aws",)
    outputs: ClassVar[tuple[str, ...]] = ("role", "policy_names")
    permissions: ClassVar[tuple[str, ...]] = (
        "iam:GetRole", "iam:ListRolePolicies", "iam:GetRolePolicy", "iam:DeleteRolePolicy",
        "sts:GetCallerIdentity")

    async def _read(self, provider: AwsProvider, account: str | None, role: str, acct: str
                    ) -> dict[str, Any]:
        """policy name -> document, for every inline policy of ``role`` (none if it is gone)."""
        try:
            names = await provider.apaginate("iam", "ListRolePolicies", "PolicyNames",
                                             account=account, RoleName=role,
                                             resource=arn(acct, "role", role))
        except ActionError as exc:
            if exc.kind == "not-found":
                return {}
            raise
        documents: dict[str, Any] = {}

        async def read(name: str) -> None:
            reply = await provider.acall("iam", "GetRolePolicy", account=account,
                                         RoleName=role, PolicyName=name,
                                         resource=arn(acct, "role", role))
            documents[name] = policy_document(reply["PolicyDocument"])

        await bounded(names, read, provider.width)
        return documents

    async def plan(self, ctx: ActionContext, params: RolePolicyParams, step_id: str) -> Plan:
        provider = aws(ctx)
        role = params.role_name()
        acct = await provider.run(provider.account_id, params.account)
        await get_role(provider, params.account, role, acct)  # not-found if the role is gone
        documents = await self._read(provider, params.account, role, acct)
        chosen = list(documents) if params.all_inline else params.names()
        missing = [n for n in chosen if n not in documents]
        if missing:
            raise ActionError(f"role {role} has no inline policy {missing[0]} (it has: "
                              f"{', '.join(documents) or 'none'})", kind="not-found",
                              retryable=False, fix="check the policy name, or skip")
        await guard_role(ctx, params, len(chosen))
        targets = {n: {"before": documents[n], "after": DELETED} for n in chosen}
        changes = [Change(target=f"{role}/{n}", field="inline policy",
                          before="present (document kept in this plan)", after=DELETED)
                   for n in chosen]
        return plan_for(
            type(self), params, step_id, targets=[role] if chosen else [], changes=changes,
            state={"account": acct, "role": role, "targets": targets},
            outputs={"role": role, "policy_names": list(targets)},
            summary=(f"Delete {plural(len(chosen), 'inline policy')} of role {role}: "
                     + ", ".join(chosen) if chosen else f"Nothing to do: {role} has no "
                     "inline policies"),
            warnings=["Whoever uses the role loses these permissions at once, the vendor's "
                      "legitimate connector too",
                      "Sessions of the role already issued lose the permissions as well; "
                      "its other policies still apply (aws.iam.detach_role_policy)",
                      "The deleted documents stay in this plan and the record"])

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        provider = aws(ctx)
        account = plan.params.get("account")
        acct, role = plan.state["account"], plan.state["role"]
        targets: dict[str, dict[str, Any]] = plan.state["targets"]
        todo = drift(targets, await self._read(provider, account, role, acct),
                     what=f"inline policy of role {role}:")

        def delete(name: str) -> TargetCall:
            return TargetCall(target=f"{role}/{name}", operation="iam:DeleteRolePolicy",
                              detail={"account": acct, "role": role, "policy": name},
                              fn=lambda: provider.call("iam", "DeleteRolePolicy",
                                                       account=account, RoleName=role,
                                                       PolicyName=name,
                                                       resource=arn(acct, "role", role)))

        done = await run_targets(ctx, aws(ctx), self.name, [delete(n) for n in todo],
                                 verb="policy deletions")
        return Result(outputs={"role": role, "policy_names": list(targets)},
                      details=[f"{t}: deleted" for t in done])

    async def verify(self, ctx: ActionContext, plan: Plan, result: Result | None) -> Verification:
        provider = aws(ctx)
        role = plan.state["role"]
        left = await self._read(provider, plan.params.get("account"), role,
                                plan.state["account"])
        still = [n for n in plan.state["targets"] if n in left]
        if still:
            return Verification(ok=False, detail=f"{role} still has {', '.join(still)}")
        count = plural(len(plan.state["targets"]), "inline policy")
        return Verification(ok=True, detail=f"{role}: {count} gone")


class DetachParams(RoleParams):
    policy_arn: str | None = Field(default=None, description="The managed policy ARN to detach")
    policy_arns: StrList = Field(default_factory=list, description="Several policy ARNs")
    all_attached: bool = Field(default=False,
                               description="Detach every managed policy attached to the role")

    @model_validator(mode="after")
    def _one_selection(self) -> DetachParams:
        if bool(self.arns()) == self.all_attached:
            raise ValueError("give policy_arn or policy_arns, or all_attached: true")
        return self

    def arns(self) -> list[str]:
        return one_or_many(self.policy_arn, self.policy_arns)


@register
class DetachRolePolicy(Action[DetachParams]):
    name = "aws.iam.detach_role_policy"
    description = "Detach managed policies from a role (DetachRolePolicy); undo re-attaches them"
    params_model = DetachParams
    risk = Risk.HIGH
    reversible = True
    mutating = True
    providers = ("aws",)
    outputs: ClassVar[tuple[str, ...]] = ("role", "policy_arns")
    permissions: ClassVar[tuple[str, ...]] = (
        "iam:GetRole", "iam:ListAttachedRolePolicies", "iam:DetachRolePolicy",
        "iam:AttachRolePolicy", "sts:GetCallerIdentity")

    async def _read(self, provider: AwsProvider, account: str | None, role: str, acct: str
                    ) -> dict[str, str]:
        try:
            attached = await provider.apaginate("iam", "ListAttachedRolePolicies",
                                                "AttachedPolicies", account=account,
                                                RoleName=role, resource=arn(acct, "role", role))
        except ActionError as exc:
            if exc.kind == "not-found":
                return {}
            raise
        return {p["PolicyArn"]: ATTACHED for p in attached}

    async def plan(self, ctx: ActionContext, params: DetachParams, step_id: str) -> Plan:
        provider = aws(ctx)
        role = params.role_name()
        acct = await provider.run(provider.account_id, params.account)
        await get_role(provider, params.account, role, acct)
        attached = await self._read(provider, params.account, role, acct)
        chosen = list(attached) if params.all_attached else params.arns()
        missing = [a for a in chosen if a not in attached]
        if missing:
            raise ActionError(f"{missing[0]} is not attached to role {role}", kind="not-found",
                              retryable=False, fix="check the policy ARN, or skip")
        await guard_role(ctx, params, len(chosen))
        targets = {a: {"before": ATTACHED, "after": DETACHED} for a in chosen}
        return plan_for(
            type(self), params, step_id, targets=[role] if chosen else [],
            changes=plan_changes(targets, f"attached to role {role}"),
            state={"account": acct, "role": role, "targets": targets},
            outputs={"role": role, "policy_arns": list(targets)},
            summary=(f"Detach {plural(len(chosen), 'managed policy')} from role {role}"
                     if chosen else f"Nothing to do: {role} has no managed policies"),
            warnings=["Whoever uses the role loses these permissions at once, legitimate "
                      "users too; existing sessions lose them as well"])

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        return await self._set(ctx, plan, detach=True)

    async def _set(self, ctx: ActionContext, plan: Plan, *, detach: bool,
                   result: Result | None = None) -> Result:
        provider = aws(ctx)
        account = plan.params.get("account")
        acct, role = plan.state["account"], plan.state["role"]
        targets: dict[str, dict[str, Any]] = plan.state["targets"]
        if detach:
            current = await self._read(provider, account, role, acct)
            current |= {a: DETACHED for a in targets if a not in current}
            todo = drift(targets, current, what=f"policy on role {role}:")
        else:
            todo = list(((result.undo or {}) if result else {}).get("policy_arns", []))
        op = "DetachRolePolicy" if detach else "AttachRolePolicy"

        def call(policy: str) -> TargetCall:
            return TargetCall(target=policy, operation=f"iam:{op}",
                              detail={"account": acct, "role": role},
                              fn=lambda: provider.call("iam", op, account=account,
                                                       RoleName=role, PolicyArn=policy,
                                                       resource=arn(acct, "role", role)))

        done = await run_targets(ctx, aws(ctx), self.name, [call(a) for a in todo],
                                 verb="detachments" if detach else "re-attachments")
        return Result(outputs={"role": role, "policy_arns": list(targets)},
                      details=[f"{a}: {'detached from' if detach else 're-attached to'} {role}"
                               for a in done],
                      undo={"policy_arns": done} if detach else None)

    async def verify(self, ctx: ActionContext, plan: Plan, result: Result | None) -> Verification:
        provider = aws(ctx)
        role = plan.state["role"]
        attached = await self._read(provider, plan.params.get("account"), role,
                                    plan.state["account"])
        still = [a for a in plan.state["targets"] if a in attached]
        if still:
            return Verification(ok=False, detail=f"{role} still has {', '.join(still)}")
        count = plural(len(plan.state["targets"]), "policy")
        return Verification(ok=True, detail=f"{role}: {count} detached")

    async def undo(self, ctx: ActionContext, plan: Plan, result: Result) -> Result:
        return await self._set(ctx, plan, detach=False, result=result)
