"""Google Cloud failures as ActionErrors: one clear message, the kind, and the fix.

google.api_core turns gRPC statuses and HTTP errors into one exception family;
this maps it to the engine's kinds. PERMISSION_DENIED names the missing IAM
permission (Google's own message when it names one, else the call's), an etag
conflict (ABORTED / FAILED_PRECONDITION / 409 / 412) is a conflict to re-plan.
The SDKs are imported inside the function: they are loaded already whenever
there is one of their exceptions to translate.
"""

from __future__ import annotations

import re

from rescind.errors import ActionError, ErrorKind

# "Permission 'iam.serviceAccounts.disable' denied on resource ..." /
# "The caller does not have permission" / "Permission iam.x.y denied"
_PERMISSION = re.compile(r"[Pp]ermission '?(?P<perm>[a-z]+(?:\.[A-Za-z]+)+)'? (?:is )?denied")
RELOGIN = ("run `gcloud auth application-default login` (or refresh the key file named by "
           "gcp.key_file), then retry")
# Statuses worth retrying with backoff: quota/rate limits and transient unavailability.
RETRY_STATUSES = frozenset({"RESOURCE_EXHAUSTED", "UNAVAILABLE", "DEADLINE_EXCEEDED",
                            "INTERNAL"})


def status_of(exc: BaseException) -> str:
    """The canonical status name (``RESOURCE_EXHAUSTED``) of a google.api_core error."""
    from google.api_core import exceptions as gx

    if not isinstance(exc, gx.GoogleAPICallError):
        return ""
    grpc_code = getattr(exc, "grpc_status_code", None)
    if grpc_code is not None:
        return str(grpc_code.name)
    # A REST error names its canonical status in the body: FAILED_PRECONDITION and
    # INVALID_ARGUMENT are both HTTP 400, ABORTED and ALREADY_EXISTS both 409.
    response = getattr(exc, "response", None)
    try:
        named = response.json()["error"]["status"]  # type: ignore[union-attr]
    except Exception:
        named = None
    if isinstance(named, str) and named.isupper():
        return named
    by_class = (
        (gx.TooManyRequests, "RESOURCE_EXHAUSTED"), (gx.ResourceExhausted, "RESOURCE_EXHAUSTED"),
        (gx.ServiceUnavailable, "UNAVAILABLE"), (gx.GatewayTimeout, "DEADLINE_EXCEEDED"),
        (gx.DeadlineExceeded, "DEADLINE_EXCEEDED"), (gx.InternalServerError, "INTERNAL"),
        (gx.PermissionDenied, "PERMISSION_DENIED"), (gx.Forbidden, "PERMISSION_DENIED"),
        (gx.Unauthenticated, "UNAUTHENTICATED"), (gx.Unauthorized, "UNAUTHENTICATED"),
        (gx.NotFound, "NOT_FOUND"), (gx.Aborted, "ABORTED"), (gx.Conflict, "ABORTED"),
        (gx.FailedPrecondition, "FAILED_PRECONDITION"),
        (gx.PreconditionFailed, "FAILED_PRECONDITION"),
        (gx.InvalidArgument, "INVALID_ARGUMENT"), (gx.BadRequest, "INVALID_ARGUMENT"))
    for cls, name in by_class:
        if isinstance(exc, cls):
            return name
    return ""


def translate_error(exc: BaseException, *, permission: str | None = None,
                    resource: str | None = None) -> ActionError:
    """Map an SDK exception to an ActionError.

    ``permission`` is the IAM permission the failed call needs
    (``iam.serviceAccounts.disable``), ``resource`` what it acted on.
    """
    if isinstance(exc, ActionError):
        return exc
    from google.api_core import exceptions as gx
    from google.auth import exceptions as ax

    what = permission or "the Google Cloud call"
    on = f" on {resource}" if resource else ""
    if isinstance(exc, ax.InvalidOperation):  # a 401 the credentials cannot refresh away
        return ActionError(f"{what}: the credentials were rejected ({_first_line(exc)})",
                           kind=ErrorKind.EXPIRED, fix=RELOGIN)
    if isinstance(exc, ax.DefaultCredentialsError):
        return ActionError(f"{what}: no Google Cloud credentials were found", kind=ErrorKind.CONFIG,
                           retryable=False,
                           fix="run `gcloud auth application-default login`, or set "
                               "gcp.key_file to a service-account key file")
    if isinstance(exc, ax.RefreshError):
        return ActionError(f"{what}: the Google credentials could not be refreshed "
                           f"({_first_line(exc)})", kind=ErrorKind.EXPIRED, fix=RELOGIN)
    if isinstance(exc, ax.TransportError):
        return ActionError(f"{what}: cannot reach Google ({_first_line(exc)})",
                           kind=ErrorKind.NETWORK,
                           fix="check the network (VPN, proxy), then retry")
    if isinstance(exc, gx.RetryError):
        return ActionError(f"{what}: gave up after retries ({_first_line(exc)})",
                           kind=ErrorKind.THROTTLED, fix="wait a minute and retry")
    if not isinstance(exc, gx.GoogleAPICallError):
        try:
            import requests

            if isinstance(exc, requests.RequestException):
                return ActionError(f"{what}: cannot reach Google ({_first_line(exc)})",
                                   kind=ErrorKind.NETWORK, fix="check the network, then retry")
        except ImportError:  # pragma: no cover - requests comes with google-auth
            pass
        return ActionError(f"{what}: unexpected {type(exc).__name__}: {_first_line(exc)}")
    status = status_of(exc)
    message = _first_line(exc)
    if status == "PERMISSION_DENIED":
        match = _PERMISSION.search(str(exc.message or ""))
        needed = match.group("perm") if match else what
        return ActionError(f"permission denied: needs {needed}{on} ({message})",
                           kind=ErrorKind.PERMISSION, retryable=False,
                           fix=f"grant {needed}{on} to the identity rescind runs as (a role "
                               "that has it, see docs/gcp.md), then retry")
    if status == "UNAUTHENTICATED":
        return ActionError(f"{what}: the credentials were rejected or have expired ({message})",
                           kind=ErrorKind.EXPIRED, fix=RELOGIN)
    if status == "RESOURCE_EXHAUSTED":
        return ActionError(f"{what}: Google is rate-limiting requests ({message})",
                           kind=ErrorKind.THROTTLED,
                           fix="wait a minute and retry; rescind already retried with backoff")
    if status in ("UNAVAILABLE", "DEADLINE_EXCEEDED", "INTERNAL"):
        # INTERNAL is Google's own failure: the network is not the thing to check.
        return ActionError(f"{what}: the service is unavailable ({message})",
                           kind=ErrorKind.NETWORK,
                           fix="retry in a minute; Google's status page says if it is down"
                           if status == "INTERNAL"
                           else "check the network (VPN, proxy), then retry")
    if status == "NOT_FOUND":
        return ActionError(f"{what}: not found{on} ({message})", kind=ErrorKind.NOT_FOUND,
                           retryable=False,
                           fix="it was deleted or renamed since; retry to re-plan against "
                               "what exists now, or skip")
    if status in ("ABORTED", "FAILED_PRECONDITION"):
        return ActionError(f"{what}: changed concurrently{on} ({message})", kind=ErrorKind.CONFLICT,
                           fix="retry to re-plan against the current state and approve again")
    if status == "INVALID_ARGUMENT":
        return ActionError(f"{what}: invalid request{on} ({message})", retryable=False)
    return ActionError(f"{what} failed ({status or type(exc).__name__}: {message})")


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
