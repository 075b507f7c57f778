"""A loopback Microsoft Graph v1.0 fake: the simulated Entra tenant of exercise mode and tests.

It speaks enough of Graph for rescind's actions and timeline: users (state, sign-in
activity, directory roles through ``memberOf``, authentication methods, owned
objects, ``revokeSignInSessions``), applications and service principals (password
and key credentials, ``removePassword``, owners, app role assignments, delegated
grants), ``auditLogs/directoryAudits`` and ``auditLogs/signIns`` with ``$filter``,
``$top`` and ``@odata.nextLink`` paging, ``$batch``, OData errors, and the audit
logs' published limit (5 requests per 10 s per tenant; 429 with ``Retry-After``).

Longer than most modules (~640 lines) on purpose: it is one fake of one API over one
in-memory tenant, and every route reads and writes that shared state; split per
resource, each part would reach into the others.

Each request is logged as the least-privileged Graph permission it needs. Changes
rescind makes appear in the directory audit log, initiated by the caller whose
bearer token (an unsigned JWT in the simulation) made them.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from rescind.sandbox.graph_http import JsonFake, RateLimit, Reply, Request
from rescind.sandbox.graph_scenario import (
    EntraSpec,
    Scenario,
    ServicePrincipalSpec,
    UserSpec,
    load_scenario,
)
from rescind.timeline.window import parse_when

GUID = r"[0-9a-fA-F-]{36}"
BATCH_LIMIT = 20  # requests in one $batch (Graph's documented limit)
ID = r"[^/()]+"
_METHOD_TYPES = {"phone": "phoneAuthenticationMethod",
                 "microsoftAuthenticator": "microsoftAuthenticatorAuthenticationMethod",
                 "fido2": "fido2AuthenticationMethod", "email": "emailAuthenticationMethod",
                 "password": "passwordAuthenticationMethod",
                 "softwareOath": "softwareOathAuthenticationMethod",
                 "temporaryAccessPass": "temporaryAccessPassAuthenticationMethod"}
_METHOD_PATHS = {"phoneMethods": "phone", "microsoftAuthenticatorMethods": "microsoftAuthenticator",
                 "fido2Methods": "fido2", "emailMethods": "email",
                 "softwareOathMethods": "softwareOath",
                 "temporaryAccessPassMethods": "temporaryAccessPass"}
_FILTER_TERM = re.compile(r"([\w/]+)\s+(eq|ge|le|gt|lt)\s+('(?:[^']|'')*'|[\w:.+-]+)")
_ANY_TERM = re.compile(r"([\w/]+)/any\(\w+:\s*\w+(/[\w/]+)?\s+eq\s+'([^']*)'\)")
_ROLE_TEMPLATES = {"Global Administrator": "62e90394-69f5-4237-9190-012177145e10",
                   "Privileged Authentication Administrator":
                       "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
                   "Application Administrator": "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
                   "User Administrator": "fe930be7-5e62-47db-91af-98c3a49a38b1"}


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def token_claims(authorization: str | None) -> dict[str, Any]:
    """The claims of a bearer token, unverified (what the simulation knows of its caller)."""
    if not authorization or not authorization.lower().startswith("bearer "):
        return {}
    parts = authorization.split(" ", 1)[1].split(".")
    if len(parts) < 2:
        return {}
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except ValueError:
        return {}
    return claims if isinstance(claims, dict) else {}


def _path_value(record: Mapping[str, Any], path: str) -> Any:
    value: Any = record
    for part in path.split("/"):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def odata_filter(records: list[dict[str, Any]], expression: str) -> list[dict[str, Any]]:
    """The records matching an ``and`` of comparisons and ``x/any(t: t/y eq 'v')`` terms.

    ``or`` groups in parentheses match when any of their terms does. Enough of OData
    for the filters rescind sends; anything else is refused with 400 like Graph does.
    """
    out = []
    clauses = [c.strip() for c in re.split(r"\s+and\s+(?![^()]*\))", expression) if c.strip()]
    for record in records:
        if all(_clause(record, clause) for clause in clauses):
            out.append(record)
    return out


def _clause(record: Mapping[str, Any], clause: str) -> bool:
    text = clause.strip()
    if text.startswith("(") and text.endswith(")") and not text.startswith("(t:"):
        return any(_clause(record, part) for part in re.split(r"\s+or\s+", text[1:-1]))
    any_match = _ANY_TERM.fullmatch(text)
    if any_match:
        items = _path_value(record, any_match.group(1)) or []
        inner = (any_match.group(2) or "").strip("/")
        return any((_path_value(i, inner) if inner else i) == any_match.group(3)
                   for i in items)
    match = _FILTER_TERM.fullmatch(text)
    if not match:
        raise Reply(400, "BadRequest", f"Invalid filter clause: {clause}")
    field, op, literal = match.groups()
    value = _path_value(record, field)
    wanted: Any = literal[1:-1].replace("''", "'") if literal.startswith("'") else literal
    if op == "eq":
        if isinstance(value, str) and isinstance(wanted, str):
            return value.lower() == wanted.lower()
        return str(value).lower() == str(wanted).lower()
    if value is None:
        return False
    left, right = parse_when(str(value)), parse_when(str(wanted))
    return {"ge": left >= right, "le": left <= right, "gt": left > right,
            "lt": left < right}[op]


class GraphFake(JsonFake):
    """The simulated tenant's state (plain Graph JSON) and its routes."""

    STATE = ("users", "methods", "roles", "owned", "applications", "app_owners",
             "service_principals", "sp_owners", "app_role_assignments", "grants", "audits",
             "sign_ins")

    def __init__(self, spec: EntraSpec, *, now: datetime | None = None,
                 audit_limit: tuple[int, float] = (5, 10.0)) -> None:
        super().__init__()
        self.now = now or datetime.now(UTC)
        self.tenant_id = spec.tenant_id
        self.responder_id = spec.responder.id
        self.users: dict[str, dict[str, Any]] = {}
        self.methods: dict[str, list[dict[str, Any]]] = {}
        self.roles: dict[str, list[str]] = {}
        self.owned: dict[str, list[str]] = {}
        self.applications: dict[str, dict[str, Any]] = {}
        self.app_owners: dict[str, list[str]] = {}
        self.service_principals: dict[str, dict[str, Any]] = {}
        self.sp_owners: dict[str, list[str]] = {}
        self.app_role_assignments: dict[str, list[dict[str, Any]]] = {}
        self.grants: dict[str, dict[str, Any]] = {}
        self.audits: list[dict[str, Any]] = []
        self.sign_ins: list[dict[str, Any]] = []
        self.page_size_cap = 1000
        # Whether a $batch costs latency_ms per request inside it (run one after the
        # other) rather than once, as a batch whose items Graph runs side by side.
        self.batch_item_latency = False
        self.inject_specs = list(spec.injects)
        self.limits.append(RateLimit(re.compile(r"^/v1\.0/auditLogs/"), *audit_limit))
        self._seed(spec)
        self._routes()

    # -- seeding -------------------------------------------------------------------------
    def _when(self, value: str | None) -> str | None:
        return iso(parse_when(value, self.now)) if value else None

    def _seed(self, spec: EntraSpec) -> None:
        for user in [spec.responder, *spec.users]:
            self._add_user(user)
        for app in spec.applications:
            self.applications[app.id] = {
                "id": app.id, "appId": app.app_id, "displayName": app.display_name,
                "passwordCredentials": [self._password(p) for p in app.passwords],
                "keyCredentials": [{
                    "keyId": k.key_id, "displayName": k.display_name, "type": k.type,
                    "usage": k.usage, "startDateTime": self._when(k.start),
                    "endDateTime": self._when(k.end),
                    "customKeyIdentifier": base64.b64encode(k.key_id[:20].encode()).decode()}
                    for k in app.keys]}
            self.app_owners[app.id] = list(app.owners)
        for sp in spec.service_principals:
            self._add_sp(sp)
        for n, audit in enumerate(spec.audit):
            by: dict[str, Any] = {}
            if audit.by and audit.by.user:
                who = self._find_user(audit.by.user)
                by["user"] = {"id": who["id"] if who else audit.by.user,
                              "userPrincipalName": who["userPrincipalName"] if who else None,
                              "ipAddress": audit.by.ip or None}
            elif audit.by and audit.by.app:
                principal = self.service_principals.get(audit.by.app, {})
                by["app"] = {"servicePrincipalId": audit.by.app,
                             "appId": principal.get("appId"),
                             "displayName": principal.get("displayName")}
            self.audits.append({
                "id": f"Directory_{uuid.UUID(int=n + 1)}", "category": audit.category,
                "correlationId": str(uuid.UUID(int=(n + 1) << 64)),
                "result": audit.result, "resultReason": "",
                "activityDisplayName": audit.activity,
                "activityDateTime": self._when(audit.time), "loggedByService": audit.service,
                "operationType": audit.activity.split(" ", 1)[0].capitalize(),
                "initiatedBy": by, "additionalDetails": [],
                "targetResources": [self._target(t) for t in audit.targets]})
        for n, sign_in in enumerate(spec.sign_ins):
            self.sign_ins.append(self._sign_in(n, sign_in.time, sign_in.user,
                                               sign_in.service_principal, sign_in.app,
                                               sign_in.ip, sign_in.error_code, sign_in.city,
                                               sign_in.user_agent))
        target = spec.users[0].id if spec.users else self.responder_id
        for n in range(spec.filler_sign_ins):
            stamp = iso(self.now - timedelta(days=3) + timedelta(seconds=n))
            self.sign_ins.append(self._sign_in(len(spec.sign_ins) + n, stamp, target, None,
                                               "Office 365 Exchange Online", "192.0.2.10",
                                               0, "Home Town", "Outlook"))

    def _add_user(self, user: UserSpec) -> None:
        self.users[user.id] = {
            "id": user.id, "userPrincipalName": user.upn,
            "displayName": user.display_name or user.upn.split("@")[0],
            "accountEnabled": user.enabled, "onPremisesSyncEnabled": user.on_prem_sync or None,
            "signInSessionsValidFromDateTime": iso(self.now - timedelta(days=30)),
            "signInActivity": {"lastSignInDateTime": self._when(user.last_sign_in)},
            "passwordProfile": None,
            "lastPasswordChangeDateTime": iso(self.now - timedelta(days=60))}
        self.methods[user.id] = [{
            "@odata.type": f"#microsoft.graph.{_METHOD_TYPES[m.type]}", "id": m.id,
            # Graph gives no creation time for phone and email methods.
            **({} if m.type in ("phone", "email") else {"createdDateTime": self._when(m.created)}),
            **({"phoneNumber": m.detail, "phoneType": "mobile"} if m.type == "phone" else {}),
            **({"displayName": m.detail} if m.type in ("microsoftAuthenticator", "fido2")
               else {}),
            **({"emailAddress": m.detail} if m.type == "email" else {})}
            for m in user.auth_methods]
        self.roles[user.id] = list(user.roles)
        self.owned[user.id] = list(user.owned_apps)

    def _add_sp(self, sp: ServicePrincipalSpec) -> None:
        self.service_principals[sp.id] = {
            "id": sp.id, "appId": sp.app_id, "displayName": sp.display_name,
            "accountEnabled": sp.enabled, "servicePrincipalType": sp.type,
            "passwordCredentials": [self._password(p) for p in sp.passwords],
            "keyCredentials": []}
        self.sp_owners[sp.id] = list(sp.owners)
        self.app_role_assignments[sp.id] = [{
            "id": a.id, "principalId": sp.id, "principalType": "ServicePrincipal",
            "principalDisplayName": sp.display_name, "resourceId": a.resource_id,
            "resourceDisplayName": a.resource_display_name, "appRoleId": a.app_role_id,
            "createdDateTime": iso(self.now - timedelta(days=1))}
            for a in sp.app_role_assignments]
        for grant in sp.oauth_grants:
            self.grants[grant.id] = {"id": grant.id, "clientId": sp.id,
                                     "consentType": grant.consent_type,
                                     "principalId": grant.principal_id,
                                     "resourceId": grant.resource_id, "scope": grant.scope}

    def _password(self, spec: Any) -> dict[str, Any]:
        return {"keyId": spec.key_id, "displayName": spec.display_name, "hint": spec.hint,
                "startDateTime": self._when(spec.start), "endDateTime": self._when(spec.end),
                "secretText": None}

    def _target(self, object_id: str) -> dict[str, Any]:
        if object_id in self.users:
            u = self.users[object_id]
            return {"id": object_id, "type": "User", "userPrincipalName": u["userPrincipalName"],
                    "displayName": u["displayName"], "modifiedProperties": []}
        for kind, table in (("ServicePrincipal", self.service_principals),
                            ("Application", self.applications)):
            if object_id in table:
                return {"id": object_id, "type": kind,
                        "displayName": table[object_id]["displayName"],
                        "modifiedProperties": []}
        return {"id": object_id, "type": "Other", "modifiedProperties": []}

    def _sign_in(self, n: int, when: str, user: str | None, sp: str | None, app: str,
                 ip: str, error: int, city: str, agent: str) -> dict[str, Any]:
        found = self._find_user(user) if user else None
        principal = self.service_principals.get(sp or "", {})
        return {
            "id": str(uuid.UUID(int=(7 << 96) + n)), "createdDateTime": self._when(when),
            "userId": found["id"] if found else None,
            "userPrincipalName": found["userPrincipalName"] if found else None,
            "userDisplayName": found["displayName"] if found else None,
            "servicePrincipalId": sp, "appId": principal.get("appId"),
            "appDisplayName": principal.get("displayName") or app,
            "ipAddress": ip, "clientAppUsed": "Browser" if found else None,
            "userAgent": agent, "correlationId": str(uuid.UUID(int=(9 << 96) + n)),
            "resourceDisplayName": "Microsoft Graph", "isInteractive": bool(found),
            "signInEventTypes": ["interactiveUser"] if found else ["servicePrincipal"],
            "status": {"errorCode": error,
                       "failureReason": "Invalid username or password." if error else None},
            "location": {"city": city, "countryOrRegion": "XX"}}

    def _find_user(self, key: str | None) -> dict[str, Any] | None:
        if key is None:
            return None
        if key in self.users:
            return self.users[key]
        return next((u for u in self.users.values()
                     if u["userPrincipalName"].lower() == key.lower()), None)

    # -- routes --------------------------------------------------------------------------
    def _routes(self) -> None:
        v = "/v1.0"
        user = f"{v}/users/(?P<user>{ID})"
        app = f"{v}/applications(?:/(?P<app>{ID})|\\(appId='(?P<appid>{ID})'\\))"
        sp = f"{v}/servicePrincipals(?:/(?P<sp>{ID})|\\(appId='(?P<appid>{ID})'\\))"
        r = self.route
        r("GET", user, "User.Read.All", self._get_user)
        r("PATCH", user, "User.EnableDisableAccount.All", self._patch_user)
        r("POST", f"{user}/revokeSignInSessions", "User.RevokeSessions.All", self._revoke)
        r("GET", f"{user}/memberOf", "Directory.Read.All", self._member_of)
        r("GET", f"{user}/ownedObjects", "Directory.Read.All", self._owned_objects)
        r("GET", f"{user}/authentication/methods", "UserAuthenticationMethod.Read.All",
          self._methods)
        r("DELETE", f"{user}/authentication/(?P<kind>\\w+Methods)/(?P<method>{ID})",
          "UserAuthenticationMethod.ReadWrite.All", self._delete_method)
        r("GET", app, "Application.Read.All", self._get_app)
        r("PATCH", app, "Application.ReadWrite.All", self._patch_app)
        r("POST", f"{app}/removePassword", "Application.ReadWrite.All", self._app_remove_pw)
        r("GET", f"{app}/owners", "Application.Read.All", self._app_owners)
        r("GET", sp, "Application.Read.All", self._get_sp)
        r("PATCH", sp, "Application.ReadWrite.All", self._patch_sp)
        r("POST", f"{sp}/removePassword", "Application.ReadWrite.All", self._sp_remove_pw)
        r("GET", f"{sp}/owners", "Application.Read.All", self._sp_owners)
        r("GET", f"{sp}/appRoleAssignments", "Application.Read.All", self._assignments)
        r("DELETE", f"{sp}/appRoleAssignments/(?P<assignment>{ID})",
          "AppRoleAssignment.ReadWrite.All", self._delete_assignment)
        r("GET", f"{sp}/oauth2PermissionGrants", "Directory.Read.All", self._sp_grants)
        r("DELETE", f"{v}/oauth2PermissionGrants/(?P<grant>{ID})",
          "DelegatedPermissionGrant.ReadWrite.All", self._delete_grant)
        r("GET", f"{v}/auditLogs/directoryAudits", "AuditLog.Read.All",
          lambda q: self._page(q, self.audits, "activityDateTime", 1000))
        r("GET", f"{v}/auditLogs/signIns", "AuditLog.Read.All",
          lambda q: self._page(q, self.sign_ins, "createdDateTime", 1000))

    def dispatch(self, method: str, path: str, query: dict[str, str], body: Any,
                 headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        if not token_claims(headers.get("Authorization") or headers.get("authorization")):
            return 401, {"error": {"code": "InvalidAuthenticationToken",
                                   "message": "Access token is empty."}}, {}
        if method == "POST" and path == "/v1.0/$batch":
            # A test may script the batch itself (a batch-level 429), not just its items.
            return self.scripted_reply(method, path) or self._batch(body, headers)
        return super().dispatch(method, path, query, body, headers)

    def _batch(self, body: Any, headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        """Graph's JSON batching: each inner request is routed (and logged) on its own and
        answered with its own status, headers and body; the batch itself is 200. As in
        Graph, more than 20 requests, a repeated id or a missing field fails the whole
        batch with 400, and a request with a body but no Content-Type fails alone.
        ``dependsOn`` is not honoured (rescind sends none): requests run in order."""
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not requests:
            return self._error(Reply(400, "BadRequest", "Invalid batch payload format."))
        if len(requests) > BATCH_LIMIT:
            return self._error(Reply(400, "BadRequest", "Number of requests in the batch "
                                     f"exceeds the limit of {BATCH_LIMIT}."))
        ids = [r.get("id") if isinstance(r, dict) else None for r in requests]
        if len(set(ids)) != len(ids) or not all(
                isinstance(r, dict) and r.get("id") and r.get("method") and r.get("url")
                for r in requests):
            return self._error(Reply(400, "BadRequest", "Each request needs a unique id, "
                                                        "a method and a url."))
        replies = []
        for inner in requests:
            if self.batch_item_latency and self.latency_ms > 0:
                time.sleep(self.latency_ms / 1000)
            status, answer, extra = self._batch_item(inner, headers)
            replies.append({"id": inner["id"], "status": status, "headers": extra,
                            **({"body": answer} if answer is not None else {})})
        return 200, {"responses": replies}, {}

    def _batch_item(self, inner: dict[str, Any],
                    headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        if "body" in inner and not any(k.lower() == "content-type"
                                       for k in inner.get("headers") or {}):
            return self._error(Reply(400, "BadRequest", f"Write request id : {inner['id']} "
                                     "does not contain Content-Type header or body."))
        parts = urlsplit("/v1.0/" + str(inner["url"]).lstrip("/"))
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        return super().dispatch(str(inner["method"]).upper(), unquote(parts.path), query,
                                inner.get("body"), headers)

    # -- users -------------------------------------------------------------------------
    def _user(self, q: Request) -> dict[str, Any]:
        found = self._find_user(q.match.group("user"))
        if found is None:
            raise Reply(404, "Request_ResourceNotFound",
                        f"Resource '{q.match.group('user')}' does not exist or one of its "
                        "queried reference-property objects are not present.")
        return found

    def _caller(self, q: Request) -> dict[str, Any]:
        claims = token_claims(q.headers.get("Authorization") or q.headers.get("authorization"))
        return {"user": {"id": claims.get("oid"), "userPrincipalName": claims.get("upn"),
                         "ipAddress": "127.0.0.1"}}

    def _own_audit(self, q: Request, activity: str, target: str, category: str) -> None:
        n = len(self.audits) + 1
        self.audits.append({
            "id": f"Directory_{uuid.uuid4()}", "category": category,
            "correlationId": str(uuid.uuid4()), "result": "success", "resultReason": "",
            "activityDisplayName": activity, "activityDateTime": iso(datetime.now(UTC)),
            "loggedByService": "Core Directory", "operationType": "Update",
            "initiatedBy": self._caller(q), "additionalDetails": [{"key": "seq",
                                                                   "value": str(n)}],
            "targetResources": [self._target(target)]})

    @staticmethod
    def _select(record: dict[str, Any], q: Request) -> dict[str, Any]:
        fields = q.query.get("$select")
        if not fields:
            return {k: v for k, v in record.items() if k != "signInActivity"}
        return {k: record.get(k) for k in ["id", *fields.split(",")]}

    def _get_user(self, q: Request) -> tuple[int, Any]:
        if "signInActivity" in q.query.get("$select", ""):
            self.require("AuditLog.Read.All")  # and User.Read.All: the stricter one is logged
        return 200, self._select(copy.deepcopy(self._user(q)), q)

    def _patch_user(self, q: Request) -> tuple[int, Any]:
        user = self._user(q)
        body = q.body or {}
        if "accountEnabled" in body:
            user["accountEnabled"] = bool(body["accountEnabled"])
            self._own_audit(q, "Enable account" if body["accountEnabled"] else
                            "Disable account", user["id"], "UserManagement")
        if "passwordProfile" in body:
            self.require("User-PasswordProfile.ReadWrite.All")
            profile = body["passwordProfile"] or {}
            # Only the fact of a reset is kept: the simulation never stores a password.
            user["passwordProfile"] = {
                "forceChangePasswordNextSignIn": bool(profile.get("forceChangePasswordNextSignIn")),
                "passwordSet": bool(profile.get("password"))}
            user["lastPasswordChangeDateTime"] = iso(datetime.now(UTC))
            self._own_audit(q, "Reset user password", user["id"], "UserManagement")
        return 204, None

    def _revoke(self, q: Request) -> tuple[int, Any]:
        user = self._user(q)
        user["signInSessionsValidFromDateTime"] = iso(datetime.now(UTC))
        self._own_audit(q, "Invalidate all refresh tokens for user", user["id"],
                        "UserManagement")
        return 200, {"@odata.context": "$metadata#Edm.Boolean", "value": True}

    def _member_of(self, q: Request) -> tuple[int, Any]:
        user = self._user(q)
        return 200, {"value": [{"@odata.type": "#microsoft.graph.directoryRole",
                                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
                                "displayName": name,
                                "roleTemplateId": _ROLE_TEMPLATES.get(name, str(uuid.uuid5(
                                    uuid.NAMESPACE_DNS, name)))}
                               for name in self.roles.get(user["id"], [])]}

    def _owned_objects(self, q: Request) -> tuple[int, Any]:
        user = self._user(q)
        return 200, {"value": [{"@odata.type": "#microsoft.graph.application",
                                "id": a, "appId": self.applications[a]["appId"],
                                "displayName": self.applications[a]["displayName"]}
                               for a in self.owned.get(user["id"], []) if a in self.applications]}

    def _methods(self, q: Request) -> tuple[int, Any]:
        return 200, {"value": copy.deepcopy(self.methods.get(self._user(q)["id"], []))}

    def _delete_method(self, q: Request) -> tuple[int, Any]:
        user = self._user(q)
        kind = _METHOD_PATHS.get(q.match.group("kind"))
        wanted = f"#microsoft.graph.{_METHOD_TYPES[kind]}" if kind else None
        methods = self.methods.get(user["id"], [])
        found = next((m for m in methods if m["id"] == q.match.group("method")
                      and m["@odata.type"] == wanted), None)
        if found is None:
            raise Reply(404, "itemNotFound", "The authentication method was not found.")
        methods.remove(found)
        self._own_audit(q, "User deleted security info", user["id"], "UserManagement")
        return 204, None

    # -- applications and service principals --------------------------------------------
    def _object(self, q: Request, table: dict[str, dict[str, Any]], key: str,
                what: str) -> dict[str, Any]:
        object_id, app_id = q.match.group(key), q.match.group("appid")
        found = table.get(object_id) if object_id else next(
            (o for o in table.values() if o["appId"] == app_id), None)
        if found is None:
            raise Reply(404, "Request_ResourceNotFound",
                        f"Resource '{object_id or app_id}' does not exist or one of its "
                        f"queried reference-property objects are not present. ({what})")
        return found

    def _get_app(self, q: Request) -> tuple[int, Any]:
        return 200, copy.deepcopy(self._object(q, self.applications, "app", "application"))

    def _patch_app(self, q: Request) -> tuple[int, Any]:
        app = self._object(q, self.applications, "app", "application")
        body = q.body or {}
        if "keyCredentials" in body:
            keep = {str(k.get("keyId")) for k in body["keyCredentials"] or []}
            unknown = keep - {k["keyId"] for k in app["keyCredentials"]}
            if unknown:
                raise Reply(400, "Request_BadRequest", "Key credential without a key value: "
                            f"{sorted(unknown)}")
            app["keyCredentials"] = [k for k in app["keyCredentials"] if k["keyId"] in keep]
            self._own_audit(q, "Update application – Certificates and secrets management ",
                            app["id"], "ApplicationManagement")
        return 204, None

    def _remove_password(self, q: Request, obj: dict[str, Any]) -> tuple[int, Any]:
        key_id = str((q.body or {}).get("keyId", ""))
        before = len(obj["passwordCredentials"])
        obj["passwordCredentials"] = [p for p in obj["passwordCredentials"]
                                      if p["keyId"] != key_id]
        if len(obj["passwordCredentials"]) == before:
            raise Reply(404, "Request_ResourceNotFound",
                        f"No password credential found with keyId {key_id}.")
        self._own_audit(q, "Update application – Certificates and secrets management ",
                        obj["id"], "ApplicationManagement")
        return 204, None

    def _app_remove_pw(self, q: Request) -> tuple[int, Any]:
        return self._remove_password(q, self._object(q, self.applications, "app",
                                                     "application"))

    def _owners(self, ids: list[str]) -> dict[str, Any]:
        return {"value": [{"@odata.type": "#microsoft.graph.user", "id": i,
                           "userPrincipalName": self.users[i]["userPrincipalName"]}
                          for i in ids if i in self.users]}

    def _app_owners(self, q: Request) -> tuple[int, Any]:
        app = self._object(q, self.applications, "app", "application")
        return 200, self._owners(self.app_owners.get(app["id"], []))

    def _get_sp(self, q: Request) -> tuple[int, Any]:
        return 200, copy.deepcopy(self._object(q, self.service_principals, "sp",
                                               "servicePrincipal"))

    def _patch_sp(self, q: Request) -> tuple[int, Any]:
        sp = self._object(q, self.service_principals, "sp", "servicePrincipal")
        if "accountEnabled" in (q.body or {}):
            sp["accountEnabled"] = bool(q.body["accountEnabled"])
            self._own_audit(q, "Update service principal", sp["id"], "ApplicationManagement")
        return 204, None

    def _sp_remove_pw(self, q: Request) -> tuple[int, Any]:
        return self._remove_password(q, self._object(q, self.service_principals, "sp",
                                                     "servicePrincipal"))

    def _sp_owners(self, q: Request) -> tuple[int, Any]:
        sp = self._object(q, self.service_principals, "sp", "servicePrincipal")
        return 200, self._owners(self.sp_owners.get(sp["id"], []))

    def _assignments(self, q: Request) -> tuple[int, Any]:
        sp = self._object(q, self.service_principals, "sp", "servicePrincipal")
        return 200, {"value": copy.deepcopy(self.app_role_assignments.get(sp["id"], []))}

    def _delete_assignment(self, q: Request) -> tuple[int, Any]:
        sp = self._object(q, self.service_principals, "sp", "servicePrincipal")
        items = self.app_role_assignments.get(sp["id"], [])
        found = next((a for a in items if a["id"] == q.match.group("assignment")), None)
        if found is None:
            raise Reply(404, "Request_ResourceNotFound", "Assignment not found.")
        items.remove(found)
        self._own_audit(q, "Remove app role assignment from service principal", sp["id"],
                        "ApplicationManagement")
        return 204, None

    def _sp_grants(self, q: Request) -> tuple[int, Any]:
        sp = self._object(q, self.service_principals, "sp", "servicePrincipal")
        return 200, {"value": [copy.deepcopy(g) for g in self.grants.values()
                               if g["clientId"] == sp["id"]]}

    def _delete_grant(self, q: Request) -> tuple[int, Any]:
        grant = self.grants.pop(q.match.group("grant"), None)
        if grant is None:
            raise Reply(404, "Request_ResourceNotFound", "Grant not found.")
        self._own_audit(q, "Remove delegated permission grant", grant["clientId"],
                        "ApplicationManagement")
        return 204, None

    # -- audit logs ----------------------------------------------------------------------
    def _page(self, q: Request, records: list[dict[str, Any]], time_field: str,
              cap: int) -> tuple[int, Any]:
        chosen = sorted(records, key=lambda r: (r[time_field] or "", r["id"]), reverse=True)
        if q.query.get("$filter"):
            chosen = odata_filter(chosen, q.query["$filter"])
        top = min(int(q.query.get("$top") or cap), cap, self.page_size_cap)
        skip = int(q.query.get("$skiptoken") or 0)
        page = chosen[skip:skip + top]
        answer: dict[str, Any] = {"@odata.context": f"{self.url}/v1.0/$metadata#auditLogs",
                                  "value": copy.deepcopy(page)}
        if skip + top < len(chosen):
            params = {k: v for k, v in q.query.items() if k != "$skiptoken"}
            from urllib.parse import urlencode

            answer["@odata.nextLink"] = (f"{self.url}{q.path}?"
                                         f"{urlencode({**params, '$skiptoken': skip + top})}")
        return 200, answer

    # -- what tests and exercise mode read ----------------------------------------------
    @property
    def injects(self) -> list[Any]:
        return self.inject_specs

    def play(self, inject: Any, at: datetime) -> Any:
        from rescind.sandbox.graph_exercise import play

        return play(self, inject, at)

    def provider_settings(self) -> dict[str, Any]:
        from rescind.providers.azure_credentials import fake_token

        return {"tenant_id": self.tenant_id, "graph_url": f"{self.url}/v1.0",
                "token": fake_token(self.responder_id, "responder@example.com",
                                    self.tenant_id)} | self.beside_settings()


def start_graph_fake(scenario: Scenario | Path | None = None, **kwargs: Any) -> GraphFake:
    spec = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    fake = GraphFake(spec.entra, **kwargs)
    fake.start()
    return fake


@contextmanager
def running_graph_fake(scenario: Scenario | Path | None = None,
                       **kwargs: Any) -> Iterator[GraphFake]:
    fake = start_graph_fake(scenario, **kwargs)
    try:
        yield fake
    finally:
        fake.stop()
