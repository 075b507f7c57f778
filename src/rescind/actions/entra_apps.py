"""Entra ID application and service principal actions: the third-party connector and
consent-phishing cases (describe, disable, remove secrets and certificates, remove
app role assignments and delegated grants).

One concern (~460 lines): the actions share how an app or service principal is
found and read, which is most of each plan.

An app or service principal is named by its object id or its application (client)
id; both are tried, the object id first.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from rescind.actions.base import Action, ActionContext, Plan, Result, Risk
from rescind.actions.entra_common import (
    CAE_NOTE,
    Coroutines,
    EntraParams,
    StrList,
    TargetCall,
    TargetsAction,
    entra,
    plural,
    run_targets,
)
from rescind.actions.registry import register
from rescind.errors import ActionError, ErrorKind

APP_READ = "Application.Read.All"
APP_WRITE = "Application.ReadWrite.All"


class AppParams(EntraParams):
    app: str = Field(description="The application: object id or application (client) id")


class SpParams(EntraParams):
    service_principal: str = Field(description="The service principal: object id or "
                                               "application (client) id")


class KeyParams(AppParams):
    key_ids: StrList = Field(default_factory=list, description="Credential key ids to remove "
                                                               "(default: every one)")


class SpKeyParams(SpParams):
    key_ids: StrList = Field(default_factory=list, description="Credential key ids to remove "
                                                               "(default: every one)")


class SpItemsParams(SpParams):
    ids: StrList = Field(default_factory=list, description="Ids to remove (default: every one)")


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value else None


async def read_object(ctx: ActionContext, kind: str, key: str) -> Any:
    """The application or service principal ``key`` (object id, else app id)."""
    provider = entra(ctx)
    what = "application" if kind == "applications" else "service principal"

    async def by_id(g: Any) -> Any:
        return await getattr(g, kind).by_application_id(key).get() if kind == "applications" \
            else await g.service_principals.by_service_principal_id(key).get()

    async def by_app_id(g: Any) -> Any:
        builder = (g.applications_with_app_id(key) if kind == "applications"
                   else g.service_principals_with_app_id(key))
        return await builder.get()

    try:
        return await provider.call(by_id, permission=APP_READ, resource=f"{what} {key}")
    except ActionError as exc:
        if exc.kind != ErrorKind.NOT_FOUND:
            raise
    return await provider.call(by_app_id, permission=APP_READ, resource=f"{what} {key}")


def passwords(obj: Any) -> list[dict[str, Any]]:
    return [{"key_id": str(p.key_id), "name": p.display_name or "", "hint": p.hint or "",
             "expires": _iso(p.end_date_time)} for p in obj.password_credentials or []]


def certificates(obj: Any) -> list[dict[str, Any]]:
    return [{"key_id": str(k.key_id), "name": k.display_name or "", "type": k.type or "",
             "usage": k.usage or "", "expires": _iso(k.end_date_time)}
            for k in obj.key_credentials or []]


async def _owners(ctx: ActionContext, kind: str, object_id: str) -> list[str]:
    async def get(g: Any) -> Any:
        if kind == "applications":
            return await g.applications.by_application_id(object_id).owners.get()
        return await g.service_principals.by_service_principal_id(object_id).owners.get()

    page = await entra(ctx).call(get, permission=APP_READ, resource=f"owners of {object_id}")
    return [str(getattr(o, "user_principal_name", None) or o.id)
            for o in (page.value if page else []) or []]


async def sp_assignments(ctx: ActionContext, sp_id: str) -> list[dict[str, Any]]:
    page = await entra(ctx).call(
        lambda g: g.service_principals.by_service_principal_id(sp_id).app_role_assignments.get(),
        permission=APP_READ, resource=f"app role assignments of {sp_id}")
    return [{"id": str(a.id), "resource": a.resource_display_name or str(a.resource_id),
             "app_role_id": str(a.app_role_id)} for a in (page.value if page else []) or []]


async def sp_grants(ctx: ActionContext, sp_id: str) -> list[dict[str, Any]]:
    page = await entra(ctx).call(
        lambda g: g.service_principals.by_service_principal_id(sp_id)
        .oauth2_permission_grants.get(),
        permission="Directory.Read.All", resource=f"delegated grants of {sp_id}")
    return [{"id": str(g.id), "resource": str(g.resource_id), "scope": (g.scope or "").strip(),
             "consent": g.consent_type or ""} for g in (page.value if page else []) or []]


def _credential_lines(items: list[dict[str, Any]], what: str) -> str:
    return f"{what}: " + (", ".join(f"{c['key_id']} {c['name']} ({c.get('hint') or c.get('type')}"
                                    f", expires {c['expires']})" for c in items) or "none")


@register
class DescribeApp(Action[Any]):
    name = "entra.app.describe"
    description = "Read an Entra ID application: secrets and certificates (key ids, hints, " \
                  "expiry) and owners"
    params_model: ClassVar[type[BaseModel]] = AppParams
    providers = ("entra",)
    risk = Risk.LOW
    reversible = False
    mutating = False
    outputs: ClassVar[tuple[str, ...]] = ("app_id", "object_id", "passwords", "certificates",
                                          "owners")
    permissions: ClassVar[tuple[str, ...]] = (APP_READ,)

    async def plan(self, ctx: ActionContext, params: Any, step_id: str) -> Plan:
        return Plan(action=self.name, step_id=step_id, params=params.model_dump(mode="json"),
                    risk=self.risk, reversible=False, mutating=False,
                    summary=f"Read application {params.app}")

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        app = await read_object(ctx, "applications", plan.params["app"])
        pw, certs = passwords(app), certificates(app)
        owners = await _owners(ctx, "applications", str(app.id))
        return Result(outputs={"app_id": app.app_id, "object_id": app.id, "passwords": pw,
                               "certificates": certs, "owners": owners},
                      details=[f"{app.display_name} (app id {app.app_id})",
                               _credential_lines(pw, "client secrets"),
                               _credential_lines(certs, "certificates"),
                               f"owners: {', '.join(owners) or 'none'}"])


@register
class DescribeSp(DescribeApp):
    name = "entra.sp.describe"
    description = ("Read an Entra ID service principal: state, secrets, owners, app role "
                   "assignments (application permissions) and delegated grants")
    params_model = SpParams
    outputs: ClassVar[tuple[str, ...]] = ("object_id", "app_id", "enabled", "passwords",
                                          "owners", "app_role_assignments", "grants")
    permissions: ClassVar[tuple[str, ...]] = (APP_READ, "Directory.Read.All")

    async def plan(self, ctx: ActionContext, params: Any, step_id: str) -> Plan:
        return Plan(action=self.name, step_id=step_id, params=params.model_dump(mode="json"),
                    risk=self.risk, reversible=False, mutating=False,
                    summary=f"Read service principal {params.service_principal}")

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        sp = await read_object(ctx, "service_principals", plan.params["service_principal"])
        pw = passwords(sp)
        owners = await _owners(ctx, "service_principals", str(sp.id))
        roles = await sp_assignments(ctx, str(sp.id))
        grants = await sp_grants(ctx, str(sp.id))
        return Result(outputs={"object_id": sp.id, "app_id": sp.app_id,
                               "enabled": sp.account_enabled, "passwords": pw,
                               "owners": owners, "app_role_assignments": roles,
                               "grants": grants},
                      details=[f"{sp.display_name} (app id {sp.app_id}): "
                               f"{'enabled' if sp.account_enabled else 'disabled'}",
                               _credential_lines(pw, "client secrets"),
                               f"owners: {', '.join(owners) or 'none'}",
                               "app role assignments: " + (", ".join(
                                   f"{r['resource']} {r['app_role_id']}" for r in roles)
                                   or "none"),
                               "delegated grants: " + (", ".join(
                                   f"{g['scope']} ({g['consent']})" for g in grants) or "none")])


class _SpTarget(TargetsAction):
    """Actions on one service principal's parts; the SP itself is guard-checked."""

    providers = ("entra",)
    params_model: ClassVar[type[BaseModel]] = SpParams

    def guard_targets(self, provider: Any, targets: dict[str, dict[str, Any]],
                      params: Any) -> None:
        owners = {(t["sp"], t["sp_name"]) for t in targets.values()}
        provider.check_targets(sorted(owners), what="service principal", limit=None)
        if len(targets) > (params.max_targets or provider.max_targets or 20):
            provider.check_targets(list(targets.items()), what=self.what,
                                   limit=params.max_targets)


