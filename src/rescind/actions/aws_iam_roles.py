"""Roles: cut a role's permissions, and rotate a third-party role's external id.

Seed procedure (a vendor connector's access compromised): delete the role's policy,
rotate the external id in its trust policy, then trace its AssumeRole calls.
"""

from __future__ import annotations

import copy
import json
import secrets
from typing import Any, ClassVar

from pydantic import Field, model_validator

from rescind.actions.aws_common import (
    AwsParams,
    StrList,
    TargetCall,
    arn,
    aws,
    bounded,
    break_glass,
    drift,
    iam_name,
    max_targets,
    plan_changes,
    plan_for,
    plural,
    run_targets,
)
from rescind.actions.aws_iam_principals import _document
from rescind.actions.base import Action, ActionContext, Change, Plan, Result, Risk, Verification
from rescind.actions.registry import register
from rescind.errors import ActionError
from rescind.providers.aws import AwsProvider
from rescind.redaction import REDACTED

DELETED, DETACHED, ATTACHED = "deleted", "detached", "attached"
EXTERNAL_ID_KEY = "sts:ExternalId"


class RoleParams(AwsParams):
    role: str = Field(description="IAM role name or ARN")

    def role_name(self) -> str:
        return iam_name(self.role, "role")


async def _role(provider: AwsProvider, account: str | None, name: str, acct: str
                ) -> dict[str, Any]:
    reply = await provider.acall("iam", "GetRole", account=account, RoleName=name,
                                 resource=arn(acct, "role", name))
    role: dict[str, Any] = reply["Role"]
    return role


