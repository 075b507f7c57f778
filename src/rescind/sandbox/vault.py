"""The simulated Vault: a loopback HTTP server speaking Vault's API, seeded from a scenario.

It serves ``/v1/...`` on 127.0.0.1 with the semantics rescind's Vault actions rely on
(see ``vault_state``, ``vault_api`` and ``vault_routes``), enforces ACL policies and an optional
rate-limit quota, records every request it served (``served``: what the tests read
back), and writes a file audit device log to ``audit_path`` as Vault would. Several
sandboxes can run at once: each has its own state.
"""

from __future__ import annotations

import json
import secrets
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from rescind.providers.vault_policy import policy_rules
from rescind.sandbox.fake_exercise import FakeExercise
from rescind.sandbox.scenario import parse_time
from rescind.sandbox.vault_api import RateLimit, Served, VaultApi
from rescind.sandbox.vault_exercise import VaultFake
from rescind.sandbox.vault_scenario import VaultInjectSpec, VaultScenario
from rescind.sandbox.vault_state import (
    AuditLog,
    Connection,
    KvVersion,
    Lease,
    Role,
    SecretId,
    StaticRole,
    Token,
    VaultState,
    random_id,
)


@dataclass
class VaultSandbox:
    """A running simulated Vault. Use as a context manager, or call ``stop()``."""

    address: str
    api: VaultApi = field(repr=False)
    responder_token: str = field(repr=False)
    audit_path: Path = field(repr=False)
    tokens: dict[str, Token] = field(default_factory=dict, repr=False)  # scenario name → token
    inputs: dict[str, str] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)
    injects: list[VaultInjectSpec] = field(default_factory=list, repr=False)
    # The role ids the scenario seeded: saved state says only whether one changed.
    seeded_role_ids: dict[str, str] = field(default_factory=dict, repr=False)
    _exercise: FakeExercise | None = field(default=None, repr=False)

    def exercise(self) -> FakeExercise:
        """Exercise mode's injects and saved state (vault_exercise.py)."""
        if self._exercise is None:
            self._exercise = FakeExercise(VaultFake(self), log=self.api.audit)
        return self._exercise

    @property
    def state(self) -> VaultState:
        return self.api.state

    @property
    def served(self) -> list[Served]:
        return list(self.api.served)

    def clear_served(self) -> None:
        self.api.served.clear()

    def provider_settings(self) -> dict[str, Any]:
        """The ``[vault]`` settings table that points rescind at this Vault as the responder."""
        return {"address": self.address, "token": self.responder_token,
                "audit_logs": [str(self.audit_path)]}

    def audit_hash(self, value: str) -> str:
        return self.api.audit.hash(value)

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        tmp, self._tmp = self._tmp, None
        if tmp is not None:
            tmp.cleanup()

    def __enter__(self) -> VaultSandbox:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def start_vault_sandbox(scenario: VaultScenario | Path | None = None) -> VaultSandbox:
    """Start a simulated Vault on 127.0.0.1, seeded from ``scenario`` (or a YAML path)."""
    inputs: dict[str, str] = {}
    if isinstance(scenario, Path):
        scenario, inputs = VaultScenario.load(scenario)
    spec = scenario or VaultScenario()
    tmp = tempfile.TemporaryDirectory(prefix="rescind-vault-")
    # Random unless the scenario fixes one: a public salt would let a low-entropy value
    # written during an exercise be guessed from its HMAC in the saved log or evidence.
    audit = AuditLog(Path(tmp.name) / "vault_audit.log",
                     spec.audit_salt or secrets.token_hex(16))
    state = VaultState(kv_mount=spec.kv_mount, approle_mount=spec.approle_mount,
                       db_mount=spec.database.mount, aws_mount=spec.aws_mount)
    tokens = _seed(state, audit, spec)
    responder = state.new_token(policies=spec.responder.policies, parent=None,
                                display_name=spec.responder.display_name)
    if not spec.responder.orphan:
        # A parent outside the scenario: Vault does not say who it is, as in real life.
        parent = state.new_token(policies=["default"], parent=None, display_name="token")
        responder.parent = parent.id
    limit = (RateLimit(spec.rate_limit.rate, spec.rate_limit.burst, spec.rate_limit.burst)
             if spec.rate_limit else None)
    api = VaultApi(state, audit, rate_limit=limit)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(api))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="fake-vault", daemon=True).start()
    address = f"http://127.0.0.1:{server.server_address[1]}"
    return VaultSandbox(address=address, api=api, responder_token=responder.id,
                        audit_path=audit.path, tokens=tokens, inputs=inputs,
                        _server=server, _tmp=tmp, injects=list(spec.injects),
                        seeded_role_ids={r.name: r.role_id for r in state.roles.values()})


