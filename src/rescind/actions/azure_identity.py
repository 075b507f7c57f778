"""Azure managed identity actions: describe, remove federated credentials, remove role
assignments. Managed identities are not covered by Continuous Access Evaluation: a
token already issued to one lives up to 24 hours, which every plan says.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import Field

from rescind.actions.base import Action, ActionContext, Plan, Result, Risk
from rescind.actions.entra_common import EntraParams, StrList, TargetsAction, azure
from rescind.actions.registry import register
from rescind.errors import ActionError, ErrorKind

MI_TOKENS = ("Managed identities are not covered by Continuous Access Evaluation: tokens "
             "already issued to it stay valid up to 24 hours")
MSI = "Microsoft.ManagedIdentity/userAssignedIdentities"
READ_MI = f"{MSI}/read"
READ_FIC = f"{MSI}/federatedIdentityCredentials/read"
DELETE_FIC = f"{MSI}/federatedIdentityCredentials/delete"
READ_RA = "Microsoft.Authorization/roleAssignments/read"
DELETE_RA = "Microsoft.Authorization/roleAssignments/delete"
READ_RD = "Microsoft.Authorization/roleDefinitions/read"
_ID = re.compile(r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
                 r"Microsoft\.ManagedIdentity/userAssignedIdentities/(?P<name>[^/]+)$", re.I)


class IdentityParams(EntraParams):
    identity: str = Field(description="The user-assigned managed identity: its resource id, "
                                      "or RESOURCE_GROUP/NAME in the subscription")
    subscription: str | None = Field(default=None, description="Subscription id (default: "
                                     "the first of azure.subscriptions)")


class FicParams(IdentityParams):
    names: StrList = Field(default_factory=list, description="Federated credentials to remove "
                                                             "(default: every one)")


class AssignmentParams(EntraParams):
    principal_id: str = Field(description="The principal (object id) whose role assignments "
                                          "to remove")
    scope: str | None = Field(default=None, description="Where: a subscription, resource group "
                              "or resource id, or a management group (default: the "
                              "subscription)")
    subscription: str | None = None
    assignment_ids: StrList = Field(default_factory=list, description="Only these "
                                    "assignments (names or ids; default: every one)")


def parse_identity(ctx: ActionContext, value: str,
                   subscription: str | None) -> tuple[str, str, str]:
    """(subscription, resource group, name) of a managed identity reference."""
    match = _ID.match(value.strip())
    if match:
        return match.group("sub"), match.group("rg"), match.group("name")
    parts = value.strip().strip("/").split("/")
    if len(parts) != 2:
        raise ActionError(f"{value!r} names no managed identity", kind=ErrorKind.ERROR,
                          retryable=False,
                          fix="give its resource id, or RESOURCE_GROUP/NAME")
    return azure(ctx).subscription(subscription), parts[0], parts[1]


async def read_identity(ctx: ActionContext, sub: str, rg: str, name: str) -> dict[str, Any]:
    ident = await azure(ctx).acall(lambda c: c.user_assigned_identities.get(rg, name), "msi",
                                   sub, action=READ_MI, resource=f"managed identity {rg}/{name}")
    return {"id": ident.id, "name": ident.name, "principal_id": ident.principal_id,
            "client_id": ident.client_id}


async def federated(ctx: ActionContext, sub: str, rg: str, name: str) -> list[dict[str, Any]]:
    items = await azure(ctx).acall(
        lambda c: list(c.federated_identity_credentials.list(rg, name)), "msi", sub,
        action=READ_FIC, resource=f"federated credentials of {rg}/{name}")
    return [{"name": f.name, "issuer": f.issuer, "subject": f.subject,
             "audiences": list(f.audiences or [])} for f in items]


async def assignments(ctx: ActionContext, sub: str, scope: str,
                      principal: str) -> list[dict[str, Any]]:
    provider = azure(ctx)
    items = await provider.acall(
        lambda c: list(c.role_assignments.list_for_scope(
            scope, filter=f"principalId eq '{principal}'")), "authorization", sub,
        action=READ_RA, resource=f"role assignments at {scope}")
    found = []
    roles: dict[str, str] = {}
    for item in items:
        rd = str(item.role_definition_id)
        if rd not in roles:
            try:
                def definition_of(client: Any, rd: str = rd) -> Any:
                    return client.role_definitions.get_by_id(rd)

                definition = await provider.acall(definition_of, "authorization", sub,
                                                  action=READ_RD,
                                                  resource=f"role definition {rd}")
                roles[rd] = str(definition.role_name)
            except ActionError:
                roles[rd] = rd.rsplit("/", 1)[-1]
        found.append({"id": str(item.id), "name": str(item.name), "scope": str(item.scope),
                      "role": roles[rd], "principal_id": str(item.principal_id)})
    return found


@register
class DescribeIdentity(Action[Any]):
    name = "azure.msi.describe"
    description = ("Read a user-assigned managed identity: ids, federated identity credentials "
                   "and role assignments")
    params_model = IdentityParams
    providers = ("azure",)
    risk = Risk.LOW
    reversible = False
    mutating = False
    outputs: ClassVar[tuple[str, ...]] = ("principal_id", "client_id", "federated_credentials",
                                          "role_assignments", "subscription")
    permissions: ClassVar[tuple[str, ...]] = (READ_MI, READ_FIC, READ_RA, READ_RD)

    async def plan(self, ctx: ActionContext, params: Any, step_id: str) -> Plan:
        sub, rg, name = parse_identity(ctx, params.identity, params.subscription)
        return Plan(action=self.name, step_id=step_id, params=params.model_dump(mode="json"),
                    risk=self.risk, reversible=False, mutating=False, warnings=[MI_TOKENS],
                    summary=f"Read managed identity {rg}/{name}",
                    state={"sub": sub, "rg": rg, "name": name})

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        sub, rg, name = plan.state["sub"], plan.state["rg"], plan.state["name"]
        ident = await read_identity(ctx, sub, rg, name)
        fics = await federated(ctx, sub, rg, name)
        roles = await assignments(ctx, sub, f"/subscriptions/{sub}", ident["principal_id"])
        return Result(outputs={"principal_id": ident["principal_id"],
                               "client_id": ident["client_id"], "federated_credentials": fics,
                               "role_assignments": roles, "subscription": sub},
                      details=[f"{rg}/{name}: principal {ident['principal_id']}, client "
                               f"{ident['client_id']}",
                               "federated credentials: " + (", ".join(
                                   f"{f['name']} ({f['issuer']} {f['subject']})" for f in fics)
                                   or "none"),
                               "role assignments: " + (", ".join(
                                   f"{r['role']} at {r['scope']}" for r in roles) or "none")])


@register
class RemoveFederatedCredential(TargetsAction):
    name = "azure.msi.remove_federated_credential"
    description = ("Remove federated identity credentials from a managed identity (the "
                   "external workloads, e.g. CI pipelines, that can sign in as it)")
    params_model = FicParams
    providers = ("azure",)
    risk = Risk.HIGH
    reversible = False
    mutating = True
    field = "present"
    what = "federated credential"
    verb = "federated credential removals"
    operation = "arm:DELETE .../federatedIdentityCredentials/{name}"
    outputs: ClassVar[tuple[str, ...]] = ("removed", "principal_id")
    permissions: ClassVar[tuple[str, ...]] = (READ_MI, READ_FIC, DELETE_FIC)

    def provider_of(self, ctx: ActionContext) -> Any:
        return azure(ctx)

    async def read_targets(self, ctx: ActionContext,
                           params: Any) -> tuple[dict[str, dict[str, Any]], list[str]]:
        sub, rg, name = parse_identity(ctx, params.identity, params.subscription)
        ident = await read_identity(ctx, sub, rg, name)
        targets = {}
        for fic in await federated(ctx, sub, rg, name):
            if params.names and fic["name"] not in params.names:
                continue
            targets[fic["name"]] = {"name": f"{fic['name']} ({fic['issuer']} {fic['subject']})",
                                    "before": True, "after": False, "sub": sub, "rg": rg,
                                    "identity": name, "principal_id": ident["principal_id"]}
        missing = set(params.names) - set(targets)
        if missing:
            raise ActionError(f"{rg}/{name} has no federated credential "
                              f"{', '.join(sorted(missing))}", kind=ErrorKind.NOT_FOUND,
                              retryable=False, fix="check the names with azure.msi.describe")
        return targets, [MI_TOKENS] + ([] if targets else [f"{rg}/{name} has none"])

    def guard_targets(self, provider: Any, targets: dict[str, dict[str, Any]],
                      params: Any) -> None:
        owners = {(t["principal_id"], t["identity"]) for t in targets.values()}
        provider.check_targets(sorted(owners), what="managed identity")
        provider.check_targets([(k, "") for k in targets], what=self.what,
                               limit=params.max_targets)

    def outputs_of(self, targets: dict[str, dict[str, Any]]) -> dict[str, Any]:
        first = next(iter(targets.values()), {})
        return {"removed": list(targets), "principal_id": first.get("principal_id")}

    async def current(self, ctx: ActionContext, plan: Plan, target: str) -> Any:
        t = plan.state["targets"][target]
        return target in {f["name"] for f in await federated(ctx, t["sub"], t["rg"],
                                                             t["identity"])}

    async def change(self, ctx: ActionContext, plan: Plan, target: str, value: Any) -> None:
        t = plan.state["targets"][target]
        await azure(ctx).acall(lambda c: c.federated_identity_credentials.delete(
            t["rg"], t["identity"], target), "msi", t["sub"], action=DELETE_FIC,
            resource=f"federated credential {target}")


@register
class RemoveRoleAssignments(TargetsAction):
    name = "azure.role_assignments.remove"
    description = "Remove a principal's Azure role assignments at a scope"
    params_model = AssignmentParams
    providers = ("azure",)
    risk = Risk.HIGH
    reversible = False
    mutating = True
    field = "present"
    what = "role assignment"
    verb = "role assignment removals"
    operation = "arm:DELETE {scope}/providers/Microsoft.Authorization/roleAssignments/{name}"
    outputs: ClassVar[tuple[str, ...]] = ("removed",)
    permissions: ClassVar[tuple[str, ...]] = (READ_RA, READ_RD, DELETE_RA)

    def provider_of(self, ctx: ActionContext) -> Any:
        return azure(ctx)

    async def plan(self, ctx: ActionContext, params: Any, step_id: str) -> Plan:
        plan = await super().plan(ctx, params, step_id)
        scope = plan.params.get("scope")
        if scope and not scope.lower().startswith("/subscriptions/"):
            # Above a subscription (a management group, the tenant root): two people approve.
            return plan.model_copy(update={"risk": Risk.CRITICAL})
        return plan

    async def read_targets(self, ctx: ActionContext,
                           params: Any) -> tuple[dict[str, dict[str, Any]], list[str]]:
        sub = azure(ctx).subscription(params.subscription)
        scope = params.scope or f"/subscriptions/{sub}"
        found = await assignments(ctx, sub, scope, params.principal_id)
        targets = {}
        for item in found:
            if params.assignment_ids and not ({item["id"], item["name"]}
                                              & set(params.assignment_ids)):
                continue
            targets[item["id"]] = {"name": f"{item['role']} at {item['scope']}",
                                   "before": True, "after": False, "sub": sub,
                                   "principal_id": params.principal_id}
        warnings = [MI_TOKENS]
        if not scope.lower().startswith("/subscriptions/"):
            warnings.append(f"{scope} is above a subscription: removing assignments there "
                            "affects every subscription below it (critical: two approvals)")
        return targets, warnings + ([] if targets else ["no role assignment to remove"])

    def guard_targets(self, provider: Any, targets: dict[str, dict[str, Any]],
                      params: Any) -> None:
        provider.check_targets([(params.principal_id, "")], what="principal")
        provider.check_targets([(k, "") for k in targets], what=self.what,
                               limit=params.max_targets)

    def outputs_of(self, targets: dict[str, dict[str, Any]]) -> dict[str, Any]:
        return {"removed": list(targets)}

    async def current(self, ctx: ActionContext, plan: Plan, target: str) -> Any:
        t = plan.state["targets"][target]
        scope = plan.params.get("scope") or f"/subscriptions/{t['sub']}"
        return target in {a["id"] for a in await assignments(ctx, t["sub"], scope,
                                                             t["principal_id"])}

    async def change(self, ctx: ActionContext, plan: Plan, target: str, value: Any) -> None:
        t = plan.state["targets"][target]
        await azure(ctx).acall(lambda c: c.role_assignments.delete_by_id(target),
                               "authorization", t["sub"], action=DELETE_RA,
                               resource=f"role assignment {target}")