async def _guard_role(ctx: ActionContext, params: RoleParams, count: int) -> str:
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
        names = ([self.policy_name] if self.policy_name else []) + list(self.policy_names)
        return list(dict.fromkeys(n for n in names if n.strip()))


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
            documents[name] = _document(reply["PolicyDocument"])

        await bounded(names, read, provider.width)
        return documents

    async def plan(self, ctx: ActionContext, params: RolePolicyParams, step_id: str) -> Plan:
        provider = aws(ctx)
        role = params.role_name()
        acct = await provider.run(provider.account_id, params.account)
        await _role(provider, params.account, role, acct)  # not-found if the role is gone
        documents = await self._read(provider, params.account, role, acct)
        chosen = list(documents) if params.all_inline else params.names()
        missing = [n for n in chosen if n not in documents]
        if missing:
            raise ActionError(f"role {role} has no inline policy {missing[0]} (it has: "
                              f"{', '.join(documents) or 'none'})", kind="not-found",
                              retryable=False, fix="check the policy name, or skip")
        await _guard_role(ctx, params, len(chosen))
        targets = {n: {"before": documents[n], "after": DELETED} for n in chosen}
        changes = [Change(target=f"{role}/{n}", field="inline policy",
                          before="present (document kept in this plan)", after=DELETED)
                   for n in chosen]
        return plan_for(
            type(self), params, step_id, targets=[role] if chosen else [], changes=changes,
            state={"account": acct, "role": role, "targets": targets},
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

        done = await run_targets(ctx, self.name, [delete(n) for n in todo],
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
        arns = ([self.policy_arn] if self.policy_arn else []) + list(self.policy_arns)
        return list(dict.fromkeys(a for a in arns if a.strip()))


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
        await _role(provider, params.account, role, acct)
        attached = await self._read(provider, params.account, role, acct)
        chosen = list(attached) if params.all_attached else params.arns()
        missing = [a for a in chosen if a not in attached]
        if missing:
            raise ActionError(f"{missing[0]} is not attached to role {role}", kind="not-found",
                              retryable=False, fix="check the policy ARN, or skip")
        await _guard_role(ctx, params, len(chosen))
        targets = {a: {"before": ATTACHED, "after": DETACHED} for a in chosen}
        return plan_for(
            type(self), params, step_id, targets=[role] if chosen else [],
            changes=plan_changes(targets, f"attached to role {role}"),
            state={"account": acct, "role": role, "targets": targets},
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

        done = await run_targets(ctx, self.name, [call(a) for a in todo],
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


def _actions(statement: dict[str, Any]) -> list[str]:
    value = statement.get("Action", [])
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _aws_principals(statement: dict[str, Any]) -> list[str]:
    principal = statement.get("Principal", {})
    if principal == "*":
        return ["*"]
    value = principal.get("AWS", []) if isinstance(principal, dict) else []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def external_id_statements(policy: dict[str, Any]) -> list[int]:
    """Indexes of the statements that let another AWS account assume the role."""
    found = []
    for i, statement in enumerate(_statements(policy)):
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        if not any(a in ("sts:AssumeRole", "sts:*", "*") for a in _actions(statement)):
            continue
        if _aws_principals(statement):
            found.append(i)
    return found


def _statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    value = policy.get("Statement", [])
    return [value] if isinstance(value, dict) else list(value)


def redact_external_ids(policy: dict[str, Any]) -> dict[str, Any]:
    """The trust policy with every sts:ExternalId value replaced (for the plan and record)."""
    redacted = copy.deepcopy(policy)
    redacted["Statement"] = _statements(redacted)
    for statement in redacted["Statement"]:
        for operator in statement.get("Condition", {}).values():
            for key in list(operator):
                if key.lower() == EXTERNAL_ID_KEY.lower():
                    operator[key] = REDACTED
    return redacted


def with_external_id(policy: dict[str, Any], indexes: list[int], value: str) -> dict[str, Any]:
    """``policy`` with ``value`` as the only external id of the statements at ``indexes``."""
    updated = copy.deepcopy(policy)
    updated["Statement"] = _statements(updated)
    for i in indexes:
        condition = updated["Statement"][i].setdefault("Condition", {})
        for operator in condition.values():
            for key in [k for k in operator if k.lower() == EXTERNAL_ID_KEY.lower()]:
                del operator[key]
        for name in [op for op, body in condition.items() if not body]:
            del condition[name]
        condition.setdefault("StringEquals", {})[EXTERNAL_ID_KEY] = value
    return updated


def _external_ids(policy: dict[str, Any], index: int) -> list[str]:
    values: list[str] = []
    for operator in _statements(policy)[index].get("Condition", {}).values():
        for key, value in operator.items():
            if key.lower() == EXTERNAL_ID_KEY.lower():
                values.extend([value] if isinstance(value, str) else value)
    return values


@register
class RotateExternalId(Action[RoleParams]):
    name = "aws.iam.rotate_external_id"
    description = ("Set a new random sts:ExternalId in a third-party role's trust policy; the "
                   "new value is shown once and never journaled")
    params_model = RoleParams
    risk = Risk.HIGH
    reversible = False
    mutating = True
    providers = ("aws",)
    outputs: ClassVar[tuple[str, ...]] = ("role", "role_arn")
    secret_outputs: ClassVar[tuple[str, ...]] = ("external_id",)
    permissions: ClassVar[tuple[str, ...]] = (
        "iam:GetRole", "iam:UpdateAssumeRolePolicy", "sts:GetCallerIdentity")

    async def plan(self, ctx: ActionContext, params: RoleParams, step_id: str) -> Plan:
        provider = aws(ctx)
        name = params.role_name()
        acct = await _guard_role(ctx, params, 1)
        role = await _role(provider, params.account, name, acct)
        policy = _document(role["AssumeRolePolicyDocument"])
        indexes = external_id_statements(policy)
        if not indexes:
            raise ActionError(f"role {name}'s trust policy lets no other AWS account assume it: "
                              "there is no external id to rotate", retryable=False,
                              fix="check the role name; for a service role, skip this step")
        changes = [
            Change(target=name,
                   field=f"{EXTERNAL_ID_KEY} (statement {i}: "
                         f"{', '.join(_aws_principals(_statements(policy)[i]))})",
                   before="the current value (not recorded)" if _external_ids(policy, i)
                   else None,
                   after="a new random value, shown once")
            for i in indexes]
        session_hours = int(role.get("MaxSessionDuration", 3600)) // 3600
        return plan_for(
            type(self), params, step_id, targets=[name], changes=changes,
            state={"account": acct, "role": name, "arn": role["Arn"], "statements": indexes,
                   "trust_policy": redact_external_ids(policy)},
            summary=f"Rotate the external id of role {name}",
            warnings=[
                "The vendor's connector stops working until it is given the new external id; "
                "share it only through a secure channel",
                f"Sessions already issued for {name} stay valid for up to {session_hours} h "
                "(its maximum session duration) unless they are revoked "
                "(aws.iam.revoke_sessions)",
                "The new external id is shown once and is not kept in the record"])

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        provider = aws(ctx)
        account = plan.params.get("account")
        acct, name = plan.state["account"], plan.state["role"]
        try:
            role = await _role(provider, account, name, acct)
        except ActionError as exc:
            if exc.kind == "not-found":
                raise ActionError(f"role {name} no longer exists: it changed since the plan",
                                  kind="not-found", retryable=False,
                                  fix="retry to re-plan, or skip") from exc
            raise
        policy = _document(role["AssumeRolePolicyDocument"])
        if redact_external_ids(policy) != plan.state["trust_policy"]:
            raise ActionError(f"the trust policy of role {name} changed since the plan",
                              kind="conflict", fix="retry to re-plan and approve the new plan")
        value = secrets.token_urlsafe(32)
        updated = with_external_id(policy, list(plan.state["statements"]), value)
        call = TargetCall(target=name, operation="iam:UpdateAssumeRolePolicy",
                          detail={"account": acct},
                          fn=lambda: provider.call("iam", "UpdateAssumeRolePolicy",
                                                   account=account, RoleName=name,
                                                   PolicyDocument=json.dumps(updated),
                                                   resource=arn(acct, "role", name)))
        await run_targets(ctx, self.name, [call], verb="external id rotations")
        outputs: dict[str, Any] = {"role": name, "role_arn": plan.state["arn"]}
        # Under the dry-run guard nothing was changed, so there is no new value to show.
        if not provider.guarded:
            outputs["external_id"] = value
        return Result(outputs=outputs,
                      details=[f"{name}: new external id set on "
                               f"{plural(len(plan.state['statements']), 'statement')}"])

    async def verify(self, ctx: ActionContext, plan: Plan, result: Result | None) -> Verification:
        value = result.outputs.get("external_id") if result else None
        if not value:
            return Verification(ok=False, detail="the new external id is never recorded, so it "
                                                 "cannot be checked after a restart; retry the "
                                                 "step to set and show a new one")
        provider = aws(ctx)
        role = await _role(provider, plan.params.get("account"), plan.state["role"],
                           plan.state["account"])
        policy = _document(role["AssumeRolePolicyDocument"])
        wrong = [i for i in plan.state["statements"] if _external_ids(policy, i) != [value]]
        if wrong:
            return Verification(ok=False, detail=f"statement(s) {wrong} do not require the new "
                                                 "external id")
        return Verification(ok=True, detail=f"{plan.state['role']} requires the new external id")
