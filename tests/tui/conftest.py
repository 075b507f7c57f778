"""Fixtures for driving the app: a signing identity, the drill cloud, frozen clocks."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Static

from rescind.actions import registry
from rescind.record.journal import Entry, read_entries
from tests.tui import drill

FROZEN = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
IDENTITY_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


@pytest.fixture
def identity(_isolated_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Jane's signing identity, the same key every run (fingerprints in snapshots stay put)."""
    from rescind.record import keys

    with monkeypatch.context() as patch:
        patch.setattr(Ed25519PrivateKey, "generate", classmethod(lambda cls: IDENTITY_KEY))
        keys.init_key("Jane Responder", "jane@example.com")


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty folder: incidents/ lands here, paths on screen stay short."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def drill_cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The drill actions registered, their cloud reset, and the drill runbook findable."""
    for cls in drill.ACTIONS:
        registry.register(cls)
    state = tmp_path / "drill-cloud.json"
    drill.reset(state)
    monkeypatch.setenv("RESCIND_RUNBOOK_PATH", str(drill.RUNBOOK.parent))
    yield state
    for cls in drill.ACTIONS:
        registry.unregister(cls.name)


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """Freeze what differs between runs: times, the incident id, the host name."""

    class FrozenDatetime(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> FrozenDatetime:
            return cls.fromtimestamp(FROZEN.timestamp(), tz)

    monkeypatch.setattr("rescind.record.journal.utc_now", lambda: "2026-11-20T10:00:00.000000Z")
    monkeypatch.setattr("rescind.engine.opening.new_incident_id",
                        lambda runbook_id: f"2026-11-20-{runbook_id}-5e1f0a")
    monkeypatch.setattr("rescind.engine.session.datetime", FrozenDatetime)
    monkeypatch.setattr("rescind.engine.session.socket.gethostname", lambda: "laptop")
    monkeypatch.setattr("rescind.tui.clock.now", lambda: FROZEN + timedelta(minutes=4, seconds=12))
    return FROZEN


@pytest.fixture
def toasts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every notification the app raises, as text."""
    from rescind.tui.app import RescindApp

    said: list[str] = []
    original = RescindApp.notify

    def record(self: RescindApp, message: str, *args: Any, **kwargs: Any) -> None:
        said.append(str(message))
        original(self, message, *args, **kwargs)

    monkeypatch.setattr(RescindApp, "notify", record)
    return said


async def wait_for(pilot: Pilot[Any], condition: Callable[[], object], what: str,
                   timeout: float = 15.0) -> None:
    """Let the app run until ``condition()`` holds; fail naming ``what`` otherwise."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            screen = pilot.app.screen
            texts = [str(s.render()) for s in screen.query(Static)]
            raise AssertionError(f"timed out waiting for {what}; screen is "
                                 f"{type(screen).__name__}: {texts[:4]}")
        await pilot.pause(0.05)


def screen_named(pilot: Pilot[Any], name: str) -> Callable[[], bool]:
    return lambda: type(pilot.app.screen).__name__ == name


def text_of(widget: Static, width: int = 200) -> str:
    """What a Static shows, as plain text (its content may be any Rich renderable)."""
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


def journal(incident_dir: Path) -> list[Entry]:
    return list(read_entries(incident_dir / "journal.jsonl"))


def kinds(incident_dir: Path, kind: str, **match: Any) -> list[dict[str, Any]]:
    """Data of the journal entries of ``kind`` whose data has every ``match`` item."""
    return [e.data for e in journal(incident_dir)
            if e.kind == kind and all(e.data.get(k) == v for k, v in match.items())]
