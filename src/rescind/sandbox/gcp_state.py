"""The simulated Google Cloud project's state: service accounts, keys, policies, audit log.

Both fakes (gRPC IAM, REST Resource Manager / Logging / IAM pools) read and change
this one object under its lock, and record every request as the IAM permission it
needs, so tests compare what reached the "server" with what actions declare.
"""

from __future__ import annotations

import base64
import hashlib
import random
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from rescind.sandbox.gcp_scenario import Binding, EntrySpec, GcpScenario
from rescind.timeline.window import parse_when

# The permission each request needs (what the fake logs), and which of them change state.
PERMISSIONS = {
    "GetServiceAccount": "iam.serviceAccounts.get",
    "ListServiceAccounts": "iam.serviceAccounts.list",
    "DisableServiceAccount": "iam.serviceAccounts.disable",
    "EnableServiceAccount": "iam.serviceAccounts.enable",
    "ListServiceAccountKeys": "iam.serviceAccountKeys.list",
    "GetServiceAccountKey": "iam.serviceAccountKeys.get",
    "DisableServiceAccountKey": "iam.serviceAccountKeys.disable",
    "EnableServiceAccountKey": "iam.serviceAccountKeys.enable",
    "DeleteServiceAccountKey": "iam.serviceAccountKeys.delete",
    "GetIamPolicy": "iam.serviceAccounts.getIamPolicy",
    "SetIamPolicy": "iam.serviceAccounts.setIamPolicy",
    "projects.getIamPolicy": "resourcemanager.projects.getIamPolicy",
    "projects.setIamPolicy": "resourcemanager.projects.setIamPolicy",
    "entries.list": "logging.logEntries.list",
    "providers.get": "iam.workloadIdentityPoolProviders.get",
    "providers.patch": "iam.workloadIdentityPoolProviders.update",
    "bigquery.jobs.create": "bigquery.jobs.create",
    "bigquery.jobs.get": "bigquery.jobs.get",
}
# A query job reads: the fake runs nothing but the SELECT a timeline pull sends.
READ_PERMISSIONS = frozenset({"bigquery.jobs.create"} | {
    p for p in PERMISSIONS.values() if p.rsplit(".", 1)[-1] in ("get", "list", "getIamPolicy")})
AUDIT_LOGS = {"activity": "cloudaudit.googleapis.com%2Factivity",
              "data_access": "cloudaudit.googleapis.com%2Fdata_access",
              "system_event": "cloudaudit.googleapis.com%2Fsystem_event",
              "policy": "cloudaudit.googleapis.com%2Fpolicy"}


class FakeError(Exception):
    """A request the fake refuses: a canonical status and Google's message."""

    HTTP: ClassVar[dict[str, int]] = {"NOT_FOUND": 404, "PERMISSION_DENIED": 403, "ABORTED": 409,
            "FAILED_PRECONDITION": 400, "INVALID_ARGUMENT": 400, "RESOURCE_EXHAUSTED": 429,
            "UNAVAILABLE": 503, "UNAUTHENTICATED": 401}

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    @property
    def http(self) -> int:
        return self.HTTP.get(self.status, 500)


def etag_of(policy: dict[str, Any]) -> str:
    digest = hashlib.sha256(repr(policy.get("bindings")).encode()).digest()[:8]
    return base64.b64encode(digest).decode()


def _policy(bindings: list[Binding]) -> dict[str, Any]:
    policy: dict[str, Any] = {"version": 3, "bindings": [
        {"role": b.role, "members": list(b.members),
         **({"condition": dict(b.condition)} if b.condition else {})} for b in bindings]}
    policy["etag"] = etag_of(policy)
    return policy


@dataclass
class Key:
    id: str
    account: str
    type: str
    created: datetime
    expires: datetime | None
    disabled: bool = False


@dataclass
class Account:
    email: str
    unique_id: str
    display_name: str
    disabled: bool
    policy: dict[str, Any]


