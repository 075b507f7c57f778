"""Providers hold credential chains and SDK clients, and install the dry-run guard.

The dry-run guarantee is structural: a provider used in dry-run must install a
transport-level guard that turns every mutating call into a BlockedCall record.
The engine refuses to start a dry-run whose providers cannot.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from rescind.actions.base import BlockedCall


@runtime_checkable
class Provider(Protocol):
    name: str

    def install_dry_run_guard(self, on_blocked: Callable[[BlockedCall], None]) -> None:
        """Make mutating calls impossible from now on; report each blocked one."""

    @property
    def guarded(self) -> bool:
        """True once the dry-run guard is installed."""