@register
class DisableSp(_SpTarget):
    name = "entra.sp.disable"
    description = "Disable an Entra ID service principal (accountEnabled=false): no new tokens"
    risk = Risk.HIGH
    reversible = True
    mutating = True
    field = "accountEnabled"
    what = "service principal"
    verb = "service principal disables"
    operation = "graph:PATCH /servicePrincipals/{id}"
    outputs: ClassVar[tuple[str, ...]] = ("object_id", "app_id")
    permissions: ClassVar[tuple[str, ...]] = (APP_READ, APP_WRITE)

    async def read_targets(self, ctx: ActionContext,
                           params: Any) -> tuple[dict[str, dict[str, Any]], list[str]]:
        sp = await read_object(ctx, "service_principals", params.service_principal)
        warnings = ["Access tokens the service principal already holds stay valid until they "
                    "expire (about an hour)"]
        if sp.service_principal_type == "ManagedIdentity":
            warnings.append("Managed identities are not covered by Continuous Access "
                            "Evaluation: their tokens live up to 24 hours")
        return {str(sp.id): {"name": f"{sp.display_name} ({sp.app_id})", "sp": str(sp.id),
                             "sp_name": str(sp.display_name), "app_id": str(sp.app_id),
                             "before": sp.account_enabled, "after": False}}, warnings

    def outputs_of(self, targets: dict[str, dict[str, Any]]) -> dict[str, Any]:
        (tid, target), = targets.items()
        return {"object_id": tid, "app_id": target["app_id"]}

    async def current(self, ctx: ActionContext, plan: Plan, target: str) -> Any:
        return (await read_object(ctx, "service_principals", target)).account_enabled

    async def change(self, ctx: ActionContext, plan: Plan, target: str, value: Any) -> None:
        from msgraph.generated.models.service_principal import ServicePrincipal

        await entra(ctx).call(lambda g: g.service_principals.by_service_principal_id(target)
                              .patch(ServicePrincipal(account_enabled=bool(value))),
                              permission=APP_WRITE, resource=f"service principal {target}")