class RateWindow:
    """At most ``limit`` requests per ``window_s`` seconds per project, sliding."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit, self.window_s = limit, window_s
        self._seen: dict[str, deque[float]] = {}

    def admit(self, project: str, now: float) -> bool:
        seen = self._seen.setdefault(project, deque())
        while seen and seen[0] <= now - self.window_s:
            seen.popleft()
        if len(seen) >= self.limit:
            return False
        seen.append(now)
        return True


@dataclass
class GcpState:
    project: str
    project_number: str
    responder: str
    permissions: set[str] | None = None
    accounts: dict[str, Account] = field(default_factory=dict)
    keys: dict[str, Key] = field(default_factory=dict)
    project_policy: dict[str, Any] = field(default_factory=dict)
    providers: dict[str, dict[str, Any]] = field(default_factory=dict)  # by full name
    log: list[dict[str, Any]] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    throttled: int = 0
    arrivals: list[float] = field(default_factory=list)  # entries.list, monotonic seconds
    latency_ms: float = 0.0
    # Injected failures: permission -> [status, ...], consumed one per request.
    failures: dict[str, list[str]] = field(default_factory=dict)
    rate: RateWindow = field(default_factory=lambda: RateWindow(60, 60.0))
    lock: threading.RLock = field(default_factory=threading.RLock)
    _sorted: list[dict[str, Any]] | None = field(default=None, repr=False)
    _matches: dict[str, list[dict[str, Any]]] = field(default_factory=dict, repr=False)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    # Exercise mode saves the project after each change a request made (gcp_exercise.py).
    on_change: Callable[[], None] | None = field(default=None, repr=False)

    # -- requests ---------------------------------------------------------------------
    def admit(self, operation: str, *, project: str | None = None) -> None:
        """Record a request as its permission; refuse it as the scenario says."""
        permission = PERMISSIONS[operation]
        with self.lock:
            self.requests.append(permission)
            injected = self.failures.get(permission)
            if injected:
                status = injected.pop(0)
                raise FakeError(status, f"simulated {status} for {permission}")
            if self.permissions is not None and permission not in self.permissions:
                raise FakeError("PERMISSION_DENIED", f"Permission '{permission}' denied on "
                                "resource (or it may not exist).")
            if operation == "entries.list":
                import time

                now = time.monotonic()
                self.arrivals.append(now)
                if not self.rate.admit(project or self.project, now):
                    self.throttled += 1
                    raise FakeError("RESOURCE_EXHAUSTED",
                                    "Quota exceeded for quota metric 'Read requests' and "
                                    "limit 'Read requests per minute' of service "
                                    "'logging.googleapis.com'")

    def changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def mutating(self) -> list[str]:
        with self.lock:
            return [r for r in self.requests if r not in READ_PERMISSIONS]

    def fail_next(self, permission: str, *statuses: str) -> None:
        with self.lock:
            self.failures.setdefault(permission, []).extend(statuses)

    # -- lookups -------------------------------------------------------------------------
    def account(self, name: str) -> Account:
        """A service account by resource name (``projects/-/serviceAccounts/EMAIL``)."""
        ident = name.rsplit("/", 1)[-1]
        for account in self.accounts.values():
            if ident in (account.email, account.unique_id):
                return account
        raise FakeError("NOT_FOUND", f"Service account {ident} does not exist.")

    def key(self, name: str) -> Key:
        parts = name.split("/")
        if len(parts) != 6 or parts[4] != "keys":
            raise FakeError("INVALID_ARGUMENT", f"Invalid key name {name}")
        account = self.account("/".join(parts[:4]))
        key = self.keys.get(parts[5])
        if key is None or key.account != account.email:
            raise FakeError("NOT_FOUND", f"Service account key {parts[5]} does not exist.")
        return key

    def provider(self, path: str) -> dict[str, Any]:
        """A workload identity pool provider by path (project id or number)."""
        parts = path.strip("/").split("/")
        key = "/".join(parts[-4:])
        found = self.providers.get(key)
        if found is None or len(parts) < 3 or parts[2] not in (self.project,
                                                                self.project_number):
            raise FakeError("NOT_FOUND", f"Requested entity was not found: {path}")
        return found

    # -- the audit log --------------------------------------------------------------------
    def audit(self, spec: EntrySpec, attacker: dict[str, Any], when: datetime) -> None:
        principal = spec.principal or attacker.get("principal") or self.responder
        key = spec.key if spec.key is not None else (attacker.get("key")
                                                     if spec.principal is None else None)
        auth: dict[str, Any] = {"principalEmail": principal}
        if key:
            auth["serviceAccountKeyName"] = (f"//iam.googleapis.com/projects/{self.project}/"
                                             f"serviceAccounts/{principal}/keys/{key}")
        payload: dict[str, Any] = {
            "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
            "status": ({"code": spec.status, "message": spec.message} if spec.status else {}),
            "authenticationInfo": auth,
            "requestMetadata": {"callerIp": spec.ip or attacker.get("ip", ""),
                                "callerSuppliedUserAgent": spec.user_agent
                                or attacker.get("user_agent", "")},
            "serviceName": spec.service, "methodName": spec.method,
            "resourceName": spec.resource or f"projects/{self.project}",
        }
        if spec.request:
            payload["request"] = spec.request
        if spec.response:
            payload["response"] = spec.response
        if spec.binding_deltas:
            payload["serviceData"] = {
                "@type": "type.googleapis.com/google.iam.v1.logging.AuditData",
                "policyDelta": {"bindingDeltas": spec.binding_deltas}}
        self.append_log({
            "protoPayload": payload,
            "insertId": hashlib.sha1(f"{when.isoformat()}{spec.method}{len(self.log)}"
                                     .encode()).hexdigest()[:16],
            "resource": {"type": spec.resource_type,
                         "labels": {"project_id": self.project}},
            "timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "severity": "ERROR" if spec.status else "NOTICE",
            "logName": f"projects/{self.project}/logs/{AUDIT_LOGS[spec.log]}",
            "receiveTimestamp": (when + timedelta(seconds=1)).strftime(
                "%Y-%m-%dT%H:%M:%S.%fZ"),
        })

    def append_log(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.log.append(entry)
            self._sorted = None
            self._matches.clear()

    def sorted_log(self) -> list[dict[str, Any]]:
        with self.lock:
            cached = self._sorted
            if cached is None:
                cached = sorted(self.log, key=lambda e: (e.get("timestamp", ""),
                                                         e.get("insertId", "")))
                self._sorted = cached
            return cached

    def matching(self, text: str, test: Any) -> list[dict[str, Any]]:
        """The sorted entries a filter selects, kept per filter while the log is unchanged:
        every page of one listing sends the same filter, and the real service does not
        re-scan the whole log per page either."""
        with self.lock:
            found = self._matches.get(text)
            if found is None:
                found = [e for e in self.sorted_log() if test(e)]
                self._matches[text] = found
            return found


def seed(scenario: GcpScenario) -> GcpState:
    """The project state a scenario describes, with its audit log written."""
    state = GcpState(project=scenario.project, project_number=scenario.project_number,
                     responder=scenario.responder, latency_ms=scenario.latency_ms,
                     permissions=(set(scenario.responder_permissions)
                                  if scenario.responder_permissions is not None else None),
                     rate=RateWindow(scenario.rate_limit.requests, scenario.rate_limit.window_s))
    now = state.now
    for number, spec in enumerate([*scenario.service_accounts], start=1):
        state.accounts[spec.email] = Account(
            email=spec.email, unique_id=f"1{number:020d}", display_name=spec.display_name,
            disabled=spec.disabled, policy=_policy(spec.policy))
        for key in spec.keys:
            state.keys[key.id] = Key(
                id=key.id, account=spec.email, type=key.type,
                created=parse_when(key.created, now),
                expires=parse_when(key.expires, now) if key.expires else None,
                disabled=key.disabled)
    if scenario.responder not in state.accounts:
        state.accounts[scenario.responder] = Account(
            email=scenario.responder, unique_id="1" + "9" * 20, display_name="responder",
            disabled=False, policy=_policy([]))
    state.project_policy = _policy(scenario.project_policy)
    for pool in scenario.workload_identity_pools:
        for provider in pool.providers:
            path = f"workloadIdentityPools/{pool.pool}/providers/{provider.id}"
            state.providers[path] = {
                "name": f"projects/{scenario.project_number}/locations/global/{path}",
                "displayName": provider.id, "state": "ACTIVE",
                "disabled": provider.disabled, "oidc": {"issuerUri": provider.issuer}}
    attacker = scenario.audit_log.attacker.model_dump()
    for entry in scenario.audit_log.entries:
        state.audit(entry, attacker, parse_when(entry.time, now))
    if scenario.audit_log.generate is not None:
        _generate(state, scenario, attacker)
    return state


_BULK_METHODS = (("google.iam.admin.v1.ListServiceAccounts", "iam.googleapis.com", "data_access"),
                 ("storage.objects.get", "storage.googleapis.com", "data_access"),
                 ("google.cloud.bigquery.v2.JobService.InsertJob", "bigquery.googleapis.com",
                  "data_access"),
                 ("SetIamPolicy", "cloudresourcemanager.googleapis.com", "activity"))


def _generate(state: GcpState, scenario: GcpScenario, attacker: dict[str, Any]) -> None:
    spec = scenario.audit_log.generate
    assert spec is not None
    rng = random.Random(spec.seed)
    start = parse_when(spec.span, state.now)
    seconds = max(1.0, (state.now - start).total_seconds() - 60)
    for _ in range(spec.count):
        method, service, log = rng.choice(_BULK_METHODS)
        when = start + timedelta(seconds=rng.uniform(0, seconds))
        state.audit(EntrySpec(time=when.isoformat(), method=method, service=service, log=log),
                    attacker, when)
