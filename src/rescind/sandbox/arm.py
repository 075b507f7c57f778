"""A loopback Azure Resource Manager fake: the simulated subscription of exercise mode and tests.

User-assigned managed identities and their federated identity credentials
(Microsoft.ManagedIdentity), role assignments and definitions
(Microsoft.Authorization), the Activity Log (Microsoft.Insights eventtypes, with
``nextLink`` paging and the required ``eventTimestamp ge`` filter), and the
resource-provider registration flow: a namespace listed as unregistered answers
409 ``MissingSubscriptionRegistration`` until ``POST .../providers/{ns}/register``.
Each request is logged as the Azure RBAC action it needs.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from rescind.sandbox.graph import iso, odata_filter, token_claims
from rescind.sandbox.graph_http import JsonFake, Reply, Request
from rescind.sandbox.graph_scenario import ROLES, AzureSpec, Scenario, load_scenario
from rescind.timeline.window import parse_when

MSI = "Microsoft.ManagedIdentity"
ACTIVITY_PAGE = 200


class ArmFake(JsonFake):
    error_shape = "arm"
    STATE = ("identities", "federated", "assignments", "activity")

    def __init__(self, spec: AzureSpec, *, now: datetime | None = None) -> None:
        super().__init__()
        self.now = now or datetime.now(UTC)
        self.subscription = spec.subscription_id
        self.unregistered = {ns.lower() for ns in spec.unregistered}
        self.identities: dict[str, dict[str, Any]] = {}  # lower-cased resource id -> identity
        self.federated: dict[str, list[dict[str, Any]]] = {}
        self.assignments: dict[str, dict[str, Any]] = {}  # lower-cased id -> assignment
        self.activity: list[dict[str, Any]] = []
        self.page_size = ACTIVITY_PAGE
        self.inject_specs = list(spec.injects)
        self._seed(spec)
        self._routes()

    def _seed(self, spec: AzureSpec) -> None:
        sub = f"/subscriptions/{self.subscription}"
        for ident in spec.identities:
            rid = (f"{sub}/resourceGroups/{ident.resource_group}/providers/{MSI}/"
                   f"userAssignedIdentities/{ident.name}")
            self.identities[rid.lower()] = {
                "id": rid, "name": ident.name, "location": ident.location,
                "type": f"{MSI}/userAssignedIdentities",
                "properties": {"principalId": ident.principal_id, "clientId": ident.client_id,
                               "tenantId": "72f988bf-0000-4000-8000-000000000001"}}
            self.federated[rid.lower()] = [{
                "id": f"{rid}/federatedIdentityCredentials/{f.name}", "name": f.name,
                "type": f"{MSI}/userAssignedIdentities/federatedIdentityCredentials",
                "properties": {"issuer": f.issuer, "subject": f.subject,
                               "audiences": list(f.audiences)}}
                for f in ident.federated_credentials]
        for a in spec.role_assignments:
            self.add_assignment(a.name, a.principal_id, a.role, a.scope, a.principal_type)
        for n, act in enumerate(spec.activity):
            correlation = str(uuid.UUID(int=(5 << 96) + n))
            when = parse_when(act.time, self.now)
            for phase, status in (("Start", "Started"), ("End", act.status)):
                self.activity.append(self._event(act.operation, act.caller, act.resource_id
                                                 or sub, status, phase, when, correlation,
                                                 act.ip))

    def add_assignment(self, name: str, principal_id: str, role: str, scope: str = "",
                       principal_type: str = "ServicePrincipal") -> dict[str, Any]:
        """A role assignment of ``role`` to ``principal_id`` at ``scope`` (the subscription)."""
        sub = f"/subscriptions/{self.subscription}"
        scope = scope or sub
        rid = f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"
        self.assignments[rid.lower()] = made = {
            "id": rid, "name": name, "type": "Microsoft.Authorization/roleAssignments",
            "properties": {"principalId": principal_id, "principalType": principal_type,
                           "scope": scope, "roleDefinitionId":
                           f"{sub}/providers/Microsoft.Authorization/roleDefinitions/"
                           f"{ROLES.get(role, ROLES['Reader'])}"}}
        return made

    def _event(self, operation: str, caller: str, resource_id: str, status: str, phase: str,
               when: datetime, correlation: str, ip: str,
               method: str = "DELETE") -> dict[str, Any]:
        provider = operation.split("/", 1)[0]
        return {
            "authorization": {"action": operation, "scope": resource_id},
            "caller": caller, "channels": "Operation",
            "claims": {"ipaddr": ip, "http://schemas.microsoft.com/identity/claims/objectidentifier":
                       caller},
            "correlationId": correlation,
            "eventDataId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{correlation}/{phase}")),
            "eventName": {"value": phase + "Request", "localizedValue": phase + " request"},
            "category": {"value": "Administrative", "localizedValue": "Administrative"},
            "eventTimestamp": when.astimezone(UTC).isoformat(),
            "id": f"{resource_id}/events/{uuid.uuid4()}", "level": "Informational",
            "operationName": {"value": operation, "localizedValue": operation},
            "resourceProviderName": {"value": provider, "localizedValue": provider},
            "resourceId": resource_id,
            "status": {"value": status, "localizedValue": status},
            "subStatus": {"value": "", "localizedValue": ""},
            "submissionTimestamp": when.astimezone(UTC).isoformat(),
            "subscriptionId": self.subscription,
            "httpRequest": {"clientIpAddress": ip, "method": method}}

    def _routes(self) -> None:
        sub = r"/subscriptions/(?P<sub>[^/]+)"
        ident = (sub + r"/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.ManagedIdentity/"
                 r"userAssignedIdentities/(?P<name>[^/]+)")
        scope = r"(?P<scope>/subscriptions/.*?)"
        r = self.route
        r("GET", ident, f"{MSI}/userAssignedIdentities/read", self._get_identity)
        r("GET", sub + r"/providers/Microsoft\.ManagedIdentity/userAssignedIdentities",
          f"{MSI}/userAssignedIdentities/read", self._list_identities)
        r("GET", ident + "/federatedIdentityCredentials",
          f"{MSI}/userAssignedIdentities/federatedIdentityCredentials/read", self._list_fics)
        r("DELETE", ident + r"/federatedIdentityCredentials/(?P<fic>[^/]+)",
          f"{MSI}/userAssignedIdentities/federatedIdentityCredentials/delete", self._delete_fic)
        r("GET", scope + r"/providers/Microsoft\.Authorization/roleAssignments",
          "Microsoft.Authorization/roleAssignments/read", self._list_assignments)
        r("DELETE", scope + r"/providers/Microsoft\.Authorization/roleAssignments/(?P<ra>[^/]+)",
          "Microsoft.Authorization/roleAssignments/delete", self._delete_assignment)
        r("GET", scope + r"/providers/Microsoft\.Authorization/roleDefinitions/(?P<rd>[^/]+)",
          "Microsoft.Authorization/roleDefinitions/read", self._role_definition)
        r("GET", sub + r"/providers/microsoft\.insights/eventtypes/management/values",
          "Microsoft.Insights/eventtypes/values/read", self._activity)
        r("POST", sub + r"/providers/(?P<ns>[^/]+)/register",
          "*/register/action", self._register)
        r("GET", sub + r"/providers/(?P<ns>[^/]+)", "Microsoft.Resources/subscriptions/read",
          self._provider_state)

    def dispatch(self, method: str, path: str, query: dict[str, str], body: Any,
                 headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        if not token_claims(headers.get("Authorization") or headers.get("authorization")):
            return 401, {"error": {"code": "AuthenticationFailed",
                                   "message": "Authentication failed."}}, {}
        if not query.get("api-version"):
            return 400, {"error": {"code": "MissingApiVersionParameter",
                                   "message": "The api-version query parameter is required."}}, {}
        match = re.search(r"/providers/(Microsoft\.\w+)/", path + "/", re.IGNORECASE)
        if (match and match.group(1).lower() in self.unregistered
                and not path.lower().endswith("/register")):
            with self.lock:
                self.log.append((method, path, f"{match.group(1)}/unregistered"))
            return 409, {"error": {"code": "MissingSubscriptionRegistration",
                                   "message": "The subscription is not registered to use "
                                              f"namespace '{match.group(1)}'."}}, {}
        return super().dispatch(method, path, query, body, headers)

    def _identity(self, q: Request) -> dict[str, Any]:
        key = q.path.split("/federatedIdentityCredentials")[0].lower()
        found = self.identities.get(key)
        if found is None:
            raise Reply(404, "ResourceNotFound", f"The Resource '{MSI}/userAssignedIdentities/"
                        f"{q.match.group('name')}' under resource group "
                        f"'{q.match.group('rg')}' was not found.")
        return found

    def _get_identity(self, q: Request) -> tuple[int, Any]:
        return 200, copy.deepcopy(self._identity(q))

    def _list_identities(self, q: Request) -> tuple[int, Any]:
        return 200, {"value": [copy.deepcopy(i) for i in self.identities.values()]}

    def _list_fics(self, q: Request) -> tuple[int, Any]:
        ident = self._identity(q)
        return 200, {"value": copy.deepcopy(self.federated[ident["id"].lower()])}

    def _delete_fic(self, q: Request) -> tuple[int, Any]:
        ident = self._identity(q)
        items = self.federated[ident["id"].lower()]
        found = next((f for f in items if f["name"] == q.match.group("fic")), None)
        if found is None:
            return 204, None  # ARM deletes are idempotent
        items.remove(found)
        self._own(q, f"{MSI}/userAssignedIdentities/federatedIdentityCredentials/delete",
                  found["id"])
        return 200, None

    def _list_assignments(self, q: Request) -> tuple[int, Any]:
        scope = q.match.group("scope").rstrip("/").lower()
        items = [a for a in self.assignments.values()
                 if a["properties"]["scope"].lower().startswith(scope)
                 or scope.startswith(a["properties"]["scope"].lower())]
        wanted = q.query.get("$filter", "")
        match = re.search(r"principalId eq '([^']+)'", wanted)
        if match:
            items = [a for a in items if a["properties"]["principalId"] == match.group(1)]
        return 200, {"value": copy.deepcopy(items)}

    def _delete_assignment(self, q: Request) -> tuple[int, Any]:
        found = self.assignments.pop(q.path.lower(), None)
        if found is None:
            return 204, None
        self._own(q, "Microsoft.Authorization/roleAssignments/delete", found["id"])
        return 200, found

    def _role_definition(self, q: Request) -> tuple[int, Any]:
        rd = q.match.group("rd")
        name = next((n for n, i in ROLES.items() if i == rd), None)
        if name is None:
            raise Reply(404, "RoleDefinitionDoesNotExist", "The role definition does not exist.")
        return 200, {"id": q.path, "name": rd, "type": "Microsoft.Authorization/roleDefinitions",
                     "properties": {"roleName": name, "type": "BuiltInRole"}}

    def _activity(self, q: Request) -> tuple[int, Any]:
        text = q.query.get("$filter", "")
        if "eventTimestamp ge" not in text:
            raise Reply(400, "BadRequest", "The $filter must contain 'eventTimestamp ge'.")
        # The service understands these; the fake applies the same terms.
        terms = " and ".join(t for t in re.split(r"\s+and\s+", text)
                             if t.startswith(("eventTimestamp", "caller", "correlationId",
                                              "resourceId")))
        chosen = odata_filter(sorted(self.activity, key=lambda e: e["eventTimestamp"],
                                     reverse=True), terms)
        skip = int(q.query.get("$skiptoken") or 0)
        page = chosen[skip:skip + self.page_size]
        answer: dict[str, Any] = {"value": copy.deepcopy(page)}
        if skip + self.page_size < len(chosen):
            params = {k: v for k, v in q.query.items() if k != "$skiptoken"}
            answer["nextLink"] = (f"{self.url}{q.path}?"
                                  f"{urlencode({**params, '$skiptoken': skip + self.page_size})}")
        return 200, answer

    def _register(self, q: Request) -> tuple[int, Any]:
        self.require(f"{q.match.group('ns')}/register/action")
        self.unregistered.discard(q.match.group("ns").lower())
        return 200, {"namespace": q.match.group("ns"), "registrationState": "Registered"}

    def _provider_state(self, q: Request) -> tuple[int, Any]:
        ns = q.match.group("ns")
        state = "NotRegistered" if ns.lower() in self.unregistered else "Registered"
        return 200, {"namespace": ns, "registrationState": state}

    def _own(self, q: Request, operation: str, resource_id: str) -> None:
        claims = token_claims(q.headers.get("Authorization") or q.headers.get("authorization"))
        correlation = str(uuid.uuid4())
        for phase, status in (("Start", "Started"), ("End", "Succeeded")):
            self.activity.append(self._event(operation, str(claims.get("upn") or
                                                            claims.get("oid", "")),
                                             resource_id, status, phase, datetime.now(UTC),
                                             correlation, "127.0.0.1"))

    # -- exercise mode (arm_exercise.py) ------------------------------------------------
    @property
    def injects(self) -> list[Any]:
        return self.inject_specs

    def play(self, inject: Any, at: datetime) -> Any:
        from rescind.sandbox.arm_exercise import play

        return play(self, inject, at)

    def provider_settings(self) -> dict[str, Any]:
        from rescind.providers.azure_credentials import fake_token
        from rescind.sandbox.graph_scenario import RESPONDER_ID, TENANT_ID

        return {"tenant_id": TENANT_ID, "arm_url": self.url,
                "subscriptions": [self.subscription],
                "token": fake_token(RESPONDER_ID, "responder@example.com", TENANT_ID)
                } | self.beside_settings()


def start_arm_fake(scenario: Scenario | Path | None = None, **kwargs: Any) -> ArmFake:
    spec = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    fake = ArmFake(spec.azure, **kwargs)
    fake.start()
    return fake


@contextmanager
def running_arm_fake(scenario: Scenario | Path | None = None, **kwargs: Any) -> Iterator[ArmFake]:
    fake = start_arm_fake(scenario, **kwargs)
    try:
        yield fake
    finally:
        fake.stop()


__all__ = ["ROLES", "ArmFake", "iso", "running_arm_fake", "start_arm_fake"]
