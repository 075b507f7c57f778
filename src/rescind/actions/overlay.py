"""The dry-run overlay: what earlier approved, blocked changes would have made.

A dry-run blocks every mutating call, so a later step whose precondition an earlier
step would have met (delete a key the deactivate step would have made Inactive) was
refused and the rehearsal stopped teaching. The engine records each approved
mutating plan's own changes (target, field → after) once its calls were blocked; an
action that reads such a field passes the value read through ``value`` or ``over``
and sees the after value instead, and the engine adds a line saying so to the plan.

Outside dry-run nothing is ever recorded, so every read is what the cloud says. The
transport guards are untouched: the overlay changes what a plan believes, never
what reaches a cloud.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rescind.actions.base import Change


class Overlay:
    """(target, field) → (after, step) of blocked changes, and the reads it altered.

    ``view`` gives each step its own list of notes over the same recorded values.
    """

    def __init__(self, values: dict[tuple[str, str], tuple[Any, str]] | None = None) -> None:
        self._values = {} if values is None else values
        self._notes: dict[tuple[str, str], str] = {}

    def record(self, step_id: str, changes: Iterable[Change]) -> None:
        """The changes of ``step_id``'s approved plan, blocked by the dry-run guard."""
        for change in changes:
            self._values[(change.target, change.field)] = (change.after, step_id)

    def value(self, target: str, field: str, read: Any) -> Any:
        """What a read of ``target``'s ``field`` would have returned had the earlier
        blocked changes been made (``read`` itself when none touched it)."""
        hit = self._values.get((target, field))
        if hit is None or hit[0] == read:
            return read
        after, step = hit
        self._notes[(target, field)] = (
            f"{target}: {_shown(after)} after step {step}, not applied in this dry-run "
            f"(its {field} still reads {_shown(read)})")
        return after

    def over(self, reads: Mapping[str, Any], field: str) -> dict[str, Any]:
        """``value`` for every target of a {target: value of ``field``} read."""
        return {target: self.value(target, field, read) for target, read in reads.items()}

    def view(self) -> Overlay:
        """The same recorded changes, with no notes yet (one per step)."""
        return Overlay(self._values)

    @property
    def notes(self) -> list[str]:
        """One line per (target, field) a read saw through the overlay, in order."""
        return list(self._notes.values())


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)
