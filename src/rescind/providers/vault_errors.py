"""Vault failures as ActionErrors: one clear message, the kind, and the fix.

Vault answers 403 ``permission denied`` both for a missing capability and for a
token that expired or was revoked; the provider tells them apart (by looking its
own token up) before calling :func:`translate_error`. hvac and requests are loaded
already whenever there is one of their exceptions to translate.
"""

from __future__ import annotations

from rescind.errors import ActionError
from rescind.providers.vault_policy import needs_sudo

# Messages of a 400 that mean "the thing named is gone" (accessor, lease, secret id).
_GONE = ("invalid accessor", "invalid lease", "failed to find accessor entry",
         "invalid token", "unable to find", "does not exist", "lease not found")
LOGIN_FIX = ("log in again (`vault login`, or export a fresh VAULT_TOKEN), then retry")


def _errors(exc: BaseException) -> str:
    errors = getattr(exc, "errors", None)
    if isinstance(errors, list) and errors:
        return "; ".join(" ".join(str(e).split()) for e in errors)
    return " ".join(str(exc).split())


def permission_error(cap: str, path: str) -> ActionError:
    caps = [cap, "sudo"] if needs_sudo(path) else [cap]
    quoted = ", ".join(f'"{c}"' for c in caps)
    return ActionError(f"permission denied: needs {' and '.join(caps)} on {path}",
                       kind="permission",
                       fix=f'add path "{path}" {{ capabilities = [{quoted}] }} to a policy '
                           "of rescind's token (docs/vault.md lists each action's), then retry")


def translate_error(exc: BaseException, *, cap: str, path: str) -> ActionError:
    """Map an hvac / requests exception of ``cap`` on ``path`` to an ActionError."""
    if isinstance(exc, ActionError):
        return exc
    import requests
    from hvac import exceptions as hx

    what = f"{cap} {path}"
    message = _errors(exc)
    if isinstance(exc, hx.Forbidden):
        return permission_error(cap, path)
    if isinstance(exc, hx.Unauthorized):
        return ActionError(f"{what}: Vault rejected the token ({message})", kind="expired",
                           fix=LOGIN_FIX)
    if isinstance(exc, hx.RateLimitExceeded):
        return ActionError(f"{what}: Vault's rate-limit quota is exceeded ({message})",
                           kind="throttled",
                           fix="wait a minute and retry; rescind already retried with backoff")
    if isinstance(exc, hx.InvalidPath):
        if "no handler for route" in message:
            return ActionError(f"{what}: nothing is mounted there ({message})", kind="config",
                               retryable=False,
                               fix="check the step's mount (`vault secrets list`, "
                                   "`vault auth list`)")
        return ActionError(f"{what}: not found", kind="not-found", retryable=False,
                           fix="it was removed or renamed; retry to re-plan, or skip")
    if isinstance(exc, hx.InvalidRequest):
        if any(g in message.lower() for g in _GONE):
            return ActionError(f"{what}: not found ({message})", kind="not-found",
                               retryable=False,
                               fix="it was revoked or removed since; retry to re-plan, or skip")
        return ActionError(f"{what}: Vault refused the request ({message})", retryable=False)
    if isinstance(exc, hx.VaultDown):
        return ActionError(f"{what}: Vault is sealed or in maintenance ({message})",
                           kind="network", fix="unseal Vault or wait for the active node, "
                                                 "then retry")
    if isinstance(exc, (hx.InternalServerError, hx.BadGateway)):
        return ActionError(f"{what}: Vault failed ({message})", fix="retry")
    if isinstance(exc, requests.exceptions.SSLError):
        return ActionError(f"{what}: Vault's TLS certificate was not trusted ({message})",
                           kind="config", retryable=False,
                           fix="set [vault] ca_cert (or VAULT_CACERT) to the CA bundle")
    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
        return ActionError(f"{what}: cannot reach Vault ({message})", kind="network",
                           fix="check VAULT_ADDR, the VPN or proxy, then retry")
    if isinstance(exc, hx.VaultError):
        return ActionError(f"{what}: {message}")
    return ActionError(f"{what}: unexpected {type(exc).__name__}: {message}")