class _RemovePasswords(_SpTarget):
    """removePassword by key id, on an application or a service principal."""

    risk = Risk.HIGH
    reversible = False
    mutating = True
    field = "present"
    what = "client secret"
    verb = "secret removals"
    kind: ClassVar[str]
    key: ClassVar[str]
    outputs: ClassVar[tuple[str, ...]] = ("removed",)
    permissions: ClassVar[tuple[str, ...]] = (APP_READ, APP_WRITE)

    async def read_targets(self, ctx: ActionContext,
                           params: Any) -> tuple[dict[str, dict[str, Any]], list[str]]:
        obj = await read_object(ctx, self.kind, getattr(params, self.key))
        targets = {}
        for cred in self.credentials(obj):
            if params.key_ids and cred["key_id"] not in params.key_ids:
                continue
            targets[cred["key_id"]] = {
                "name": f"{cred['key_id']} {cred['name']} ({cred.get('hint') or cred.get('type')}"
                        f", expires {cred['expires']})", "sp": str(obj.id),
                "sp_name": str(obj.display_name), "before": True, "after": False}
        missing = set(params.key_ids) - set(targets)
        if missing:
            raise ActionError(f"{obj.display_name} has no credential {', '.join(sorted(missing))}",
                              kind=ErrorKind.NOT_FOUND, retryable=False,
                              fix="check the key ids with entra.app.describe")
        return targets, [] if targets else [f"{obj.display_name} has no {self.what}s"]

    def credentials(self, obj: Any) -> list[dict[str, Any]]:
        return passwords(obj)

    def outputs_of(self, targets: dict[str, dict[str, Any]]) -> dict[str, Any]:
        return {"removed": list(targets)}

    async def current(self, ctx: ActionContext, plan: Plan, target: str) -> Any:
        owner = plan.state["targets"][target]["sp"]
        obj = await read_object(ctx, self.kind, owner)
        return target in {c["key_id"] for c in self.credentials(obj)}

    async def change(self, ctx: ActionContext, plan: Plan, target: str, value: Any) -> None:
        import uuid

        owner = plan.state["targets"][target]["sp"]
        if self.kind == "applications":
            from msgraph.generated.applications.item.remove_password.remove_password_post_request_body import (  # noqa: E501
                RemovePasswordPostRequestBody,
            )

            body = RemovePasswordPostRequestBody(key_id=uuid.UUID(target))
            await entra(ctx).call(lambda g: g.applications.by_application_id(owner)
                                  .remove_password.post(body), permission=APP_WRITE,
                                  resource=f"application {owner}")
            return
        from msgraph.generated.service_principals.item.remove_password.remove_password_post_request_body import (  # noqa: E501
            RemovePasswordPostRequestBody as SpBody,
        )

        sp_body = SpBody(key_id=uuid.UUID(target))
        await entra(ctx).call(lambda g: g.service_principals.by_service_principal_id(owner)
                              .remove_password.post(sp_body), permission=APP_WRITE,
                              resource=f"service principal {owner}")


