"""The Vault dry-run guard: an allow-list of read paths, enforced in the HTTP transport.

Vault's HTTP method does not say whether a call changes anything: it lists with
``LIST``, several reads are POST/PUT (``auth/token/lookup-accessor``,
``sys/capabilities-self``, ``.../secret-id-accessor/lookup``, ``sys/leases/lookup``),
and some GETs mint credentials (``aws/creds/<role>``, ``database/creds/<role>``). So
the guard judges a request by (capability, path): only the reads rescind needs, listed
in ``READS``, go through; anything else gets an empty 204 answer instead of a request
and is reported as "would call <capability> <path> {body}", secret fields hidden. The
guard is a requests transport adapter mounted on the session hvac uses, so nothing
the provider sends can pass it, whatever an action does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from rescind.providers import vault_redaction  # noqa: F401  (registers Vault's secret names)
from rescind.providers.base import BlockedCall, BlockedCallRecorder
from rescind.providers.vault_policy import capability, path_matches
from rescind.redaction import REDACTED, redact

# (capability, path) of every request rescind may send in dry-run: reads only. A
# ``+`` stands for a mount or a name, so renamed mounts still read.
READS: tuple[tuple[str, str], ...] = (
    ("read", "sys/health"), ("read", "sys/mounts"), ("read", "sys/auth"),
    ("update", "sys/capabilities-self"), ("update", "sys/audit-hash/*"),
    ("read", "auth/token/lookup-self"), ("update", "auth/token/lookup-accessor"),
    ("update", "auth/token/lookup"),
    ("list", "auth/token/accessors"),
    ("list", "auth/+/role"), ("read", "auth/+/role/+"), ("read", "auth/+/role/+/role-id"),
    ("list", "auth/+/role/+/secret-id"),
    ("update", "auth/+/role/+/secret-id-accessor/lookup"),
    ("update", "auth/+/role/+/secret-id/lookup"),
    ("update", "sys/leases/lookup"), ("list", "sys/leases/lookup"),
    ("list", "sys/leases/lookup/*"),
    ("list", "+/config"), ("read", "+/config/+"),
    ("list", "+/static-roles"), ("read", "+/static-roles/+"),
    ("read", "+/metadata/*"), ("list", "+/metadata/*"), ("list", "+/metadata"),
)
# Request fields whose values are secrets in Vault's API, beyond the shared list
# (token, password): a role id and a secret id make an AppRole login (the shared
# list keeps both public, as ids in IAM and Secrets Manager), and KV data and
# audit-hash input are whatever the caller put there.
_VAULT_SECRET_FIELDS = frozenset({"role_id", "secret_id", "data", "input"})


def is_read(cap: str, path: str) -> bool:
    """Whether a request with ``cap`` on ``path`` is one of the allowed reads."""
    path = path.strip("/")
    return any(c == cap and path_matches(p, path) for c, p in READS)


def hide_secrets(body: Mapping[str, Any]) -> dict[str, Any]:
    """A request body as a report may show it: secret fields replaced."""
    shown = {k: REDACTED if k in _VAULT_SECRET_FIELDS and v not in (None, "") else v
             for k, v in body.items()}
    cleaned: dict[str, Any] = redact(shown)
    return cleaned


def api_path(url: str) -> tuple[str, str]:
    """(path after /v1/, query) of a request URL."""
    parts = urlsplit(url)
    path = parts.path
    return (path[len("/v1/"):] if path.startswith("/v1/") else path.lstrip("/")), parts.query


def _transport_class() -> type[Any]:
    from requests.adapters import HTTPAdapter

    class GuardedTransport(HTTPAdapter):
        """Sends allowed reads; answers everything else itself while a guard is set."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.guard: DryRunGuard | None = None

        def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
            guard = self.guard
            if guard is not None:
                blocked = guard.check(request)
                if blocked is not None:
                    return blocked
            return super().send(request, *args, **kwargs)

    return GuardedTransport


def new_transport(pool: int) -> Any:
    """A requests transport adapter that a dry-run guard can later be set on."""
    return _transport_class()(pool_connections=pool, pool_maxsize=pool)


class DryRunGuard(BlockedCallRecorder):
    """Turns every request that is not an allowed read into a BlockedCall and a 204."""

    def check(self, request: Any) -> Any:
        path, query = api_path(str(request.url))
        cap = capability(str(request.method), query)
        if is_read(cap, path):
            return None
        body: dict[str, Any] = {}
        if request.body:
            try:
                parsed = json.loads(request.body)
            except (ValueError, TypeError):
                parsed = {"body": f"<{len(request.body)} bytes>"}
            body = parsed if isinstance(parsed, dict) else {"body": parsed}
        call = BlockedCall(provider="vault", operation=f"{cap} {path}",
                           params=hide_secrets(body))
        self.record(call)
        return _empty_response(request)


def _empty_response(request: Any) -> Any:
    from requests import Response

    response = Response()
    response.status_code = 204
    response.url = request.url
    response.request = request
    response._content = b""
    response.headers["X-Rescind-Dry-Run"] = "blocked"
    return response
