"""Snapshot tests of the four screens at 120x40 and 80x24 (pytest-textual-snapshot).

Everything that differs between runs is frozen (clock, incident id, host, signing
key) and the runbook library holds only the drill runbooks, so a snapshot changes
only when what a responder sees changes. Update with `pytest --snapshot-update`
after looking at the report.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from rescind.engine.responder import (
    Approval,
    ApprovalRequest,
    ApprovalResponse,
    EngineEvent,
    FailureChoice,
    StepState,
)
from rescind.engine.session import IncidentSession, SessionConfig
from rescind.errors import ActionError
from rescind.modes import Mode
from rescind.record.journal import Entry, read_entries
from rescind.timeline.merge import READ_ONLY_ACTIONS
from rescind.tui.app import RescindApp
from rescind.tui.modals.approval import ApprovalModal
from rescind.tui.widgets.histogram import IncidentHistogram
from tests.tui import drill
from tests.tui.conftest import screen_named, wait_for

SIZES = [pytest.param((120, 40), id="120x40"), pytest.param((80, 24), id="80x24")]
Snap = Callable[..., bool]


class Scripted:
    """Answers every request the way a responder running the drill would."""

    async def acknowledge(self, step: StepState) -> str | None:
        return "checked"

    async def answer(self, step: StepState, default: str | None, secret: bool) -> str:
        return "CS-12"

    async def approve(self, request: ApprovalRequest) -> ApprovalResponse:
        if request.policy is Approval.TYPE_NAME:
            return ApprovalResponse(approved=True, typed=request.expected_names[0])
        return ApprovalResponse(approved=True)

    async def on_failure(self, step: StepState, error: ActionError) -> FailureChoice:
        return FailureChoice("retry")

    def event(self, event: EngineEvent) -> None:
        pass


@pytest.fixture
def snap_env(identity: None, workdir: Path, drill_cloud: Path, frozen: datetime,
             monkeypatch: pytest.MonkeyPatch) -> Path:
    """Relative paths (stable on screen and in the journal) and only the drill runbooks."""
    shutil.copytree(drill.RUNBOOK.parent, workdir / "runbooks")
    monkeypatch.setattr("rescind.runbook.library.runbook_dirs", lambda: [Path("runbooks")])
    # Toasts come and go on timers; a snapshot holds only what the screen itself shows.
    monkeypatch.setattr(RescindApp, "notify", lambda self, *args, **kwargs: None)
    return workdir


def _config() -> SessionConfig:
    return SessionConfig(runbook=Path("runbooks/tui-drill.yaml"), mode=Mode.EXERCISE,
                         inputs={"ticket": "IR-7"}, out_dir=Path("incidents"))


@pytest.fixture
def closed_incident(snap_env: Path) -> Path:
    """The drill, run to the end and closed by the engine without the app."""

    async def run() -> Path:
        session = await IncidentSession.start(_config(), Scripted())
        try:
            assert await session.run() == "completed"
            await session.close()
        finally:
            session.shutdown()
        return session.incident_dir

    incident_dir = asyncio.run(run())
    # Give the seal a second incident beside it: one the responder left half-way.
    asyncio.run(_interrupted())
    return incident_dir


async def _interrupted() -> None:
    config = SessionConfig(runbook=Path("runbooks/tui-slow.yaml"), mode=Mode.EXERCISE,
                           out_dir=Path("incidents"))
    session = await IncidentSession.start(config, Scripted())
    session.shutdown()


async def _settle(pilot: Pilot[Any]) -> None:
    """Wait for what the snapshot shows, not for time: background reads done (lists,
    identity, verification), no animation pending, no blinking cursor."""
    from rescind.tui.runner import RUN_GROUP

    def quiet() -> bool:
        return not any(w.is_running and w.group != RUN_GROUP for w in pilot.app.workers)

    await wait_for(pilot, quiet, "background work to finish")
    for screen in pilot.app.screen_stack:
        for field in screen.query(Input):
            field.cursor_blink = False
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()


# Every screen a responder acts on, also at 80x24 without colour (NO_COLOR).
LOOKS = [pytest.param((120, 40), False, id="120x40"), pytest.param((80, 24), False, id="80x24"),
         pytest.param((80, 24), True, id="80x24-nocolor")]


@pytest.mark.parametrize("size", SIZES)
def test_home(snap_compare: Snap, closed_incident: Path, size: tuple[int, int]) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        home = pilot.app.screen
        await wait_for(pilot, lambda: len(getattr(home, "incidents", [])) == 2, "incidents")
        await wait_for(pilot, lambda: getattr(home, "runbooks", None), "runbooks")
        await _settle(pilot)

    assert snap_compare(RescindApp(), terminal_size=size, run_before=ready)


def _approval_on(app: Any, step: str) -> Callable[[], bool]:
    return lambda: isinstance(app.screen, ApprovalModal) and app.screen.request.step.id == step


@pytest.mark.parametrize(("size", "no_color"), LOOKS)
def test_incident_plan_and_typed_confirmation(snap_compare: Snap, snap_env: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              size: tuple[int, int], no_color: bool) -> None:
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")

    async def ready(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, _approval_on(pilot.app, "disable-key"), "the first approval")
        await pilot.press("enter")
        await wait_for(pilot, _approval_on(pilot.app, "delete-backdoor"),
                       "the typed confirmation")
        await pilot.press(*"backup-admin")
        await _settle(pilot)

    assert snap_compare(RescindApp(start=_config()), terminal_size=size, run_before=ready)


@pytest.mark.parametrize(("size", "no_color"), LOOKS)
def test_incident(snap_compare: Snap, snap_env: Path, monkeypatch: pytest.MonkeyPatch,
                  size: tuple[int, int], no_color: bool) -> None:
    """The incident screen itself, the typed confirmation put aside (Escape)."""
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")

    async def ready(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, _approval_on(pilot.app, "disable-key"), "the first approval")
        await pilot.press("enter")
        await wait_for(pilot, _approval_on(pilot.app, "delete-backdoor"),
                       "the typed confirmation")
        await pilot.press("escape")
        await wait_for(pilot, screen_named(pilot, "IncidentScreen"), "the incident screen")
        screen = pilot.app.screen
        await wait_for(pilot, lambda: screen.anchor_line is not None, "the checkpoint")
        await _settle(pilot)

    assert snap_compare(RescindApp(start=_config()), terminal_size=size, run_before=ready)


async def _open_closed_incident(pilot: Pilot[Any]) -> None:
    home = pilot.app.screen
    await wait_for(pilot, lambda: len(getattr(home, "incidents", [])) == 2, "incidents")
    newest_closed = next(n for n, i in enumerate(home.incidents) if i.state == "verified")
    # Home focuses the interrupted incident first; g goes to the top of the list.
    await wait_for(pilot, lambda: home.query_one("#incident-table").has_focus, "the list")
    await pilot.press("g", *["down"] * newest_closed, "enter")
    await wait_for(pilot, screen_named(pilot, "RecordScreen"), "the record screen")
    record = pilot.app.screen
    await wait_for(pilot, lambda: record.report is not None, "verification")


@pytest.mark.parametrize(("size", "no_color"), LOOKS)
def test_timeline(snap_compare: Snap, closed_incident: Path, monkeypatch: pytest.MonkeyPatch,
                  size: tuple[int, int], no_color: bool) -> None:
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")

    async def ready(pilot: Pilot[Any]) -> None:
        await _open_closed_incident(pilot)
        await pilot.press("t")
        await wait_for(pilot, screen_named(pilot, "TimelineScreen"), "the timeline")
        timeline = pilot.app.screen
        await wait_for(pilot, lambda: len(timeline.rows), "events")
        await pilot.press("slash", *"actor:deploy-bot", "enter", "down", "down")
        await _settle(pilot)

    assert snap_compare(RescindApp(), terminal_size=size, run_before=ready)


@pytest.mark.parametrize("size", SIZES)
def test_record(snap_compare: Snap, closed_incident: Path, size: tuple[int, int]) -> None:
    async def ready(pilot: Pilot[Any]) -> None:
        await _open_closed_incident(pilot)
        # The journal opens at its newest line: wait until it has scrolled there.
        table = pilot.app.screen.query_one("#record-journal")
        await wait_for(pilot, lambda: table.row_count and table.cursor_row ==
                       table.row_count - 1 and table.scroll_y == table.max_scroll_y,
                       "the newest journal line")
        await _settle(pilot)

    assert snap_compare(RescindApp(), terminal_size=size, run_before=ready)


def _outcomes(incident: Path) -> list[Entry]:
    return [e for e in read_entries(incident / "journal.jsonl") if e.kind == "action.outcome"]


async def test_timeline_histogram_marks_the_journal_actions(closed_incident: Path) -> None:
    """Every action.outcome of the journal is on the histogram's axis, the first change
    that succeeded is "contained", and the responder's row draws a mark for each."""
    outcomes = _outcomes(closed_incident)
    assert outcomes
    app = RescindApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await _open_closed_incident(pilot)
        await pilot.press("t")
        await wait_for(pilot, screen_named(pilot, "TimelineScreen"), "the timeline")
        bars = pilot.app.screen.query_one(IncidentHistogram)
        await wait_for(pilot, lambda: bars.histogram.bins > 0, "the histogram")
        hist = bars.histogram
        stamps = sorted(datetime.fromisoformat(e.time).timestamp() for e in outcomes)
        assert [a.time for a in hist.actions] == stamps
        first_change = next(datetime.fromisoformat(e.time).timestamp() for e in outcomes
                            if e.data["ok"] and e.data["action"] not in READ_ONLY_ACTIONS)
        assert hist.contained == first_change
        columns = bars.columns
        marks = bars.marks(columns)
        assert marks[bars.column_of(first_change, columns)] in "▲◆"
        assert {bars.column_of(t, columns) for t in stamps} <= set(marks)
        assert sum(map(sum, hist.series.values())) == len(pilot.app.screen.events) - len(stamps)


def test_report_picture_is_sealed(closed_incident: Path) -> None:
    """timeline.svg is written at close, shown by report.md and summed in SHA256SUMS
    (which the signature covers), with one responder mark per journal action."""
    picture = closed_incident / "timeline.svg"
    svg = ElementTree.parse(picture).getroot()
    circles = svg.findall(".//{http://www.w3.org/2000/svg}circle")
    assert len(circles) == len(_outcomes(closed_incident))
    sums = dict(line.split("  ", 1)[::-1] for line in
                (closed_incident / "SHA256SUMS").read_text().splitlines())
    assert sums["timeline.svg"] == hashlib.sha256(picture.read_bytes()).hexdigest()
    assert "![events per interval by source" in (closed_incident / "report.md").read_text()
