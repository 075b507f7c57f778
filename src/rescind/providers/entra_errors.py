"""Graph and ARM failures as ActionErrors: the kind, one message, and the fix.

401 → expired (sign in again), 403 → permission (naming the Graph permission or the
Azure RBAC action the call needed), 404 → not-found, 409/412 → conflict, 429 and
503 → throttled (the SDKs already waited ``Retry-After`` and retried), anything
else → error. The SDK modules are loaded already when there is an error of theirs.
"""

from __future__ import annotations

from typing import Any

from rescind.errors import ActionError, ErrorKind

_KINDS = {401: ErrorKind.EXPIRED, 403: ErrorKind.PERMISSION, 404: ErrorKind.NOT_FOUND,
          409: ErrorKind.CONFLICT, 412: ErrorKind.CONFLICT, 429: ErrorKind.THROTTLED,
          503: ErrorKind.THROTTLED, 504: ErrorKind.NETWORK}
_FINAL = (ErrorKind.PERMISSION, ErrorKind.NOT_FOUND)  # retrying the same call cannot help
_CREDENTIAL_ERRORS = ("ClientAuthenticationError", "CredentialUnavailableError",
                      "AuthenticationRequiredError")


def _kind(status: int | None) -> ErrorKind:
    if status is None:
        return ErrorKind.NETWORK
    return _KINDS.get(status, ErrorKind.ERROR if status < 500 else ErrorKind.NETWORK)


def _fix(kind: ErrorKind, needed: str, where: str) -> str | None:
    if kind == ErrorKind.EXPIRED:
        return "sign in again (`az login --tenant TENANT`), then retry"
    if kind == ErrorKind.PERMISSION:
        return (f"grant rescind's identity {needed} ({where}), or run as "
                "an identity that has it")
    if kind == ErrorKind.THROTTLED:
        return "wait a minute and retry; the service asked rescind to slow down"
    if kind == ErrorKind.NOT_FOUND:
        return "check the id or name, or skip this step"
    if kind == ErrorKind.CONFLICT:
        return "retry to re-plan and approve the new plan"
    return None


def translate_graph(exc: BaseException, *, permission: str, resource: str) -> ActionError:
    """A Graph (kiota/msgraph) exception for the call needing ``permission`` on ``resource``."""
    if isinstance(exc, ActionError):
        return exc
    if type(exc).__name__ in _CREDENTIAL_ERRORS:
        from rescind.providers.azure_credentials import credential_error

        return credential_error(exc if isinstance(exc, Exception) else Exception(str(exc)),
                                "entra")
    status = getattr(exc, "response_status_code", None)
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) or ""
    detail = getattr(error, "message", None) or (str(exc).splitlines() or [""])[0]
    if status is None and is_network(exc):
        return ActionError(f"cannot reach Microsoft Graph for {resource}: {exc}",
                           kind=ErrorKind.NETWORK,
                           fix="check the network (VPN, proxy) and graph_url, then retry")
    return _graph_status(status, code, detail, permission=permission, resource=resource)


def graph_item_error(status: int, body: Any, *, permission: str,
                     resource: str) -> ActionError:
    """The failure of one request inside a ``$batch``: its own status and OData error."""
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    return _graph_status(status, str(error.get("code") or ""), str(error.get("message") or ""),
                         permission=permission, resource=resource)


def _graph_status(status: int | None, code: str, detail: str, *, permission: str,
                  resource: str) -> ActionError:
    kind = _kind(status)
    message = f"Graph refused {resource}: {status} {code} {detail}".strip()
    return ActionError(message, kind=kind, retryable=kind not in _FINAL,
                       fix=_fix(kind, f"the Graph permission {permission}",
                                "application permission, admin consent; see docs/entra.md"))


def translate_arm(exc: BaseException, *, action: str, resource: str) -> ActionError:
    """An azure-core exception for the call needing RBAC ``action`` on ``resource``."""
    if isinstance(exc, ActionError):
        return exc
    if type(exc).__name__ in _CREDENTIAL_ERRORS:
        from rescind.providers.azure_credentials import credential_error

        return credential_error(exc if isinstance(exc, Exception) else Exception(str(exc)),
                                "azure")
    if type(exc).__name__ == "ServiceRequestError" and "non-TLS" in str(exc):
        return ActionError(f"refused to send a token over plain http for {resource}",
                           kind=ErrorKind.CONFIG, retryable=False,
                           fix="use an https Resource Manager endpoint (azure.arm_url)")
    status = getattr(exc, "status_code", None)
    if status is None and is_network(exc):
        return ActionError(f"cannot reach Azure Resource Manager for {resource}: {exc}",
                           kind=ErrorKind.NETWORK,
                           fix="check the network (VPN, proxy) and arm_url, then retry")
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) or ""
    reason = str(getattr(error, "message", None) or getattr(exc, "reason", "") or "")
    if code == "MissingSubscriptionRegistration":
        return ActionError(f"Resource Manager refused {resource}: {reason}", kind=ErrorKind.CONFIG,
                           retryable=True, fix="register the resource provider (az provider "
                           "register --namespace NAMESPACE), then retry")
    kind = _kind(status)
    message = f"Resource Manager refused {resource}: {status} {code} {reason}".strip()
    return ActionError(message, kind=kind, retryable=kind not in _FINAL,
                       fix=_fix(kind, f"a role with {action}",
                                "Azure RBAC, at the scope; see docs/azure.md"))


def is_network(exc: BaseException) -> bool:
    names = {cls.__name__ for cls in type(exc).__mro__}
    return bool(names & {"ConnectError", "TimeoutException", "NetworkError",
                         "ServiceRequestError", "ServiceResponseError", "OSError"})
