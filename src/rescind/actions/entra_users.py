"""Entra ID user actions: the phished-user case (describe, revoke, disable, reset, methods).

One concern (~470 lines): every action here finds and reads a user the same way
(by id or UPN, with the guardrails on who rescind is), which is most of each plan.
"""

from __future__ import annotations

import secrets
import string
from datetime import UTC, datetime
from functools import partial
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import BaseModel, Field

from rescind.actions.base import Action, ActionContext, Plan, Result, Risk, Verification
from rescind.actions.common import bounded
from rescind.actions.entra_common import (
    CAE_NOTE,
    PRIVILEGED_ROLES,
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
from rescind.modes import Mode

USER_FIELDS = ["id", "userPrincipalName", "displayName", "accountEnabled",
               "onPremisesSyncEnabled", "signInSessionsValidFromDateTime",
               "lastPasswordChangeDateTime"]
_METHOD_SEGMENTS = {"PhoneAuthenticationMethod": "phone_methods",
                    "MicrosoftAuthenticatorAuthenticationMethod":
                        "microsoft_authenticator_methods",
                    "Fido2AuthenticationMethod": "fido2_methods",
                    "EmailAuthenticationMethod": "email_methods",
                    "SoftwareOathAuthenticationMethod": "software_oath_methods",
                    "TemporaryAccessPassAuthenticationMethod": "temporary_access_pass_methods"}


class UsersParams(EntraParams):
    users: StrList = Field(min_length=1, description="Users: object ids or user principal "
                                                     "names (alice@example.com)")


class UserParams(EntraParams):
    user: str = Field(description="The user: object id or user principal name")


def user_path(key: str) -> str:
    """``/users/{key}`` for an object id or a UPN, quoted one way for reads and writes:
    '@' kept, as Graph shows UPNs; '/', '#' (a guest's ``#EXT#``), '?' escaped."""
    return f"/users/{quote(key, safe='@')}"


async def read_user(ctx: ActionContext, key: str, fields: list[str] = USER_FIELDS,
                    permission: str = "User.Read.All") -> dict[str, Any]:
    # Read as JSON, not as msgraph-sdk models: building a User model costs tens of ms of
    # CPU (Entity's deserializer table of every Graph type), which made planning and
    # verifying 500 users CPU-bound, slower than a sequential loop of PATCHes (bench/entra.py).
    # In a $batch with the other users read at the same time: one request per 20 users.
    url = f"{user_path(key)}?$select={','.join(fields)}"
    user = await entra(ctx).batched("GET", url, permission=permission,
                                    resource=f"user {key}") or {}
    if not user.get("id"):
        raise ActionError(f"user {key} was not found", kind=ErrorKind.NOT_FOUND, retryable=False)
    return {
        "id": user["id"], "upn": user.get("userPrincipalName"), "name": user.get("displayName"),
        "enabled": user.get("accountEnabled"),
        "on_prem_sync": bool(user.get("onPremisesSyncEnabled")),
        "sessions_valid_from": _iso(_when(user.get("signInSessionsValidFromDateTime"))),
        "password_changed": _iso(_when(user.get("lastPasswordChangeDateTime"))),
        "last_sign_in": _iso(_when((user.get("signInActivity") or {})
                                   .get("lastSignInDateTime")))
        if user.get("signInActivity") else None}


async def directory_roles(ctx: ActionContext, user_id: str) -> list[str]:
    provider = entra(ctx)
    resource = f"user {user_id}'s roles"
    page = await provider.batched("GET", f"{user_path(user_id)}/memberOf",
                                  permission="Directory.Read.All", resource=resource) or {}
    roles: list[str] = []
    while True:  # a user can be in more groups than one page holds
        roles += [str(o.get("displayName")) for o in page.get("value") or []
                  if o.get("@odata.type") == "#microsoft.graph.directoryRole"]
        url = page.get("@odata.nextLink")
        if not url:
            return sorted(roles)
        page = await provider.get_json(url, permission="Directory.Read.All",
                                       resource=resource)


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value else None


def user_warnings(user: dict[str, Any], roles: list[str]) -> list[str]:
    notes = []
    if user["on_prem_sync"]:
        notes.append(f"{user['upn']} is synced from on-premises AD: the next sync re-enables "
                     "it and resets what is changed here; disable it in AD as well")
    privileged = sorted(set(roles) & PRIVILEGED_ROLES)
    if privileged:
        notes.append(f"{user['upn']} holds privileged directory roles: "
                     f"{', '.join(privileged)}; review what it did with them")
    return notes


class _UserTargets(TargetsAction):
    what = "user"
    params_model: ClassVar[type[BaseModel]] = UsersParams
    providers = ("entra",)

    async def read_targets(self, ctx: ActionContext,
                           params: Any) -> tuple[dict[str, dict[str, Any]], list[str]]:
        async def one(key: str) -> tuple[dict[str, Any], list[str]]:
            user = await read_user(ctx, key)
            return user, await directory_roles(ctx, user["id"])

        # Read as many users at once as the provider's batches hold, kept in the order given.
        found = await bounded(dict.fromkeys(params.users), one, self.width_of(ctx))
        targets: dict[str, dict[str, Any]] = {}
        warnings: list[str] = []
        for user, roles in found:
            if user["id"] in targets:  # the same user by UPN and by id
                continue
            warnings += user_warnings(user, roles)
            targets[user["id"]] = {"name": user["upn"], "before": self.before(user),
                                   "after": self.after(user)}
        return targets, warnings

    def before(self, user: dict[str, Any]) -> Any:
        return user["enabled"]

    def after(self, user: dict[str, Any]) -> Any:
        return False

    def width_of(self, ctx: ActionContext) -> int:
        return entra(ctx).targets_at_once  # reads (and changes) go in $batch requests

    async def current(self, ctx: ActionContext, plan: Plan, target: str) -> Any:
        return self.before(await read_user(ctx, target))

    def outputs_of(self, targets: dict[str, dict[str, Any]]) -> dict[str, Any]:
        return {"users": [t["name"] for t in targets.values()],
                "user_ids": list(targets)}


@register
class DisableUser(_UserTargets):
    name = "entra.user.disable"
    description = "Disable Entra ID users (accountEnabled=false)"
    risk = Risk.HIGH
    reversible = True
    mutating = True
    field = "accountEnabled"
    verb = "account disables"
    operation = "graph:PATCH /users/{id}"
    outputs: ClassVar[tuple[str, ...]] = ("users", "user_ids")
    permissions: ClassVar[tuple[str, ...]] = ("User.Read.All", "Directory.Read.All",
                                              "User.EnableDisableAccount.All")

    def extra_warnings(self, targets: dict[str, dict[str, Any]]) -> list[str]:
        return ["Disabling stops new sign-ins and token refreshes; revoke sessions too "
                f"(entra.user.revoke_sessions). {CAE_NOTE}"]

    async def change(self, ctx: ActionContext, plan: Plan, target: str, value: Any) -> None:
        await entra(ctx).batched("PATCH", user_path(target),
                                 {"accountEnabled": bool(value)},
                                 permission="User.EnableDisableAccount.All",
                                 resource=f"user {target}")


@register
class RevokeSessions(_UserTargets):
    name = "entra.user.revoke_sessions"
    description = "Revoke every refresh token and session cookie of Entra ID users"
    risk = Risk.MEDIUM
    reversible = False
    mutating = True
    field = "signInSessionsValidFromDateTime"
    verb = "session revocations"
    operation = "graph:POST /users/{id}/revokeSignInSessions"
    outputs: ClassVar[tuple[str, ...]] = ("users", "user_ids")
    permissions: ClassVar[tuple[str, ...]] = ("User.Read.All", "Directory.Read.All",
                                              "User.RevokeSessions.All")

    def before(self, user: dict[str, Any]) -> Any:
        return user["sessions_valid_from"]

    def after(self, user: dict[str, Any]) -> Any:
        return "now"

    def extra_warnings(self, targets: dict[str, dict[str, Any]]) -> list[str]:
        return [CAE_NOTE]

    async def change(self, ctx: ActionContext, plan: Plan, target: str, value: Any) -> None:
        await entra(ctx).batched("POST", f"{user_path(target)}/revokeSignInSessions",
                                 permission="User.RevokeSessions.All",
                                 resource=f"user {target}")

    async def verify(self, ctx: ActionContext, plan: Plan,
                     result: Result | None) -> Verification:
        if ctx.mode is Mode.DRY_RUN:
            return Verification(ok=True, detail="dry-run: nothing was changed")
        planned = datetime.fromtimestamp(plan.state["planned"], UTC).replace(microsecond=0)
        stale = []
        current = await self.current_all(ctx, plan, missing_ok=False)
        for tid, target in plan.state["targets"].items():
            now = current[tid]
            if now is None or datetime.fromisoformat(now) < planned:
                stale.append(f"{target['name']}: sessions valid from {now}")
        if stale:
            return Verification(ok=False, detail="; ".join(stale))
        count = plural(len(plan.state["targets"]), "user")
        return Verification(ok=True, detail="read back: sessions issued before the plan are "
                                            f"invalid for {count}")

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        # A revocation is never "drift": revoking again is what the responder wants.
        calls = [TargetCall(tid, self.operation, partial(self.change, ctx, plan, tid, None))
                 for tid in plan.state["targets"]]
        done = await run_targets(ctx, Coroutines(self.width_of(ctx)), self.name, calls,
                                 verb=self.verb)
        return Result(outputs=self.outputs_of(plan.state["targets"]),
                      details=[f"sessions revoked for {plural(len(done), 'user')}"])


@register
class DescribeUser(Action[Any]):
    name = "entra.user.describe"
    description = ("Read an Entra ID user: account state, sign-in activity, directory roles, "
                   "authentication methods, owned apps, on-premises sync")
    params_model = UserParams
    providers = ("entra",)
    risk = Risk.LOW
    reversible = False
    mutating = False
    outputs: ClassVar[tuple[str, ...]] = ("user_id", "upn", "enabled", "roles", "methods",
                                          "owned_apps", "on_prem_sync", "last_sign_in")
    permissions: ClassVar[tuple[str, ...]] = ("User.Read.All", "AuditLog.Read.All",
                                              "Directory.Read.All",
                                              "UserAuthenticationMethod.Read.All")

    async def plan(self, ctx: ActionContext, params: Any, step_id: str) -> Plan:
        user = await read_user(ctx, params.user, [*USER_FIELDS, "signInActivity"],
                               permission="AuditLog.Read.All")
        roles = await directory_roles(ctx, user["id"])
        return Plan(action=self.name, step_id=step_id, params=params.model_dump(mode="json"),
                    risk=self.risk, reversible=False, mutating=False,
                    summary=f"Read user {user['upn']}", warnings=user_warnings(user, roles),
                    state={"user": user, "roles": roles})

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        user, roles = plan.state["user"], plan.state["roles"]
        methods = await auth_methods(ctx, user["id"])
        owned = await entra(ctx).call(lambda g: g.users.by_user_id(user["id"]).owned_objects.get(),
                                      permission="Directory.Read.All",
                                      resource=f"user {user['upn']}'s owned objects")
        apps = [str(o.display_name) for o in (owned.value if owned else []) or []
                if type(o).__name__ == "Application"]
        details = [f"{user['upn']}: {'enabled' if user['enabled'] else 'disabled'}, last "
                   f"sign-in {user['last_sign_in'] or 'unknown'}, sessions valid from "
                   f"{user['sessions_valid_from']}",
                   f"directory roles: {', '.join(roles) or 'none'}",
                   "authentication methods: " + (", ".join(
                       f"{m['type']} {m['detail']} (added {m['created'] or 'unknown'})"
                       for m in methods) or "none"),
                   f"owned applications: {', '.join(apps) or 'none'}"]
        return Result(outputs={"user_id": user["id"], "upn": user["upn"],
                               "enabled": user["enabled"], "roles": roles, "methods": methods,
                               "owned_apps": apps, "on_prem_sync": user["on_prem_sync"],
                               "last_sign_in": user["last_sign_in"]}, details=details)


async def auth_methods(ctx: ActionContext, user_id: str) -> list[dict[str, Any]]:
    page = await entra(ctx).call(
        lambda g: g.users.by_user_id(user_id).authentication.methods.get(),
        permission="UserAuthenticationMethod.Read.All", resource=f"user {user_id}'s methods")
    found = []
    for method in (page.value if page else []) or []:
        kind = type(method).__name__
        detail = (getattr(method, "phone_number", None) or getattr(method, "display_name", None)
                  or getattr(method, "email_address", None) or "")
        found.append({"id": method.id, "type": kind.replace("AuthenticationMethod", "")
                      or kind, "class": kind, "detail": str(detail),
                      "created": _iso(getattr(method, "created_date_time", None))})
    return found


@register
class ResetPassword(_UserTargets):
    name = "entra.user.reset_password"
    description = ("Reset an Entra ID user's password to a generated temporary one (shown "
                   "once, never recorded), changed at next sign-in")
    params_model = UserParams
    risk = Risk.HIGH
    reversible = False
    mutating = True
    field = "lastPasswordChangeDateTime"
    verb = "password resets"
    operation = "graph:PATCH /users/{id} passwordProfile"
    outputs: ClassVar[tuple[str, ...]] = ("users", "user_ids", "temporary_password")
    secret_outputs: ClassVar[tuple[str, ...]] = ("temporary_password",)
    permissions: ClassVar[tuple[str, ...]] = ("User.Read.All", "Directory.Read.All",
                                              "User-PasswordProfile.ReadWrite.All")

    async def read_targets(self, ctx: ActionContext,
                           params: Any) -> tuple[dict[str, dict[str, Any]], list[str]]:
        return await super().read_targets(ctx, UsersParams(users=[params.user]))

    def before(self, user: dict[str, Any]) -> Any:
        return user["password_changed"]

    def after(self, user: dict[str, Any]) -> Any:
        return "now"

    def extra_warnings(self, targets: dict[str, dict[str, Any]]) -> list[str]:
        return ["The temporary password is shown once and never recorded: give it to the "
                "user through a verified channel (not the mailbox the attacker may read)"]

    async def change(self, ctx: ActionContext, plan: Plan, target: str, value: Any) -> None:
        raise NotImplementedError  # apply sets the password itself

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        from msgraph.generated.models.password_profile import PasswordProfile
        from msgraph.generated.models.user import User

        provider = entra(ctx)
        (target, planned), = plan.state["targets"].items()
        if await self.current(ctx, plan, target) != planned["before"]:
            raise ActionError(f"the password of {planned['name']} changed since the plan",
                              kind=ErrorKind.CONFLICT,
                              fix="retry to re-plan and approve the new plan")
        password = temporary_password()
        update = User(password_profile=PasswordProfile(force_change_password_next_sign_in=True,
                                                       password=password))
        await run_targets(ctx, Coroutines(1), self.name, [TargetCall(
            target, self.operation, lambda: provider.call(
                lambda g: g.users.by_user_id(target).patch(update),
                permission="User-PasswordProfile.ReadWrite.All",
                resource=f"user {planned['name']}"))], verb=self.verb)
        outputs = self.outputs_of(plan.state["targets"])
        # Under the dry-run guard nothing was set, so there is no password to show.
        if not provider.guarded:
            outputs["temporary_password"] = password
        return Result(outputs=outputs, details=[f"{planned['name']}: temporary password set; "
                                                "it must be changed at next sign-in"])

    async def verify(self, ctx: ActionContext, plan: Plan,
                     result: Result | None) -> Verification:
        if ctx.mode is Mode.DRY_RUN:
            return Verification(ok=True, detail="dry-run: nothing was changed")
        (target, planned), = plan.state["targets"].items()
        now = await self.current(ctx, plan, target)
        if now == planned["before"]:
            return Verification(ok=False, detail=f"{planned['name']}: password unchanged "
                                                 f"(last changed {now})")
        return Verification(ok=True, detail=f"read back: {planned['name']}'s password changed "
                                            f"at {now}")


def temporary_password(length: int = 20) -> str:
    """Letters, digits and symbols, each class present (Entra's complexity rule)."""
    alphabet = string.ascii_letters + string.digits + "!@#$%^&*-_=+"
    while True:
        value = "".join(secrets.choice(alphabet) for _ in range(length))
        if (any(c.islower() for c in value) and any(c.isupper() for c in value)
                and any(c.isdigit() for c in value) and any(not c.isalnum() for c in value)):
            return value


class MethodsParams(UserParams):
    since: str = Field(default="-7d", description="Start of the incident window: methods "
                                                  "added since then are removed (offset or ISO)")
    method_ids: StrList = Field(default_factory=list, description="Remove exactly these "
                                "method ids instead (e.g. a phone method, whose creation "
                                "time Graph does not give)")


@register
class RemoveAuthMethods(TargetsAction):
    name = "entra.user.remove_auth_methods"
    description = ("Remove the authentication methods (phone, authenticator app, FIDO2 key, "
                   "...) added to an Entra ID user during the incident")
    params_model = MethodsParams
    providers = ("entra",)
    risk = Risk.HIGH
    reversible = False
    mutating = True
    field = "registered"
    what = "authentication method"
    verb = "method removals"
    operation = "graph:DELETE /users/{id}/authentication/{kind}/{method}"
    outputs: ClassVar[tuple[str, ...]] = ("removed",)
    permissions: ClassVar[tuple[str, ...]] = ("User.Read.All", "Directory.Read.All",
                                              "UserAuthenticationMethod.Read.All",
                                              "UserAuthenticationMethod.ReadWrite.All")

    async def read_targets(self, ctx: ActionContext,
                           params: Any) -> tuple[dict[str, dict[str, Any]], list[str]]:
        from rescind.timeline.window import parse_when

        user = await read_user(ctx, params.user)
        since = parse_when(params.since)
        warnings = []
        targets: dict[str, dict[str, Any]] = {}
        for method in await auth_methods(ctx, user["id"]):
            if method["class"] not in _METHOD_SEGMENTS:
                continue  # the password is reset, not removed
            created = method["created"]
            named = method["id"] in params.method_ids
            recent = created is not None and datetime.fromisoformat(created) >= since
            if named or (not params.method_ids and recent):
                targets[method["id"]] = {
                    "name": f"{method['type']} {method['detail']} (added "
                            f"{created or 'unknown'})".replace("  ", " "),
                    "before": True, "after": False, "user": user["id"],
                    "upn": user["upn"], "class": method["class"]}
            elif created is None and not params.method_ids:
                warnings.append(f"{method['type']} {method['detail']} ({method['id']}) has no "
                                "creation time in Graph; check the audit log for 'User "
                                "registered security info' and name it in method_ids to "
                                "remove it")
        if not targets:
            warnings.append(f"no method of {user['upn']} was added since {params.since}")
        return targets, warnings

    def guard_targets(self, provider: Any, targets: dict[str, dict[str, Any]],
                      params: Any) -> None:
        owners = {(t["user"], t["upn"]) for t in targets.values()}
        provider.check_targets(sorted(owners), what="user", limit=None)

    def summary(self, targets: dict[str, dict[str, Any]]) -> str:
        user = next(iter(targets.values()), {}).get("upn", "the user")
        return (f"Remove {plural(len(targets), 'authentication method')} of {user}: "
                + "; ".join(t["name"] for t in targets.values()))

    def outputs_of(self, targets: dict[str, dict[str, Any]]) -> dict[str, Any]:
        return {"removed": [t["name"] for t in targets.values()]}

    async def current(self, ctx: ActionContext, plan: Plan, target: str) -> Any:
        planned = plan.state["targets"][target]
        present = {m["id"] for m in await auth_methods(ctx, planned["user"])}
        return target in present

    async def change(self, ctx: ActionContext, plan: Plan, target: str, value: Any) -> None:
        planned = plan.state["targets"][target]
        segment = _METHOD_SEGMENTS[planned["class"]]

        async def delete(g: Any) -> Any:
            methods = getattr(g.users.by_user_id(planned["user"]).authentication, segment)
            by_id = next(getattr(methods, n) for n in dir(methods) if n.startswith("by_"))
            return await by_id(target).delete()

        await entra(ctx).call(delete, permission="UserAuthenticationMethod.ReadWrite.All",
                              resource=f"method {target} of {planned['upn']}")