def _seed(state: VaultState, audit: AuditLog, spec: VaultScenario) -> dict[str, Token]:
    now = datetime.now(UTC)
    for name, text in spec.policies.items():
        state.policies[name] = policy_rules(text)
    tokens: dict[str, Token] = {}
    for t in spec.tokens:
        parent = tokens.get(t.parent) if t.parent else None
        tokens[t.name] = state.new_token(
            policies=t.policies, parent=parent, display_name=t.display_name,
            ttl=_duration(t.ttl), created=parse_time(t.created, now), token_id=t.id,
            accessor=t.accessor, entity_id=t.entity_id, meta=t.meta)
    for r in spec.roles:
        role = Role(name=r.name, role_id=r.role_id or random_id(36), policies=r.policies,
                    token_ttl=r.token_ttl, secret_id_ttl=r.secret_id_ttl)
        for s in r.secret_ids:
            role.secret_ids[s.accessor] = SecretId(
                secret_id=s.secret_id or random_id(36), accessor=s.accessor,
                created=parse_time(s.created, now), ttl=r.secret_id_ttl,
                metadata=s.metadata, cidr_list=s.cidr_list)
        state.roles[r.name] = role
    for secret in spec.kv:
        mount, _, path = secret.path.partition("/")
        if mount != spec.kv_mount:
            path = secret.path
        state.kv[path] = [KvVersion(data=v.data, created=parse_time(v.created, now))
                          for v in secret.versions]
    for c in spec.database.connections:
        state.connections[c.name] = Connection(c.name, c.plugin, c.username, c.connection_url,
                                               c.allowed_roles)
    for static in spec.database.static_roles:
        state.static_roles[static.name] = StaticRole(
            static.name, static.db_name, static.username, static.rotation_period,
            parse_time(static.last_rotation, now))
    state.dynamic_roles = list(spec.database.roles)
    state.aws_roles = list(spec.aws_roles)
    for lease in spec.leases:
        owner = tokens.get(lease.token) if lease.token else None
        state.leases[lease.id] = Lease(id=lease.id, issued=parse_time(lease.created, now),
                                       ttl=_duration(lease.ttl),
                                       token=owner.id if owner else None)
    for event in sorted(spec.audit, key=lambda e: parse_time(e.time, now)):
        audit.write_pair(when=parse_time(event.time, now),
                         token=tokens.get(event.token) if event.token else None,
                         operation=event.operation, path=event.path,
                         remote_address=event.remote_address, data=event.data,
                         error=event.error, lease_id=event.lease)
    return tokens


def _duration(text: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip()
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def _handler_for(api: VaultApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body: Any
            try:
                body = json.loads(raw) if raw.strip() else {}
            except ValueError:
                body = None
            parts = urlsplit(self.path)
            payload: dict[str, Any] | None
            if not parts.path.startswith("/v1/") or not isinstance(body, dict):
                status, payload = 400, {"errors": ["invalid request"]}
            else:
                status, payload = api.handle(self.command, parts.path[len("/v1/"):],
                                             parts.query, self.headers.get("X-Vault-Token"),
                                             body, self.client_address[0])
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            if data:
                self.send_header("Content-Type", "application/json")
            if status == 429:
                self.send_header("Retry-After", "1")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_LIST = do_PATCH = _serve

    return Handler
