"""Trust policies: rotate a third-party role's external id (``sts:ExternalId``).

The new id is a secret output: shown to the responder once, never journaled; plans
and records carry the trust policy with every external id redacted.
"""

from __future__ import annotations

import copy
import json
import secrets
from typing import Any, ClassVar

from rescind.actions.aws_common import arn, aws
from rescind.actions.aws_iam_principals import policy_document
from rescind.actions.aws_iam_roles import RoleParams, get_role, guard_role
from rescind.actions.base import Action, ActionContext, Change, Plan, Result, Risk, Verification
from rescind.actions.common import (
    TargetCall,
    plan_for,
    plural,
    run_targets,
)
from rescind.actions.registry import register
from rescind.errors import ActionError
from rescind.redaction import REDACTED

EXTERNAL_ID_KEY = "sts:ExternalId"


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
        acct = await guard_role(ctx, params, 1)
        role = await get_role(provider, params.account, name, acct)
        policy = policy_document(role["AssumeRolePolicyDocument"])
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
            role = await get_role(provider, account, name, acct)
        except ActionError as exc:
            if exc.kind == "not-found":
                raise ActionError(f"role {name} no longer exists: it changed since the plan",
                                  kind="not-found", retryable=False,
                                  fix="retry to re-plan, or skip") from exc
            raise
        policy = policy_document(role["AssumeRolePolicyDocument"])
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
        await run_targets(ctx, aws(ctx), self.name, [call], verb="external id rotations")
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
        role = await get_role(provider, plan.params.get("account"), plan.state["role"],
                              plan.state["account"])
        policy = policy_document(role["AssumeRolePolicyDocument"])
        wrong = [i for i in plan.state["statements"] if _external_ids(policy, i) != [value]]
        if wrong:
            return Verification(ok=False, detail=f"statement(s) {wrong} do not require the new "
                                                 "external id")
        return Verification(ok=True, detail=f"{plan.state['role']} requires the new external id")
