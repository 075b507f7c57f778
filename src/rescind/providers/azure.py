"""Azure: Resource Manager through azure-mgmt-msi, azure-mgmt-authorization and azure-mgmt-monitor.

Every client gets the dry-run guard in ``per_retry_policies`` (see entra_guard: a
``per_call_policies`` guard misses the registration POST that azure-mgmt-core's
auto-registration policy sends after a 409). Clients are cached per (kind,
subscription); the SDKs are synchronous, so actions call them through ``run``
(a thread pool as wide as ``concurrency``).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from rescind.errors import ActionError, ErrorKind
from rescind.modes import Mode
from rescind.providers import registry as providers
from rescind.providers.azure_credentials import ARM_SCOPE, is_loopback, pipeline_limits
from rescind.providers.base import Sandbox
from rescind.providers.entra import AzureIdentityBase, _check_url
from rescind.providers.entra_errors import translate_arm
from rescind.providers.entra_settings import DEFAULT_WIDTH, AzureSettings

T = TypeVar("T")


@providers.register("azure")
class AzureProvider(AzureIdentityBase):
    """The Azure provider: ARM clients, the guard, the guardrails."""

    Settings = AzureSettings
    scope = ARM_SCOPE

    def __init__(self, *, arm_url: str = "https://management.azure.com",
                 subscriptions: Iterable[str] = (), tenant_id: str | None = None,
                 credential: str = "auto", token: str | None = None,
                 break_glass: Iterable[str] = (), max_targets: int | None = None,
                 width: int = DEFAULT_WIDTH, check_url: bool = True,
                 workspace_id: str | None = None,
                 logs_url: str = "https://api.loganalytics.io") -> None:
        super().__init__(tenant_id=tenant_id, credential=credential, token=token,
                         break_glass=break_glass, max_targets=max_targets, width=width,
                         workspace_id=workspace_id, logs_url=logs_url)
        if check_url:
            _check_url(arm_url, "azure.arm_url")
        self.arm_url = arm_url.rstrip("/")
        self.subscriptions = [str(s) for s in subscriptions]
        self._clients: dict[tuple[str, str], Any] = {}
        self._executor: ThreadPoolExecutor | None = None

    @classmethod
    def from_settings(cls, settings: AzureSettings, mode: Mode, *,
                      incident_id: str | None = None) -> AzureProvider:
        return cls(arm_url=settings.arm_url, subscriptions=settings.subscriptions,
                   **cls.shared_settings(settings, mode, "subscription"))

    @classmethod
    def start_sandbox(cls, scenario: Path | None) -> Sandbox:
        from rescind.sandbox.arm import start_arm_fake
        from rescind.sandbox.loganalytics import serve_workspace

        fake = start_arm_fake(scenario)
        serve_workspace(fake, arm=fake)  # for via: log-analytics
        return fake

    def identities(self) -> list[tuple[str, str]]:
        me = self.caller()
        found = []
        for sub in self.subscriptions or [""]:
            if sub:
                # A read that proves the credential works in that subscription.
                def mine(client: Any) -> list[Any]:
                    return list(client.role_assignments.list_for_subscription(
                        filter=f"principalId eq '{me.object_id}'"))

                self.call(mine, "authorization", sub,
                    action="Microsoft.Authorization/roleAssignments/read",
                    resource=f"subscription {sub}")
            found.append((f"subscription {sub or '(none configured)'}",
                          f"{me.kind} {me.name or me.object_id} (object id {me.object_id})"))
        return found

    def subscription(self, given: str | None) -> str:
        if given:
            return given
        if not self.subscriptions:
            raise ActionError("no Azure subscription to act in", kind=ErrorKind.CONFIG,
                              retryable=False,
                              fix="set azure.subscriptions in rescind.toml (or --set "
                                  "azure.subscriptions=SUBSCRIPTION_ID)")
        return self.subscriptions[0]

    # -- clients -------------------------------------------------------------------------
    def client(self, kind: str, subscription: str) -> Any:
        """A cached ARM client: ``msi``, ``authorization`` or ``monitor``."""
        key = (kind, subscription)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self._new_client(kind, subscription)
            return self._clients[key]

    def _new_client(self, kind: str, subscription: str) -> Any:
        from rescind.providers.entra_guard import arm_guard_policy, loopback_http_policy

        options: dict[str, Any] = {
            "base_url": self.arm_url,
            "credential_scopes": [ARM_SCOPE],
            "per_retry_policies": [arm_guard_policy(self.blocked_hook)],
            "connection_pool_maxsize": self.width,
            **pipeline_limits(self.limits),
        }
        if is_loopback(self.arm_url):
            options["per_call_policies"] = [loopback_http_policy()]
        credential = self.sync_credential()
        if kind == "msi":
            from azure.mgmt.msi import ManagedServiceIdentityClient

            return ManagedServiceIdentityClient(credential, subscription, **options)
        if kind == "authorization":
            from azure.mgmt.authorization import AuthorizationManagementClient

            return AuthorizationManagementClient(credential, subscription, **options)
        if kind == "monitor":
            from azure.mgmt.monitor import MonitorManagementClient

            return MonitorManagementClient(credential, subscription, **options)
        raise ValueError(f"unknown ARM client kind {kind!r}")

    def call(self, fn: Callable[[Any], T], kind: str, subscription: str, *, action: str,
             resource: str) -> T:
        """Blocking: ``fn(client)``, its failures as ActionErrors naming the RBAC ``action``."""
        try:
            return fn(self.client(kind, subscription))
        except Exception as exc:
            raise translate_arm(exc, action=action, resource=resource) from None

    async def acall(self, fn: Callable[[Any], T], kind: str, subscription: str, *,
                    action: str, resource: str) -> T:
        return await self.run(functools.partial(self.call, fn, kind, subscription,
                                                action=action, resource=resource))

    async def run(self, fn: Callable[[], T]) -> T:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.width, thread_name_prefix="rescind-arm")
            executor = self._executor
        return await asyncio.get_running_loop().run_in_executor(executor, fn)

    def close(self) -> None:
        with self._lock:
            clients, self._clients = self._clients, {}
            executor, self._executor = self._executor, None
        for client in clients.values():
            try:
                client.close()
            except Exception:
                continue
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        super().close()
