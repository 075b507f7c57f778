"""A running exercise: its clock, its injects, and the facilitator's controls.

The scenario's injects (each cloud's, on ``sandbox/scenario_exercise.py`` InjectBase;
ids unique across the clouds) fire when the exercise
clock reaches their ``at``, after their ``after_step``, or when the facilitator
fires them; each is made real in its simulated cloud and journaled as
``exercise.inject``. The facilitator pauses and resumes (the clock stops and no new
step starts), advances the clock, and adds notes; each is journaled too (the
contract is in docs/exercises.md).

The clock is rebuilt from the journal on resume (the open's time, pauses, advances),
and each simulated cloud replays its saved state (``sandbox/aws_exercise.py`` for
moto, ``sandbox/fake_exercise.py`` for the project's own fakes), so a
crashed exercise continues where it was instead of starting the scenario again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rescind.engine.responder import EventKind
from rescind.errors import UsageError
from rescind.record.journal import Entry
from rescind.runbook.model import Runbook

if TYPE_CHECKING:
    from rescind.engine.session import IncidentSession

STATE_DIR = "exercise"  # in the incident folder: each simulated cloud's saved state


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def saved_scenario(incident_dir: Path) -> Path | None:
    """The scenario file an exercise was started with (``--scenario`` or the runbook's)."""
    import json

    for path in sorted((incident_dir / STATE_DIR).glob("*.jsonl")):
        try:
            with path.open(encoding="utf-8") as fh:
                first = json.loads(fh.readline() or "{}")
        except (OSError, ValueError):
            continue
        if isinstance(first, dict) and first.get("file") and Path(first["file"]).is_file():
            return Path(str(first["file"]))
    return None  # the runbook's own scenario, as for a new exercise


class ExerciseClock:
    """Seconds since the exercise started, less pauses, plus the facilitator's advances."""

    def __init__(self, started: datetime) -> None:
        self.started = started
        self.paused_at: datetime | None = None
        self.paused_s = 0.0
        self.advanced_s = 0

    def elapsed(self, now: datetime | None = None) -> float:
        now = self.paused_at or now or datetime.now(UTC)
        return (now - self.started).total_seconds() - self.paused_s + self.advanced_s

    def pause(self, at: datetime) -> None:
        self.paused_at = self.paused_at or at

    def resume(self, at: datetime) -> None:
        if self.paused_at is not None:
            self.paused_s += (at - self.paused_at).total_seconds()
            self.paused_at = None

    @classmethod
    def replayed(cls, entries: Iterable[Entry]) -> ExerciseClock:
        """The clock as the journal left it."""
        clock: ExerciseClock | None = None
        for entry in entries:
            if entry.kind == "incident.open":
                clock = cls(_when(entry.time))
            elif clock is None:
                continue
            elif entry.kind == "exercise.pause":
                clock.pause(_when(entry.time))
            elif entry.kind == "exercise.resume":
                clock.resume(_when(entry.time))
            elif entry.kind == "exercise.clock":
                clock.advanced_s += int(entry.data.get("advanced_s", 0))
        return clock or cls(datetime.now(UTC))


def check_injects(runbook: Runbook, sandboxes: dict[str, Any]) -> None:
    """Refuse, before the incident is opened, an inject whose step the runbook lacks, or
    two injects of one id (in two clouds' sections: the facilitator fires them by id)."""
    steps = {step.id for _, step in runbook.steps()}
    seen: set[str] = set()
    for sandbox in sandboxes.values():
        for inject in getattr(sandbox, "injects", []):
            if inject.id in seen:
                raise UsageError(f"inject id {inject.id!r} is used twice in the scenario",
                                 fix="give each inject its own id, across the clouds' sections")
            seen.add(inject.id)
            if inject.after_step is not None and inject.after_step not in steps:
                raise UsageError(
                    f"inject {inject.id}: after_step {inject.after_step!r} is not a step of "
                    f"runbook {runbook.id}", fix=f"name one of: {', '.join(sorted(steps))}")


class Exercise:
    """The injects of one exercise incident and the facilitator's controls over it."""

    def __init__(self, session: IncidentSession, sandboxes: dict[str, Any]) -> None:
        self.session = session
        # Every simulated cloud that saves its state, injects or not (a crash must not
        # lose the responder's changes in a cloud the scenario plays no inject in).
        self._clouds = [s for s in sandboxes.values() if callable(getattr(s, "exercise", None))]
        # Where each inject is played: the sandbox whose scenario defines it.
        self._home: dict[str, Any] = {}
        self.injects: dict[str, Any] = {}
        for sandbox in sandboxes.values():
            for inject in getattr(sandbox, "injects", []):
                self.injects[inject.id] = inject
                self._home[inject.id] = sandbox
        self.fired: list[str] = []
        self.unreachable: list[str] = []  # approver_unreachable injects not yet used
        self.clock = ExerciseClock(session.started_at)
        self._running = asyncio.Event()
        self._running.set()
        self.holding = False  # a step is waiting for the facilitator's resume
        self._lock = asyncio.Lock()

    def _sandboxes(self) -> list[Any]:
        return self._clouds

    def _state_path(self, sandbox: Any) -> Path:
        name = type(sandbox).__name__.removesuffix("Sandbox").removesuffix("Fake").lower()
        return self.session.incident_dir / STATE_DIR / f"{name}.jsonl"

    # -- opening ---------------------------------------------------------------------
    async def begin(self, scenario: Path | None) -> None:
        """A new exercise: each simulated cloud starts saving its state (and which
        scenario file it plays, for resume)."""
        for sandbox in self._sandboxes():
            await asyncio.to_thread(sandbox.exercise().save_to, self._state_path(sandbox),
                                    scenario.resolve() if scenario else None)

    async def restore(self) -> None:
        """A resumed exercise: the clouds' saved state replayed, the clock and fired
        injects as the journal has them."""
        entries = self.session.journal_entries()
        self.clock = ExerciseClock.replayed(entries)
        replayed: list[tuple[str, datetime, list[str]]] = []
        for sandbox in self._sandboxes():
            path = self._state_path(sandbox)
            mine = {i: s for i, s in self.injects.items() if self._home[i] is sandbox}
            replayed += await asyncio.to_thread(sandbox.exercise().restore, path, mine)
        journaled = {e.data.get("id") for e in entries if e.kind == "exercise.inject"}
        for inject_id, at, targets in replayed:
            if inject_id not in journaled:  # killed after it fired, before it was journaled
                spec = self.injects[inject_id]
                trigger = ("clock" if spec.at else "after_step" if spec.after_step
                           else "facilitator")
                self.session._append("exercise.inject", self._entry(spec, trigger, targets, at))
        if replayed:
            entries = self.session.journal_entries()
        timed_out = {e.data.get("inject") for e in entries
                     if e.kind == "action.approval" and e.data.get("timed_out")}
        for entry in entries:
            if entry.kind == "exercise.inject":
                inject_id = str(entry.data.get("id"))
                self.fired.append(inject_id)
                spec = self.injects.get(inject_id)
                if spec is not None and spec.approver_unreachable and inject_id not in timed_out:
                    self.unreachable.append(inject_id)
        if self.clock.paused_at is not None:
            self._running.clear()

    # -- firing ------------------------------------------------------------------------
    async def tick(self, *, even_paused: bool = False) -> list[str]:
        """Fire every inject the clock has reached; their ids. Nothing while paused,
        unless the facilitator's own advance asks."""
        if self.paused and not even_paused:
            return []
        elapsed = self.clock.elapsed()
        due = [i for i, s in self.injects.items()
               if s.at_seconds is not None and s.at_seconds <= elapsed and i not in self.fired]
        return [i for i in due if await self._fire(i, "clock")]

    async def after_step(self, step_id: str) -> list[str]:
        due = [i for i, s in self.injects.items()
               if s.after_step == step_id and i not in self.fired]
        return [i for i in due if await self._fire(i, "after_step")]

    async def fire_now(self, inject_id: str) -> None:
        """The facilitator fires an inject now (one already fired is refused)."""
        if inject_id not in self.injects:
            raise UsageError(f"no inject {inject_id!r} in this scenario",
                             fix=f"fire one of: {', '.join(self.pending()) or 'none left'}")
        if not await self._fire(inject_id, "facilitator"):
            raise UsageError(f"inject {inject_id} has already fired",
                             fix=f"fire one of: {', '.join(self.pending()) or 'none left'}")

    async def _fire(self, inject_id: str, trigger: str) -> bool:
        async with self._lock:
            if inject_id in self.fired:
                return False
            spec = self.injects[inject_id]
            at = datetime.now(UTC)
            targets = await asyncio.to_thread(self._home[inject_id].exercise().fire, spec, at)
            self.fired.append(inject_id)
            if spec.approver_unreachable:
                self.unreachable.append(inject_id)
            self.session._append("exercise.inject", self._entry(spec, trigger, targets, at))
            if spec.alert is not None:
                self.session._emit(EventKind.WARNING,
                                   message=f"Alert from {spec.alert.source}: {spec.alert.text}")
            return True

    @staticmethod
    def _entry(spec: Any, trigger: str, targets: list[str], at: datetime) -> dict[str, Any]:
        # ``holders``: the credentials it minted for a principal (sandbox Fired), which
        # scoring counts contained once that principal is cut off.
        holders = getattr(targets, "holders", None)
        return {"id": spec.id, "summary": spec.summary, "trigger": trigger,
                "targets": list(targets), "at": at.isoformat().replace("+00:00", "Z")} | (
            {"holders": dict(holders)} if holders else {})

    def pending(self) -> list[str]:
        return [i for i in self.injects if i not in self.fired]

    def take_unreachable(self) -> str | None:
        """The inject that makes this two-person approval time out, if one is waiting."""
        return self.unreachable.pop(0) if self.unreachable else None

    # -- facilitator ---------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    async def wait_running(self) -> None:
        """Hold the next step while the facilitator has the exercise paused."""
        self.holding = self.paused
        try:
            await self._running.wait()
        finally:
            self.holding = False

    def pause(self) -> None:
        if self.paused:
            raise UsageError("the exercise is already paused", fix="resume it first")
        self.clock.pause(datetime.now(UTC))
        self._running.clear()
        self.session._append("exercise.pause", {"by": "facilitator"})

    def resume(self) -> None:
        if not self.paused:
            raise UsageError("the exercise is not paused", fix="pause it first")
        self.clock.resume(datetime.now(UTC))
        self._running.set()
        self.session._append("exercise.resume", {"by": "facilitator"})

    async def advance(self, seconds: int) -> list[str]:
        """Move the exercise clock forward; the injects that reached their time fire."""
        if seconds <= 0:
            raise UsageError("advance the clock by a positive time", fix="e.g. +5m")
        self.clock.advanced_s += seconds
        self.session._append("exercise.clock", {"advanced_s": seconds})
        # An advance is the facilitator's deliberate move: play it now, paused or not
        # (the steps stay held: the pause itself is untouched).
        return await self.tick(even_paused=True)

    def note(self, text: str) -> None:
        text = text.strip()
        if not text:
            raise UsageError("a note needs some text", fix="type what to record")
        self.session._append("note", {"text": text, "by": "facilitator"})

    # -- the facilitator's command line (the app's facilitator dialog) ------------------
    def status(self) -> str:
        """One line: the clock, paused or not, and the injects fired and waiting."""
        seconds = int(self.clock.elapsed())
        clock = f"T+{seconds // 60}:{seconds % 60:02d}"
        waiting = ", ".join(
            f"{i} ({self.injects[i].at or 'after ' + str(self.injects[i].after_step)})"
            if self.injects[i].at or self.injects[i].after_step else i
            for i in self.pending())
        return (f"{clock}{' PAUSED' if self.paused else ''} · fired: "
                f"{', '.join(self.fired) or 'none'} · waiting: {waiting or 'none'}")

    async def command(self, text: str) -> str:
        """Run one facilitator command; what happened, in words. UsageError if not understood.

        ``pause``, ``resume``, ``fire ID``, ``advance +5m``, ``note TEXT``."""
        verb, _, rest = text.strip().partition(" ")
        rest = rest.strip()
        if verb == "pause":
            self.pause()
            return "Paused: the clock stops and no new step starts."
        if verb == "resume":
            self.resume()
            return "Resumed."
        if verb == "fire" and rest:
            await self.fire_now(rest)
            return f"Fired {rest}."
        if verb == "advance" and rest:
            from rescind.sandbox.scenario_exercise import offset_seconds

            try:
                seconds = offset_seconds(rest if rest.startswith("+") else f"+{rest}")
            except ValueError as exc:
                raise UsageError(str(exc), fix="e.g. advance +5m") from None
            fired = await self.advance(seconds)
            return f"Clock advanced {seconds} s" + (f"; fired {', '.join(fired)}." if fired
                                                   else ".")
        if verb == "note" and rest:
            self.note(rest)
            return "Note added to the record."
        raise UsageError(f"not a facilitator command: {text.strip()!r}",
                         fix="pause, resume, fire ID, advance +5m, note TEXT")
