"""Injects and saved state for the simulated clouds rescind runs itself (Google Cloud,
Entra, Azure, Vault), as ``aws_exercise.py`` is for moto.

Their state is plain data in this process, so it is saved whole: the file starts
with the scenario it plays (``seeded``), then a snapshot of the state after each
change (a request that changed nothing writes none); a fired inject's line also names
the inject, so its effect and the fact that it fired land together. A fake's
append-only log (Vault's audit device) is saved apart, as ``log`` lines holding the
lines added since the last save, so a save costs the change, not the history.
``restore`` loads the last whole snapshot (a line torn by a crash is skipped: the state
before it holds), rebuilds the log from its ``log`` lines, and returns the injects that
had fired. A file from before snapshots were saved holds only ``inject`` lines: those
injects are played again on the fresh fake. Snapshots hold no secret: the fakes keep
none (a new client secret's text is answered once and never stored, a password reset
keeps only that it happened), and Vault's dump leaves its token ids and secret values
out (vault_exercise.py).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from rescind.sandbox.scenario_exercise import Fired, InjectBase


class Fake(Protocol):
    """What a simulated cloud gives its exercise: play an inject, dump and load its state,
    the lock its requests change it under, and call ``on_change`` after each change."""

    on_change: Callable[[], None] | None

    @property
    def lock(self) -> threading.RLock: ...

    def play(self, inject: Any, at: datetime) -> Fired: ...

    def dump(self) -> dict[str, Any]: ...

    def load(self, state: dict[str, Any]) -> None: ...


class SavedLog(Protocol):
    """An append-only log a fake keeps beside its state, saved by its new lines."""

    def since(self, offset: int) -> tuple[list[str], int]: ...

    def replace(self, lines: list[str]) -> int: ...


class FakeExercise:
    """The exercise side of one simulated cloud: its injects fired, its state saved."""

    def __init__(self, fake: Fake, *, log: SavedLog | None = None) -> None:
        self.fake = fake
        self.log = log
        self.path: Path | None = None
        self._lock = threading.Lock()
        self._saved_state: str | None = None  # the last snapshot written
        self._saved_log = 0  # offset in the log up to which it is saved

    def fire(self, inject: InjectBase, at: datetime, *, log: bool = True) -> Fired:
        with self.fake.lock:  # no request's change between the inject and its snapshot
            fired = self.fake.play(inject, at)
            if log:
                self._save({"op": "state", "inject": {
                    "id": inject.id, "at": at.isoformat(), "targets": list(fired),
                    "holders": fired.holders}}, always=True)
        return fired

    def save_to(self, path: Path, scenario_file: Path | None) -> None:
        """Start saving to ``path`` (a new exercise): the scenario first, then each change."""
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"op": "seeded", "file": str(scenario_file)
                                    if scenario_file else None}) + "\n", encoding="utf-8")
        self.fake.on_change = self._changed

    def restore(self, path: Path,
                injects: dict[str, InjectBase]) -> list[tuple[str, datetime, Fired]]:
        """Load the last saved state; the injects fired before the crash, in order."""
        state: dict[str, Any] | None = None
        fired: list[tuple[str, datetime, Fired]] = []
        log: list[str] = []
        played: list[tuple[str, datetime]] = []  # a file from before snapshots were saved
        for line in _lines(path):
            if line.get("op") == "log" and isinstance(line.get("lines"), list):
                log.extend(str(text) for text in line["lines"])
            elif line.get("op") == "inject" and line.get("id") in injects:
                played.append((str(line["id"]), datetime.fromisoformat(str(line["at"]))))
            if line.get("op") != "state" or not isinstance(line.get("state"), dict):
                continue
            state = line["state"]
            inject = line.get("inject")
            if isinstance(inject, dict) and inject.get("id") in injects:
                fired.append((str(inject["id"]), datetime.fromisoformat(str(inject["at"])),
                              Fired([str(t) for t in inject.get("targets") or []],
                                    dict(inject.get("holders") or {}))))
        if state is not None:
            self.fake.load(state)
            if self.log is not None and log:
                self._saved_log = self.log.replace(log)
        else:
            fired = [(i, at, self.fire(injects[i], at, log=False)) for i, at in played]
        if path.is_file() and not path.read_bytes().endswith(b"\n"):
            with path.open("a", encoding="utf-8") as fh:
                fh.write("\n")  # end the torn line, so the next save's line is whole
        self.path = path
        self.fake.on_change = self._changed
        return fired

    def _changed(self) -> None:
        self._save({"op": "state"})

    def _save(self, line: dict[str, Any], *, always: bool = False) -> None:
        if self.path is None:
            return
        # Snapshot and write as one step, under the fake's lock first (the lock its requests
        # hold when they call on_change): lines land in the order of the changes, so the
        # last one is the latest state, and no request changes the state while it is dumped.
        with self.fake.lock, self._lock:
            state = json.dumps(self.fake.dump(), separators=(",", ":"), default=str)
            texts = []
            if always or state != self._saved_state:
                head = json.dumps(line, separators=(",", ":"), default=str)
                texts.append(f'{head[:-1]},"state":{state}}}\n')  # the snapshot, serialised once
            added, offset = (self.log.since(self._saved_log) if self.log is not None
                              else ([], 0))
            if added:
                texts.append(json.dumps({"op": "log", "lines": added},
                                        separators=(",", ":")) + "\n")
            if not texts:
                return
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write("".join(texts))
                fh.flush()
                os.fsync(fh.fileno())
            self._saved_state = state
            if added:
                self._saved_log = offset


def _lines(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return []
    found = []
    for raw in text.splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue  # torn by a crash: the state before it holds
        if isinstance(line, dict):
            found.append(line)
    return found
