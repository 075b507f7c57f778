"""The provider contract: what every cloud's provider class offers the engine.

A provider holds a credential chain and SDK clients, and installs the dry-run
guard. The dry-run guarantee is structural: a provider used in dry-run must
install a transport-level guard that turns every mutating call into a BlockedCall
record. The engine refuses to start a dry-run whose providers cannot.

Providers never import actions or the engine (docs/architecture.md, "Layers"):
what both sides share, such as BlockedCall, lives here.
"""

from __future__ import annotations

import asyncio
import json
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel

from rescind.modes import Mode


@dataclass
class BlockedCall:
    """A mutating call the dry-run guard turned into a record instead of a request."""

    provider: str
    operation: str
    params: dict[str, Any]

    def describe(self) -> str:
        return f"would call {self.operation} {json.dumps(self.params, sort_keys=True, default=str)}"


class BlockedCallRecorder:
    """What every dry-run guard does with a call it blocked: keep it, report it.

    ``on_blocked`` runs on the event loop that installed the guard when there is one
    (SDK calls run in worker threads; the engine's journal lives on the loop),
    otherwise directly in the calling thread.
    """

    def __init__(self, on_blocked: Callable[[BlockedCall], None]) -> None:
        self._on_blocked = on_blocked
        self.blocked: list[BlockedCall] = []
        self._lock = threading.Lock()
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None

    def record(self, call: BlockedCall) -> None:
        with self._lock:
            self.blocked.append(call)
        loop = self._loop
        if loop is not None and loop.is_running() and not _on_loop_thread(loop):
            loop.call_soon_threadsafe(self._on_blocked, call)
        else:
            self._on_blocked(call)


def _on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


@dataclass(frozen=True)
class CheckLimits:
    """How long one request of ``rescind config check`` may take, and how often it is tried.

    The check must say within seconds that an endpoint cannot be reached, where an
    incident's calls keep their SDKs' long timeouts and many retries (a revocation
    that gives up on a network blip costs more than a slow one).
    """

    connect_s: float
    read_s: float
    attempts: int

    @property
    def timeouts(self) -> tuple[float, float]:
        """(connect, read) seconds, as requests takes them."""
        return self.connect_s, self.read_s


# `rescind config check`'s, and the check before an incident starts: an endpoint that
# refuses fails at once, one that never answers within seconds.
CHECK_LIMITS = CheckLimits(connect_s=3.0, read_s=5.0, attempts=1)


@runtime_checkable
class Provider(Protocol):
    """One incident's connection to one cloud."""

    @property
    def name(self) -> str:
        """The name it is registered under (``aws``)."""

    def install_dry_run_guard(self, on_blocked: Callable[[BlockedCall], None]) -> None:
        """Make mutating calls impossible from now on; report each blocked one."""

    @property
    def guarded(self) -> bool:
        """True once the dry-run guard is installed."""

    def close(self) -> None:
        """Release threads and connections; called once the session is done with it."""


class Sandbox(Protocol):
    """A simulated cloud for exercise mode, running until ``stop``."""

    def provider_settings(self) -> dict[str, Any]:
        """The provider's settings table that points it at this sandbox as the responder."""

    def stop(self) -> None:
        """Stop the simulated cloud (idempotent)."""


class ProviderBase(ABC):
    """What ``@providers.register(NAME)`` expects of a provider class.

    ``Settings`` validates the provider's table of the config file (``[aws]``) and
    of ``--set aws.KEY=VALUE``; ``from_settings`` builds the provider from it;
    ``start_sandbox`` starts the simulated cloud of exercise mode (None: there is
    none, and exercise mode refuses runbooks that need this provider).
    """

    name: ClassVar[str]
    Settings: ClassVar[type[BaseModel]]

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: Any, mode: Mode, *,
                      incident_id: str | None = None) -> Provider:
        """A provider for ``mode`` from a validated ``Settings`` instance."""

    @classmethod
    def start_sandbox(cls, scenario: Path | None) -> Sandbox | None:
        """Start this cloud's simulated twin seeded from ``scenario``."""
        return None

    @abstractmethod
    def identities(self) -> list[tuple[str, str]]:
        """Read-only: (where, who rescind is there) for each place it can act in.

        ``rescind config check`` prints these; a provider raises ActionError when
        its credentials do not work.
        """

    def limit_for_check(self, limits: CheckLimits) -> None:  # noqa: B027 (optional hook)
        """Make every request this instance sends from now on give up within ``limits``.

        ``rescind config check`` calls it on the instance it builds for the check alone,
        before ``identities``; an incident's providers never get it. The default does
        nothing: for a provider whose ``identities`` sends no request.
        """

    @property
    @abstractmethod
    def guarded(self) -> bool:
        """True once the dry-run guard is installed."""

    @abstractmethod
    def install_dry_run_guard(self, on_blocked: Callable[[BlockedCall], None]) -> None:
        """Make mutating calls impossible from now on; report each blocked one."""

    @abstractmethod
    def close(self) -> None:
        """Release threads and connections (idempotent)."""


def table(settings: Mapping[str, Any], name: str) -> dict[str, Any]:
    """Provider ``name``'s table of an incident's settings (empty when absent)."""
    value = settings.get(name)
    return dict(value) if isinstance(value, Mapping) else {}