@register
class AppRemovePassword(_RemovePasswords):
    name = "entra.app.remove_password"
    description = "Remove an application's client secrets by key id (az ad app credential reset)"
    params_model = KeyParams
    kind = "applications"
    key = "app"
    operation = "graph:POST /applications/{id}/removePassword"


@register
class SpRemovePassword(_RemovePasswords):
    name = "entra.sp.remove_password"
    description = "Remove a service principal's own client secrets by key id"
    params_model = SpKeyParams
    kind = "service_principals"
    key = "service_principal"
    operation = "graph:POST /servicePrincipals/{id}/removePassword"


@register
class AppRemoveCertificate(_RemovePasswords):
    name = "entra.app.remove_certificate"
    description = ("Remove an application's certificates by key id, by updating keyCredentials "
                   "without them (removeKey would need a proof signed by a current key)")
    params_model = KeyParams
    kind = "applications"
    key = "app"
    what = "certificate"
    verb = "certificate removals"
    operation = "graph:PATCH /applications/{id} keyCredentials"

    def credentials(self, obj: Any) -> list[dict[str, Any]]:
        return certificates(obj)

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        from msgraph.generated.models.application import Application

        planned = plan.state["targets"]
        owner = next(iter(planned.values()))["sp"] if planned else None
        if owner is None:
            return Result(outputs={"removed": []}, details=["no certificate to remove"])
        app = await read_object(ctx, self.kind, owner)
        present = {str(k.key_id) for k in app.key_credentials or []}
        todo = [k for k in planned if k in present]
        keep = [k for k in app.key_credentials or [] if str(k.key_id) not in todo]
        for key in keep:
            key.key = None  # Graph keeps an existing key by its keyId; we never had its bytes

        async def patch() -> None:
            await entra(ctx).call(lambda g: g.applications.by_application_id(owner).patch(
                Application(key_credentials=keep)), permission=APP_WRITE,
                resource=f"application {owner}")

        if todo:
            await run_targets(ctx, Coroutines(1), self.name,
                              [TargetCall(",".join(todo), self.operation, patch)], verb=self.verb)
        return Result(outputs={"removed": todo},
                      details=[f"{plural(len(todo), 'certificate')} removed from "
                               f"{app.display_name}; {len(keep)} kept"])


