"""Credentials for Microsoft Graph and Azure Resource Manager, shared by ``entra`` and ``azure``.

Real credentials come from what the responder already has, through azure-identity:
the Azure CLI login (``az login``), an environment service principal
(``AZURE_CLIENT_ID``/``AZURE_TENANT_ID``/``AZURE_CLIENT_SECRET`` or a certificate),
workload identity (``AZURE_FEDERATED_TOKEN_FILE``), and the device-code flow when
nothing else works (``credential = "device-code"``). The simulated tenant hands out
a static token instead (``token``): an unsigned JWT naming the simulated responder.

Who rescind is comes from the access token's own claims (``oid``, ``upn`` or
``appid``, ``tid``), so the guardrail "never the identity rescind runs as" costs no
request and works for users and service principals alike.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any, Literal

from rescind.errors import ActionError, ErrorKind
from rescind.providers.base import CheckLimits

CredentialKind = Literal["auto", "cli", "environment", "workload", "device-code"]
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
ARM_SCOPE = "https://management.azure.com/.default"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


@dataclass(frozen=True)
class Caller:
    """Who rescind's token says it is."""

    object_id: str
    name: str  # UPN for a user, app id for an application
    tenant_id: str
    kind: Literal["user", "app"]


def fake_token(object_id: str, upn: str, tenant_id: str) -> str:
    """An unsigned JWT for the simulated tenant: the fakes read its claims, nobody verifies it."""
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return ".".join([part({"alg": "none", "typ": "JWT"}),
                     part({"oid": object_id, "upn": upn, "tid": tenant_id,
                           "iss": f"https://sts.windows.net/{tenant_id}/"}), "sim"])


def claims(token: str) -> dict[str, Any]:
    """The payload of a JWT access token, unverified (it is ours: we only read who we are)."""
    parts = token.split(".")
    if len(parts) < 2:
        return {}
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def caller_from_token(token: str) -> Caller:
    found = claims(token)
    if not found.get("oid"):
        raise ActionError("the access token names no object id (oid claim)", kind=ErrorKind.CONFIG,
                          retryable=False, fix="sign in as a user or service principal of "
                                               "the tenant (az login --tenant TENANT)")
    upn = found.get("upn") or found.get("unique_name") or found.get("preferred_username")
    return Caller(object_id=str(found["oid"]), name=str(upn or found.get("appid") or ""),
                  tenant_id=str(found.get("tid", "")), kind="user" if upn else "app")


