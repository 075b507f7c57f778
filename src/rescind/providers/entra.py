"""Entra ID: Microsoft Graph through msgraph-sdk, on an httpx client rescind builds.

The client is ``GraphServiceClient`` on a ``GraphRequestAdapter`` whose httpx client
has rescind's dry-run guard as its innermost transport, beneath kiota's retry
(which honours ``Retry-After`` on 429/503) and redirect handlers. Authentication is
kiota's ``AzureIdentityAuthenticationProvider`` over an azure-identity credential
(see azure_credentials). msgraph-sdk is imported on first use: it is large.

httpx's async client belongs to the event loop it first ran on, so one Graph client
(and one batcher, providers/entra_batch.py) is kept per loop (the TUI and
``asyncio.run`` in the CLI are different loops).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from rescind.errors import ActionError, ErrorKind, UsageError
from rescind.modes import Mode
from rescind.providers import registry as providers
from rescind.providers.azure_credentials import (
    GRAPH_SCOPE,
    AsyncStaticTokenCredential,
    Caller,
    StaticTokenCredential,
    build_credential,
    caller_from_token,
    credential_error,
    is_loopback,
)
from rescind.providers.base import BlockedCall, CheckLimits, ProviderBase, Sandbox
from rescind.providers.entra_batch import BATCH_LIMIT, GraphBatcher
from rescind.providers.entra_errors import translate_graph
from rescind.providers.entra_settings import DEFAULT_WIDTH, AzureSettings, EntraSettings

T = TypeVar("T")


def _check_url(url: str, name: str) -> None:
    if not url.startswith("https://") and not (url.startswith("http://") and is_loopback(url)):
        raise UsageError(f"{name} {url!r} is neither https nor a loopback address",
                         fix=f"use an https endpoint for {name}")


class AzureIdentityBase(ProviderBase):
    """What the entra and azure providers share: credential, caller, guard hook, targets."""

    scope: str = GRAPH_SCOPE

    def __init__(self, *, tenant_id: str | None, credential: str, token: str | None,
                 break_glass: Iterable[str], max_targets: int | None, width: int,
                 workspace_id: str | None = None,
                 logs_url: str = "https://api.loganalytics.io") -> None:
        _check_url(logs_url, "logs_url")
        self.tenant_id = tenant_id
        self.workspace_id = workspace_id
        self.logs_url = logs_url.rstrip("/")
        self._logs: Any = None
        self.credential_kind = credential
        self._token = token
        self.break_glass = [str(b) for b in break_glass]
        self.max_targets = max_targets
        self.width = width
        self._on_blocked: Callable[[BlockedCall], None] | None = None
        self.blocked: list[BlockedCall] = []
        self._lock = threading.RLock()
        self._caller: Caller | None = None
        self._sync_credential: Any = None
        self.limits: CheckLimits | None = None

    @staticmethod
    def shared_settings(settings: EntraSettings | AzureSettings, mode: Mode,
                        simulated: str) -> dict[str, Any]:
        """The constructor arguments of the settings both providers have."""
        if mode is Mode.EXERCISE and settings.token is None:
            raise UsageError(f"exercise mode needs the simulated {simulated}",
                             fix="let rescind start it (rescind run --mode exercise)")
        return {"tenant_id": settings.tenant_id, "credential": settings.credential,
                "token": settings.token.get_secret_value() if settings.token else None,
                "break_glass": settings.break_glass, "max_targets": settings.max_targets,
                "width": settings.concurrency, "workspace_id": settings.workspace_id,
                "logs_url": settings.logs_url}

    # -- credentials ---------------------------------------------------------------------
    def sync_credential(self) -> Any:
        with self._lock:
            if self._sync_credential is None:
                self._sync_credential = (StaticTokenCredential(self._token) if self._token
                                         else build_credential(self.credential_kind,  # type: ignore[arg-type]
                                                               self.tenant_id,
                                                               asynchronous=False,
                                                               limits=self.limits))
            return self._sync_credential

    def limit_for_check(self, limits: CheckLimits) -> None:
        """Bound the sign-in requests (and, in azure, Resource Manager's): identities()
        uses the sync credential only."""
        with self._lock:
            self.limits = limits

    def async_credential(self) -> Any:
        if self._token:
            return AsyncStaticTokenCredential(self._token)
        return build_credential(self.credential_kind, self.tenant_id,  # type: ignore[arg-type]
                                asynchronous=True)

    def caller(self) -> Caller:
        """Who rescind is, from its own token's claims (cached)."""
        with self._lock:
            if self._caller is None:
                try:
                    token = self.sync_credential().get_token(self.scope).token
                except Exception as exc:
                    raise credential_error(exc, self.name) from None
                self._caller = caller_from_token(token)
            return self._caller

    def logs_client(self) -> Any:
        """azure-monitor-query's LogsQueryClient on ``logs_url``, behind the query guard."""
        with self._lock:
            if self._logs is None:
                from azure.monitor.query import LogsQueryClient

                from rescind.providers.entra_guard import logs_guard_policy, loopback_http_policy

                options: dict[str, Any] = {
                    "endpoint": self.logs_url,
                    "per_retry_policies": [logs_guard_policy(self.blocked_hook)]}
                if is_loopback(self.logs_url):
                    options["per_call_policies"] = [loopback_http_policy()]
                self._logs = LogsQueryClient(self.sync_credential(), **options)
            return self._logs

    def workspace(self) -> str:
        if not self.workspace_id:
            raise ActionError("no Log Analytics workspace to query", kind=ErrorKind.CONFIG,
                              retryable=False,
                              fix="set workspace_id (the workspace's id, a GUID) under "
                                  "[entra] or [azure] in rescind.toml (docs/scale.md)")
        return self.workspace_id

    # -- dry-run guard -------------------------------------------------------------------
    @property
    def guarded(self) -> bool:
        return self._on_blocked is not None

    def install_dry_run_guard(self, on_blocked: Callable[[BlockedCall], None]) -> None:
        def record(call: BlockedCall) -> None:
            self.blocked.append(call)
            on_blocked(call)

        self._on_blocked = record

    def blocked_hook(self) -> Callable[[BlockedCall], None] | None:
        return self._on_blocked

    # -- guardrails ----------------------------------------------------------------------
    def check_targets(self, targets: Iterable[tuple[str, str]], *, what: str,
                      limit: int | None = None) -> None:
        """Refuse rescind's own identity, break-glass accounts, and more targets than allowed.

        ``targets`` are (object id, name) pairs; names are UPNs or display names.
        """
        found = list(targets)
        cap = limit or self.max_targets or 20
        if len(found) > cap:
            raise ActionError(f"{len(found)} {what}s in one step is more than the limit of "
                              f"{cap}", kind=ErrorKind.REFUSED, retryable=False,
                              fix="split the step, or raise max_targets on the step")
        me = self.caller()
        protected = {b.lower() for b in self.break_glass}
        for object_id, name in found:
            if object_id.lower() == me.object_id.lower():
                raise ActionError(f"{what} {name or object_id} is the identity rescind runs as",
                                  kind=ErrorKind.REFUSED, retryable=False,
                                  fix="run rescind as a separate incident-response identity")
            if object_id.lower() in protected or (name and name.lower() in protected):
                raise ActionError(f"{what} {name or object_id} is a break-glass account",
                                  kind=ErrorKind.REFUSED, retryable=False,
                                  fix="break-glass accounts are never changed by rescind; "
                                      "remove it from the step")

    def close(self) -> None:
        logs, self._logs = self._logs, None
        if logs is not None:
            logs.close()
        credential = self._sync_credential
        self._sync_credential = None
        if credential is not None:
            close = getattr(credential, "close", None)
            if callable(close):
                close()


@providers.register("entra")
class EntraProvider(AzureIdentityBase):
    """The Entra ID provider: Graph clients, the guard, the guardrails."""

    Settings = EntraSettings

    def __init__(self, *, graph_url: str = "https://graph.microsoft.com/v1.0",
                 tenant_id: str | None = None, credential: str = "auto",
                 token: str | None = None, break_glass: Iterable[str] = (),
                 max_targets: int | None = None, width: int = DEFAULT_WIDTH,
                 workspace_id: str | None = None,
                 logs_url: str = "https://api.loganalytics.io") -> None:
        super().__init__(tenant_id=tenant_id, credential=credential, token=token,
                         break_glass=break_glass, max_targets=max_targets, width=width,
                         workspace_id=workspace_id, logs_url=logs_url)
        _check_url(graph_url, "entra.graph_url")
        self.graph_url = graph_url.rstrip("/")
        self._clients: dict[int, tuple[asyncio.AbstractEventLoop, Any, Any, GraphBatcher]] = {}

    @classmethod
    def from_settings(cls, settings: EntraSettings, mode: Mode, *,
                      incident_id: str | None = None) -> EntraProvider:
        return cls(graph_url=settings.graph_url, **cls.shared_settings(settings, mode, "tenant"))

    @classmethod
    def start_sandbox(cls, scenario: Path | None) -> Sandbox:
        from rescind.sandbox.graph import start_graph_fake
        from rescind.sandbox.loganalytics import serve_workspace

        fake = start_graph_fake(scenario)
        serve_workspace(fake, graph=fake)  # for via: log-analytics
        return fake

    def identities(self) -> list[tuple[str, str]]:
        me = self.caller()
        return [(f"tenant {me.tenant_id}", f"{me.kind} {me.name or me.object_id} "
                                           f"(object id {me.object_id})")]

    # -- the Graph client ----------------------------------------------------------------
    def graph(self) -> Any:
        """The GraphServiceClient of the running event loop."""
        return self._entry()[1]

    def _entry(self) -> tuple[asyncio.AbstractEventLoop, Any, Any, GraphBatcher]:
        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._clients.get(id(loop))
            if entry is None or entry[0] is not loop:
                entry = (loop, *self._new_client(), GraphBatcher(self._post_batch, self.width))
                self._clients[id(loop)] = entry
            return entry

    @property
    def targets_at_once(self) -> int:
        """Targets an action may have in flight when its calls go through ``batched``:
        ``width`` batches of Graph's 20."""
        return self.width * BATCH_LIMIT

    async def batched(self, method: str, path: str, body: Any = None, *, permission: str,
                      resource: str) -> Any:
        """One Graph request (``path`` under graph_url, e.g. ``/users/{id}``) sent inside a
        ``$batch`` with the others asked at the same time; its JSON body, None for 204.
        Its own failure is an ActionError naming ``permission``; 429/503/504 are retried
        after ``Retry-After``."""
        return await self._entry()[3].request(method, path, body, permission=permission,
                                              resource=resource)

    async def _post_batch(self, body: dict[str, Any], permissions: str) -> dict[str, Any]:
        count = len(body["requests"])
        return await self._json("POST", f"{self.graph_url}/$batch", body,
                                permission=permissions, resource=f"a batch of {count} requests")

    def _new_client(self) -> tuple[Any, Any]:
        import httpx
        from kiota_authentication_azure.azure_identity_authentication_provider import (
            AzureIdentityAuthenticationProvider,
        )
        from msgraph.graph_request_adapter import GraphRequestAdapter
        from msgraph.graph_service_client import GraphServiceClient
        from msgraph_core import GraphClientFactory  # type: ignore[import-untyped]

        from rescind.providers.entra_guard import graph_guard_transport

        limits = httpx.Limits(max_connections=self.width, max_keepalive_connections=self.width)
        transport = graph_guard_transport(httpx.AsyncHTTPTransport(limits=limits),
                                          self.blocked_hook)
        client = httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(60, connect=10),
                                   follow_redirects=False)
        client = GraphClientFactory.create_with_default_middleware(client=client)
        host = self.graph_url.split("/")[2].split(":")[0]
        auth = AzureIdentityAuthenticationProvider(self.async_credential(),
                                                   scopes=[GRAPH_SCOPE], allowed_hosts=[host])
        adapter = GraphRequestAdapter(auth, client=client)
        # Through httpx's base_url requests would go to /v1.0//users: set it on the adapter.
        adapter.base_url = self.graph_url
        return GraphServiceClient(request_adapter=adapter), client

    async def call(self, fn: Callable[[Any], Awaitable[T]], *, permission: str,
                   resource: str) -> T:
        """``fn(graph)``, its failures as ActionErrors naming ``permission``."""
        try:
            return await fn(self.graph())
        except Exception as exc:
            raise translate_graph(exc, permission=permission, resource=resource) from None

    async def get_json(self, url: str, *, permission: str, resource: str) -> dict[str, Any]:
        """GET an absolute Graph URL (a page, a nextLink) as JSON, through the same client."""
        return await self._json("GET", url, None, permission=permission, resource=resource)

    async def _json(self, method: str, url: str, body: Any, *, permission: str,
                    resource: str) -> dict[str, Any]:
        # Raw JSON through kiota's adapter (auth, retry, the guard): no msgraph-sdk models.
        from kiota_abstractions.method import Method
        from kiota_abstractions.request_information import RequestInformation
        from msgraph.generated.models.o_data_errors.o_data_error import ODataError

        async def send(graph: Any) -> Any:
            info = RequestInformation(Method(method))
            info.url = url
            info.headers.try_add("Accept", "application/json")
            if body is not None:
                info.set_stream_content(json.dumps(body).encode(), "application/json")
            return await graph.request_adapter.send_primitive_async(
                info, "bytes", {"XXX": ODataError})

        data = await self.call(send, permission=permission, resource=resource)
        return dict(json.loads(data or b"{}"))

    def close(self) -> None:
        with self._lock:
            clients, self._clients = self._clients, {}
        for loop, _, client, _ in clients.values():
            if loop.is_closed():
                continue
            try:
                if loop.is_running():
                    loop.create_task(client.aclose())
                else:
                    loop.run_until_complete(client.aclose())
            except RuntimeError:
                continue
        super().close()
