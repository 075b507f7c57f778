"""Channel secrets: from the environment or the OS keyring, never from a file.

A secret is named in ``[notify]`` (``secret = "slack-sec"``); its value is
``$RESCIND_SECRET_SLACK_SEC`` if set, else the keyring entry (service
``rescind-notify``, user ``slack-sec``) that ``rescind notify add-secret
slack-sec`` stores. The value is held in memory only and never journaled, shown
or written (the provider also refuses messages that contain one).
"""

from __future__ import annotations

import os
import re

from rescind.errors import ActionError, UsageError

SERVICE = "rescind-notify"
ENV_PREFIX = "RESCIND_SECRET_"


def env_var(name: str) -> str:
    """The environment variable that may hold secret ``name``."""
    return ENV_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def _backend() -> object | None:
    from rescind.record.keys import _usable_keyring

    return _usable_keyring()


def read_secret(name: str, *, recipient: str) -> str:
    """The value of secret ``name``; an ActionError naming the fix when it is nowhere."""
    value = os.environ.get(env_var(name))
    if value:
        return value
    backend = _backend()
    if backend is not None:
        from keyring.errors import KeyringError

        try:
            value = backend.get_password(SERVICE, name)  # type: ignore[attr-defined]
        except KeyringError:
            value = None
        if value:
            return str(value)
    raise ActionError(f"recipient {recipient!r}: secret {name!r} is not in the keyring or "
                      f"${env_var(name)}", kind="config", retryable=False,
                      fix=f"run `rescind notify add-secret {name}`, or set ${env_var(name)}")


def store_secret(name: str, value: str) -> str:
    """Store ``value`` as secret ``name`` in the OS keyring; returns where it went."""
    backend = _backend()
    if backend is None:
        raise UsageError("no OS keyring is available to store the secret in",
                         fix=f"set ${env_var(name)} in the environment rescind runs in "
                             "instead (never in rescind.toml or a runbook)")
    from keyring.errors import KeyringError

    try:
        backend.set_password(SERVICE, name, value)  # type: ignore[attr-defined]
    except KeyringError as exc:
        raise UsageError(f"the keyring refused to store {name!r}: {type(exc).__name__}",
                         fix=f"unlock the keyring, or set ${env_var(name)}") from None
    return f"OS keyring ({type(backend).__name__}, service {SERVICE})"