class StaticTokenCredential:
    """A TokenCredential that always answers one token (the simulated tenant's)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(self._token, int(time.time()) + 3600)

    def close(self) -> None:
        """Nothing to release."""


class AsyncStaticTokenCredential(StaticTokenCredential):
    """The same token for azure-core's async policies (kiota's token provider awaits)."""

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        return StaticTokenCredential.get_token(self, *scopes, **kwargs)

    async def close(self) -> None:  # type: ignore[override]
        """Nothing to release."""


def _quiet_sdk_warnings() -> None:
    """azure-identity logs each credential that fails as a warning, which Python prints
    to stderr when nothing is configured: six lines before rescind's own message with
    its fix, and, in the app, over the screen. rescind reports the failure itself."""
    import logging

    logger = logging.getLogger("azure")
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())


def build_credential(kind: CredentialKind, tenant_id: str | None, *,
                     asynchronous: bool, limits: CheckLimits | None = None) -> Any:
    """The azure-identity credential for ``kind`` (sync for ARM's SDKs, async for Graph's).

    ``auto`` tries, in order: the environment's service principal, workload identity,
    then the Azure CLI login. Device code is never tried silently: it needs a person.
    ``limits`` bound the requests to the sign-in endpoint (the CLI runs ``az``, which
    keeps azure-identity's own 10 s limit).
    """
    _quiet_sdk_warnings()
    if asynchronous:
        from azure.identity import aio as identity
    else:
        import azure.identity as identity  # type: ignore[no-redef]

    tenant: dict[str, Any] = {"tenant_id": tenant_id} if tenant_id else {}
    http = pipeline_limits(limits)
    if kind == "cli":
        return identity.AzureCliCredential(**tenant)
    if kind == "environment":
        return identity.EnvironmentCredential(**http)
    if kind == "workload":
        return identity.WorkloadIdentityCredential(**tenant, **http)
    if kind == "device-code":
        import azure.identity as sync_identity

        # No async device-code credential exists; a sync one works under kiota's provider
        # only through the async wrapper below.
        device = sync_identity.DeviceCodeCredential(**tenant, **http)
        return _AsyncWrapper(device) if asynchronous else device
    chain = [identity.EnvironmentCredential(**http),
             identity.WorkloadIdentityCredential(**tenant, **http)
             if _workload_configured() else None, identity.AzureCliCredential(**tenant)]
    return identity.ChainedTokenCredential(*[c for c in chain if c is not None])


def pipeline_limits(limits: CheckLimits | None) -> dict[str, Any]:
    """azure-core's keyword arguments for ``limits`` (none without: its defaults, 300 s
    timeouts and 3 connection retries, serve an incident)."""
    if limits is None:
        return {}
    return {"connection_timeout": limits.connect_s, "read_timeout": limits.read_s,
            "retry_total": limits.attempts - 1}


def _workload_configured() -> bool:
    import os

    return bool(os.environ.get("AZURE_FEDERATED_TOKEN_FILE"))


class _AsyncWrapper:
    """A sync TokenCredential behind the async interface (the device-code flow)."""

    def __init__(self, credential: Any) -> None:
        self._credential = credential

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        import asyncio

        return await asyncio.to_thread(self._credential.get_token, *scopes, **kwargs)

    async def close(self) -> None:
        self._credential.close()


def credential_error(exc: Exception, provider: str) -> ActionError:
    """azure-identity's 'no credential worked' as one message naming the fix (``provider``:
    whose settings the fix names, entra or azure)."""
    from rescind.providers.entra_errors import is_network

    tried = _attempts(str(exc))
    text = ("; ".join(tried) if tried
            else str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    # The sign-in endpoint did not answer: logging in again cannot help. (A chain keeps
    # only its credentials' messages, so those are read for it.)
    if is_network(exc) or any(word in text for word in _NETWORK_WORDS):
        return ActionError(f"cannot reach the Microsoft sign-in endpoint: {text}",
                           kind=ErrorKind.NETWORK,
                           fix="check the network (VPN, proxy) and AZURE_AUTHORITY_HOST, "
                               "then retry")
    return ActionError(f"no Azure credential worked: {text}", kind=ErrorKind.EXPIRED,
                       retryable=False,
                       fix="run `az login --tenant TENANT`, set AZURE_CLIENT_ID/"
                           "AZURE_TENANT_ID/AZURE_CLIENT_SECRET, or --set "
                           f"{provider}.credential=device-code")


# What urllib3 and azure-core write when a sign-in request got no answer.
_NETWORK_WORDS = ("Failed to establish a new connection", "Connection refused",
                  "Connection aborted", "timed out", "Max retries exceeded",
                  "Name or service not known", "Temporary failure in name resolution")


def _attempts(text: str) -> list[str]:
    """The credentials a ChainedTokenCredential tried, each as ``Name: why it failed``
    (its message's tab-indented lines): with the SDK's own warnings not printed, the only
    place a responder learns why, e.g. ``AzureCliCredential: Azure CLI not found``."""
    from rescind.runbook.messages import clip
    from rescind.textsafe import visible

    return [visible(clip(line.strip(), 300)) for line in text.splitlines()
            if line.startswith("\t") and ":" in line]


def is_loopback(url: str) -> bool:
    from urllib.parse import urlsplit

    return (urlsplit(url).hostname or "") in LOOPBACK_HOSTS
