"""The simulated Vault's HTTP API: authorisation, rate limit, Vault's envelope, audit device.

Each request is authorised as Vault does: the ``X-Vault-Token``'s policies must grant
the capability its method maps to on its path (and ``sudo`` on root-protected paths),
else 403 ``permission denied``. Answers use Vault's envelope (``data``, ``auth``,
``lease_id``...), errors ``{"errors": [...]}`` with Vault's status codes: 400 for a bad
request or an unknown accessor / lease, 403, 404 for an unknown path, 405 for an
unsupported operation, 429 when the rate-limit quota is exceeded. What each path does
is in ``vault_routes``.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rescind.providers.vault_policy import capability, grants
from rescind.sandbox.vault_routes import ApiError, Call, Handler, routes
from rescind.sandbox.vault_state import AuditLog, Token, VaultState

# Every token may look itself up and ask its own capabilities (Vault's "default" policy).
DEFAULT_POLICY = ["read auth/token/lookup-self", "update auth/token/renew-self",
                  "update auth/token/revoke-self", "update sys/capabilities-self"]


@dataclass
class Served:
    """One request that reached the simulated Vault: what the tests read back."""

    cap: str
    path: str
    status: int
    accessor: str | None


@dataclass
class RateLimit:
    rate: float
    burst: float
    tokens: float = 0.0
    stamp: float = field(default_factory=time.monotonic)

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class VaultApi:
    """Routes requests onto a VaultState; thread-safe."""

    def __init__(self, state: VaultState, audit: AuditLog, *,
                 rate_limit: RateLimit | None = None) -> None:
        self.state = state
        self.audit = audit
        self.rate_limit = rate_limit
        self.served: list[Served] = []
        self._lock = threading.Lock()
        self._routes = routes(state)
        self.on_change: Callable[[], None] | None = None  # exercise mode's saver

    def reroute(self) -> None:
        """The routes again, after a restored state moved a mount."""
        self._routes = routes(self.state)

    # -- entry point -----------------------------------------------------------------
    def handle(self, method: str, path: str, query: str, token_id: str | None,
               body: dict[str, Any], remote: str) -> tuple[int, dict[str, Any] | None]:
        cap = capability(method, query)
        path = path.strip("/")
        with self.state.lock:
            token = self.state.tokens.get(token_id or "")
            try:
                status, payload = self._handle(cap, path, query, token, body)
            except ApiError as exc:
                status, payload = exc.status, {"errors": exc.errors}
            with self._lock:
                self.served.append(Served(cap, path, status,
                                          token.accessor if token else None))
            if token is not None and not path.startswith("sys/health"):
                error = "; ".join((payload or {}).get("errors", [])) if status >= 400 else ""
                lease = (payload or {}).get("lease_id") or None
                self.audit.write_pair(when=datetime.now(UTC), token=token,
                                      operation=cap, path=path, remote_address=remote,
                                      data=body, error=error, lease_id=lease)
            # After every request, under the lock: the saver writes the audit lines it
            # just added and a snapshot only if the state changed (a lookup changes
            # nothing; a read of <mount>/creds/<role> issues a lease).
            if self.on_change is not None:
                self.on_change()
        return status, payload

    def _handle(self, cap: str, path: str, query: str, token: Token | None,
                body: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        if self.rate_limit is not None and not self.rate_limit.take():
            raise ApiError(429, f'request path "{path}": rate limit quota exceeded')
        if path == "sys/health":
            return 200, {"initialized": True, "sealed": False, "standby": False,
                         "version": "1.17.0+rescind-sandbox"}
        if token is None:
            raise ApiError(403, "permission denied")
        route = self._route(cap, path)
        if route is None:
            if any(p.fullmatch(path) for _, p, _ in self._routes):
                raise ApiError(405, "unsupported operation")
            raise ApiError(404)
        pattern, handler = route
        if not self.allowed(token, cap, path):
            raise ApiError(403, "1 error occurred:\n\t* permission denied\n\n")
        match = pattern.fullmatch(path)
        assert match is not None
        reply = handler(self, Call(cap, path, token, body, match.groupdict(), query))
        if reply is None:
            return 204, None
        return 200, {"request_id": str(uuid.uuid4()), "lease_id": reply.pop("lease_id", ""),
                     "renewable": bool(reply.pop("renewable", False)),
                     "lease_duration": reply.pop("lease_duration", 0),
                     "data": reply.pop("data", None), "wrap_info": None,
                     "warnings": None, "auth": reply.pop("auth", None)}

    def _route(self, cap: str, path: str) -> tuple[re.Pattern[str], Handler] | None:
        for caps, pattern, handler in self._routes:
            if cap in caps and pattern.fullmatch(path):
                return pattern, handler
        return None

    def allowed(self, token: Token, cap: str, path: str) -> bool:
        if "root" in token.policies:
            return True
        rules = list(DEFAULT_POLICY)
        for name in token.policies:
            rules.extend(f"{c} {p}" for p, caps in self.state.policies.get(name, {}).items()
                         for c in caps)
        return grants(rules, cap, path)
