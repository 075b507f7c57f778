"""Vault (HashiCorp Vault and OpenBao): an hvac client, the dry-run guard, guardrails.

hvac and requests are imported inside methods, so importing this module stays cheap.
Every request goes through :meth:`VaultProvider.request`, named by the capability and
path a Vault policy grants (``update auth/token/revoke-accessor``): errors are
translated there, a rate-limited request (429) is retried with backoff, and the
transport under hvac's session holds the dry-run guard. Blocking calls run on the
provider's own thread pool (``run``), as wide as its connection pool.
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from rescind.errors import ActionError, UsageError
from rescind.modes import Mode
from rescind.providers import registry as providers
from rescind.providers.base import BlockedCall, CheckLimits, ProviderBase, Sandbox
from rescind.providers.vault_errors import LOGIN_FIX, translate_error
from rescind.providers.vault_guard import DryRunGuard, new_transport
from rescind.providers.vault_guardrails import (
    SelfToken,
    check_count,
    check_prefix,
    check_roles,
    check_tokens,
)
from rescind.providers.vault_settings import DEFAULT_WIDTH, VaultSettings

T = TypeVar("T")
DEFAULT_ADDRESS = "https://127.0.0.1:8200"
_METHODS = {"read": "GET", "list": "LIST", "update": "POST", "create": "POST",
            "delete": "DELETE", "patch": "PATCH"}


@providers.register("vault")
class VaultProvider(ProviderBase):
    """One incident's connection to one Vault (or OpenBao) cluster."""

    Settings: ClassVar[type[VaultSettings]] = VaultSettings

    def __init__(self, *, address: str, token: str | None, namespace: str | None = None,
                 verify: bool | str = True, timeout: float = 30.0, width: int = DEFAULT_WIDTH,
                 break_glass: Iterable[str] = (), max_targets: int | None = None,
                 audit_logs: Iterable[str] = (), audit_device: str = "file",
                 max_attempts: int = 6, simulated: bool = False) -> None:
        self.address = address.rstrip("/")
        self.simulated = simulated  # exercise mode's Vault, its audit log a temporary file
        self.namespace = namespace
        self.width = width
        self.break_glass = [str(b) for b in break_glass]
        self.max_targets = max_targets
        self.audit_logs = [Path(p) for p in audit_logs]
        self.audit_device = audit_device
        self.max_attempts = max_attempts
        self.throttled = 0
        self._token = token
        self._verify = verify
        self._timeout: float | tuple[float, float] = timeout  # requests': total or (connect, read)
        self._lock = threading.RLock()
        self._client: Any = None
        self._transport: Any = None
        self._guard: DryRunGuard | None = None
        self._self: SelfToken | None = None
        self._mounts: dict[str, str] | None = None
        self._executor: ThreadPoolExecutor | None = None

    # -- building --------------------------------------------------------------------
    @classmethod
    def from_settings(cls, settings: VaultSettings, mode: Mode, *,
                      incident_id: str | None = None) -> VaultProvider:
        """A provider from the ``[vault]`` table and Vault's own environment variables."""
        if settings.token is not None and mode is not Mode.EXERCISE:
            raise UsageError("a Vault token in rescind's settings is only for the simulated "
                             "Vault", fix="remove `token` from [vault]; rescind reads "
                                          "VAULT_TOKEN or ~/.vault-token (`vault login`)")
        token = settings.token.get_secret_value() if settings.token else _token_from_env()
        ca = settings.ca_cert or (Path(os.environ["VAULT_CACERT"])
                                  if os.environ.get("VAULT_CACERT") else None)
        skip = settings.skip_verify or os.environ.get("VAULT_SKIP_VERIFY", "").lower() in (
            "1", "true", "yes")
        verify: bool | str = False if skip else (str(ca) if ca else True)
        return cls(address=settings.address or os.environ.get("VAULT_ADDR") or DEFAULT_ADDRESS,
                   token=token, namespace=settings.namespace or os.environ.get(
                       "VAULT_NAMESPACE") or None,
                   verify=verify, timeout=settings.timeout, width=settings.concurrency,
                   break_glass=settings.break_glass, max_targets=settings.max_targets,
                   audit_logs=settings.audit_logs, audit_device=settings.audit_device,
                   simulated=mode is Mode.EXERCISE)

    @classmethod
    def start_sandbox(cls, scenario: Path | None) -> Sandbox:
        """The simulated Vault of exercise mode, seeded from the scenario's ``vault:``."""
        from rescind.sandbox.vault import start_vault_sandbox

        return start_vault_sandbox(scenario)

    def client(self) -> Any:
        """The hvac client (made on first use), its session behind the guarded transport."""
        with self._lock:
            if self._client is None:
                if not self._token:
                    raise ActionError("no Vault token: rescind reads VAULT_TOKEN or "
                                      "~/.vault-token", kind="config", retryable=False,
                                      fix="run `vault login` (or export VAULT_TOKEN), then "
                                          "retry")
                import hvac
                import requests

                session = requests.Session()
                self._transport = new_transport(self.width)
                self._transport.guard = self._guard
                session.mount("http://", self._transport)
                session.mount("https://", self._transport)
                self._client = hvac.Client(url=self.address, token=self._token,
                                           namespace=self.namespace, verify=self._verify,
                                           timeout=self._timeout, session=session)
            return self._client

    def limit_for_check(self, limits: CheckLimits) -> None:
        """Connect and read timeouts on hvac's session, and fewer tries after a 429."""
        with self._lock:
            self._timeout = limits.timeouts
            self.max_attempts = limits.attempts

    # -- dry-run guard -------------------------------------------------------------------
    @property
    def guarded(self) -> bool:
        return self._guard is not None

    def install_dry_run_guard(self, on_blocked: Callable[[BlockedCall], None]) -> None:
        """Block every request that is not an allowed read, from now on."""
        with self._lock:
            if self._guard is not None:
                return
            self._guard = DryRunGuard(on_blocked)
            if self._transport is not None:
                self._transport.guard = self._guard

    @property
    def blocked_calls(self) -> list[BlockedCall]:
        return list(self._guard.blocked) if self._guard else []

    # -- requests ------------------------------------------------------------------------
    def request(self, cap: str, path: str, body: Mapping[str, Any] | None = None, *,
                params: Mapping[str, str] | None = None) -> dict[str, Any] | None:
        """Send ``cap`` on ``path``; the answer's JSON, or None for 204 (or a blocked call)."""
        from hvac import exceptions as hx

        client = self.client()
        path = path.strip("/")
        kwargs: dict[str, Any] = {}
        if body is not None:
            kwargs["json"] = dict(body)
        if params:
            kwargs["params"] = dict(params)
        for attempt in range(1, self.max_attempts + 1):
            try:
                reply = client.adapter.request(_METHODS[cap], f"/v1/{path}", **kwargs)
            except hx.RateLimitExceeded as exc:
                self.throttled += 1
                if attempt == self.max_attempts:
                    raise translate_error(exc, cap=cap, path=path) from exc
                time.sleep(min(8.0, 0.25 * 2 ** attempt) * (0.5 + random.random()))
                continue
            except hx.Forbidden as exc:
                raise self._forbidden(exc, cap, path) from exc
            except Exception as exc:
                raise translate_error(exc, cap=cap, path=path) from exc
            return reply if isinstance(reply, dict) else None
        raise AssertionError("unreachable")

    def _forbidden(self, exc: BaseException, cap: str, path: str) -> ActionError:
        """403 means a missing capability, or a dead token: look ourselves up to tell."""
        if path != "auth/token/lookup-self":
            try:
                self.client().adapter.request("GET", "/v1/auth/token/lookup-self")
            except Exception:
                return ActionError(f"{cap} {path}: Vault no longer accepts rescind's token "
                                   "(expired or revoked)", kind="expired", fix=LOGIN_FIX)
        return translate_error(exc, cap=cap, path=path)

    def read(self, path: str, **params: str) -> dict[str, Any]:
        """GET ``path``'s ``data``."""
        reply = self.request("read", path, params=params or None) or {}
        data = reply.get("data")
        return data if isinstance(data, dict) else {}

    def list_keys(self, path: str) -> list[str]:
        """LIST ``path``'s keys; an empty list where Vault answers 404 (nothing there)."""
        try:
            reply = self.request("list", path) or {}
        except ActionError as exc:
            if exc.kind == "not-found":
                return []
            raise
        keys = (reply.get("data") or {}).get("keys") or []
        return [str(k) for k in keys]

    def write(self, path: str, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """POST ``body`` to ``path`` (a read Vault only offers as POST, or a change)."""
        reply = self.request("update", path, body or {}) or {}
        data = reply.get("data")
        return data if isinstance(data, dict) else {}

    def translate_error(self, exc: BaseException, *, action: str | None = None) -> ActionError:
        cap, _, path = (action or "update ?").partition(" ")
        return translate_error(exc, cap=cap, path=path)

    # -- who we are and what is mounted ----------------------------------------------------
    def self_token(self) -> SelfToken:
        with self._lock:
            cached = self._self
        if cached is not None:
            return cached
        data = self.read("auth/token/lookup-self")
        me = SelfToken(accessor=str(data.get("accessor", "")), orphan=bool(data.get("orphan")),
                       display_name=str(data.get("display_name", "")),
                       policies=tuple(str(p) for p in data.get("policies") or ()),
                       entity_id=str(data.get("entity_id") or ""))
        with self._lock:
            self._self = me
        return me

    def accessor_hmac(self, accessor: str) -> str:
        """The HMAC the audit device wrote for ``accessor`` (``sys/audit-hash``: a read)."""
        reply = self.write(f"sys/audit-hash/{self.audit_device}", {"input": accessor})
        return str(reply.get("hash", ""))

    def mounts(self) -> dict[str, str]:
        """Secrets engine mounts (``aws/``) → type, from sys/mounts (cached)."""
        with self._lock:
            cached = self._mounts
        if cached is not None:
            return cached
        data = self.read("sys/mounts")
        mounts = {str(k): str((v or {}).get("type", "")) for k, v in data.items()
                  if isinstance(v, dict)}
        with self._lock:
            self._mounts = mounts
        return mounts

    def identities(self) -> list[tuple[str, str]]:
        """Read-only: where rescind is and who it is there (``rescind config check``)."""
        where = self.address + (f" (namespace {self.namespace})" if self.namespace else "")
        return [(where, self.self_token().describe())]

    # -- guardrails ----------------------------------------------------------------------------
    def check_tokens(self, accessors: Iterable[str], *, max_targets: int | None = None) -> None:
        accessors = list(accessors)
        check_count(len(accessors), max_targets or self.max_targets)
        check_tokens(self.self_token(), accessors, self.break_glass)

    def check_roles(self, roles: Iterable[str], *, count: int,
                    max_targets: int | None = None) -> None:
        check_count(count, max_targets or self.max_targets)
        check_roles(roles, self.break_glass)

    def check_prefix(self, prefix: str, *, whole_mount: bool) -> str | None:
        return check_prefix(prefix, self.mounts(), whole_mount=whole_mount)

    def check_count(self, count: int, max_targets: int | None = None) -> None:
        check_count(count, max_targets or self.max_targets)

    # -- threads ---------------------------------------------------------------------------------
    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=self.width,
                                                    thread_name_prefix="rescind-vault")
            return self._executor

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool(), functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        """Stop the worker threads and close the HTTP connections (idempotent)."""
        with self._lock:
            executor, self._executor = self._executor, None
            client, self._client = self._client, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        if client is not None:
            client.adapter.close()


def _token_from_env() -> str | None:
    token = os.environ.get("VAULT_TOKEN", "").strip()
    if token:
        return token
    helper = Path.home() / ".vault-token"
    try:
        return helper.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None