class _SpItems(_SpTarget):
    """Delete each of a service principal's app role assignments or delegated grants."""

    params_model = SpItemsParams
    risk = Risk.HIGH
    reversible = False
    mutating = True
    field = "present"
    outputs: ClassVar[tuple[str, ...]] = ("removed",)

    async def items(self, ctx: ActionContext, sp_id: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    async def read_targets(self, ctx: ActionContext,
                           params: Any) -> tuple[dict[str, dict[str, Any]], list[str]]:
        sp = await read_object(ctx, "service_principals", params.service_principal)
        targets = {}
        for item in await self.items(ctx, str(sp.id)):
            if params.ids and item["id"] not in params.ids:
                continue
            label = item.get("scope") or item.get("app_role_id")
            targets[item["id"]] = {"name": f"{item['resource']}: {label}", "sp": str(sp.id),
                                   "sp_name": str(sp.display_name), "before": True,
                                   "after": False}
        return targets, [] if targets else [f"{sp.display_name} has no {self.what}s"]

    def outputs_of(self, targets: dict[str, dict[str, Any]]) -> dict[str, Any]:
        return {"removed": list(targets)}

    async def current(self, ctx: ActionContext, plan: Plan, target: str) -> Any:
        sp_id = plan.state["targets"][target]["sp"]
        return target in {i["id"] for i in await self.items(ctx, sp_id)}


@register
class SpRemoveAppRoleAssignments(_SpItems):
    name = "entra.sp.remove_app_role_assignments"
    description = ("Remove a service principal's app role assignments (the application "
                   "permissions it was granted, e.g. Mail.Read on Microsoft Graph)")
    what = "app role assignment"
    verb = "assignment removals"
    operation = "graph:DELETE /servicePrincipals/{id}/appRoleAssignments/{id}"
    permissions: ClassVar[tuple[str, ...]] = (APP_READ, "AppRoleAssignment.ReadWrite.All")

    async def items(self, ctx: ActionContext, sp_id: str) -> list[dict[str, Any]]:
        return await sp_assignments(ctx, sp_id)

    async def change(self, ctx: ActionContext, plan: Plan, target: str, value: Any) -> None:
        sp_id = plan.state["targets"][target]["sp"]
        await entra(ctx).call(lambda g: g.service_principals.by_service_principal_id(sp_id)
                              .app_role_assignments.by_app_role_assignment_id(target).delete(),
                              permission="AppRoleAssignment.ReadWrite.All",
                              resource=f"app role assignment {target}")


@register
class SpRemoveOauthGrants(_SpItems):
    name = "entra.sp.remove_oauth_grants"
    description = ("Remove the delegated permission grants (user or admin consent) of a "
                   "service principal: the consent-phishing case")
    what = "delegated grant"
    verb = "grant removals"
    operation = "graph:DELETE /oauth2PermissionGrants/{id}"
    permissions: ClassVar[tuple[str, ...]] = (APP_READ, "Directory.Read.All",
                                              "DelegatedPermissionGrant.ReadWrite.All")

    def extra_warnings(self, targets: dict[str, dict[str, Any]]) -> list[str]:
        return [f"Refresh tokens already issued under these grants keep working until the "
                f"users' sessions are revoked. {CAE_NOTE}"]

    async def items(self, ctx: ActionContext, sp_id: str) -> list[dict[str, Any]]:
        return await sp_grants(ctx, sp_id)

    async def change(self, ctx: ActionContext, plan: Plan, target: str, value: Any) -> None:
        await entra(ctx).call(lambda g: g.oauth2_permission_grants
                              .by_o_auth2_permission_grant_id(target).delete(),
                              permission="DelegatedPermissionGrant.ReadWrite.All",
                              resource=f"delegated grant {target}")
