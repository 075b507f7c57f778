"""Quitting mid-incident, cancelling an action in flight, and resuming from the home screen."""

from __future__ import annotations

import re
from pathlib import Path

from textual.widgets import DataTable, Static

from rescind.engine.session import SessionConfig
from rescind.modes import Mode
from rescind.tui.app import RescindApp
from rescind.tui.modals.approval import ApprovalModal
from rescind.tui.screens.incident import IncidentScreen
from tests.tui import drill
from tests.tui.conftest import journal, kinds, screen_named, text_of, wait_for


def _config(runbook: Path, **inputs: str) -> SessionConfig:
    return SessionConfig(runbook=runbook, mode=Mode.EXERCISE, inputs=dict(inputs),
                         out_dir=Path("incidents"))


def _incident(app: RescindApp) -> IncidentScreen:
    return next(s for s in app.screen_stack if isinstance(s, IncidentScreen))


async def test_quit_mid_incident_then_resume_from_home(identity: None, workdir: Path,
                                                       drill_cloud: Path) -> None:
    app = RescindApp(start=_config(drill.RUNBOOK, ticket="IR-9"))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalModal), "an approval")
        incident_dir = _incident(app).session.incident_dir
        await pilot.press("enter")  # approve disable-key (Approve is focused: reversible)
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalModal)
                       and app.screen.request.step.id == "delete-backdoor", "the next approval")
        await pilot.press("ctrl+q")  # works inside a dialog too, and still asks
        await wait_for(pilot, screen_named(pilot, "ConfirmModal"), "the quit question")
        assert "still open" in str(app.screen.query_one(".dialog-body Static").render())
        await pilot.press("enter")  # Quit is focused: nothing is in flight
    assert not app.is_running

    app = RescindApp()
    async with app.run_test(size=(120, 40)) as pilot:
        home = app.screen
        await wait_for(pilot, lambda: getattr(home, "incidents", None), "the incident list")
        assert [(i.dir.name, i.state) for i in home.incidents] == [
            (incident_dir.name, "interrupted")]
        table = home.query_one("#incident-table", DataTable)
        # Home puts the interrupted incident in focus: Enter resumes it.
        await wait_for(pilot, lambda: app.focused is table, "the interrupted incident")
        where = text_of(home.query_one("#incident-where", Static))
        assert "stopped in delete-backdoor (contain); 1 step" in where, where
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalModal), "the approval")
        assert app.screen.request.step.id == "delete-backdoor", "disable-key must not repeat"
        session = _incident(app).session
        assert session.incident_dir.resolve() == incident_dir.resolve()
    # Applied once; an outcome whose line was not yet signed is re-checked on resume,
    # and the confirmation is journaled as its own (recovered) outcome.
    outcomes = kinds(incident_dir, "action.outcome", step="disable-key")
    assert len([o for o in outcomes if not o.get("recovered")]) == 1
    assert [e.kind for e in journal(incident_dir)].count("incident.resume") == 1


async def test_action_in_flight_quit_asks_and_cancel_resumes(
        identity: None, workdir: Path, drill_cloud: Path, toasts: list[str]) -> None:
    app = RescindApp(start=_config(drill.SLOW_RUNBOOK))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalModal), "the approval")
        incident = _incident(app)
        await pilot.press("enter")
        await wait_for(pilot, lambda: incident.runner.in_flight, "the call in flight")

        # q asks, with the safe answer focused; Enter keeps the incident running.
        await pilot.press("q")
        await wait_for(pilot, screen_named(pilot, "ConfirmModal"), "the quit question")
        assert "in flight" in str(app.screen.query_one(".dialog-body Static").render())
        assert app.focused is not None and app.focused.id == "no"
        await pilot.press("enter")
        assert app.is_running and app.screen is incident and incident.runner.in_flight

        # Cancel the hanging call, then resume: the intent is re-verified first.
        await pilot.press("c")
        await wait_for(pilot, screen_named(pilot, "ConfirmModal"), "the cancel question")
        assert app.focused is not None and app.focused.id == "no"
        await pilot.press("tab", "enter")
        await wait_for(pilot, lambda: not incident.runner.running, "the cancelled run")
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, ApprovalModal), "a new approval")
        incident_dir = incident.session.incident_dir
        recovered = kinds(incident_dir, "action.verify", step="revoke", recovered=True)
        assert recovered and recovered[0]["ok"] is False
        # Resuming says where it goes on and what the cloud said of the change in flight.
        assert ("Resumed at step revoke of phase contain; 0 of 2 steps done; 1 change was "
                "in flight and re-checked: revoke had not taken effect; it is planned "
                "again.") in toasts, toasts
        drill.GATE["open"].set()
        await pilot.press("enter")
        await wait_for(pilot, screen_named(pilot, "ConfirmModal"), "the close offer")
        assert drill.load()["sessions_revoked"] is True
        assert drill.load()["slow_calls"] == 2
        await pilot.press("enter")  # Close incident
        await wait_for(pilot, screen_named(pilot, "RecordScreen"), "the record")
        record = app.screen
        await wait_for(pilot, lambda: record.report is not None, "verification")
        assert record.report.exit_code == 0
        await pilot.press("v")  # again: the answer is said, not only redrawn in the panel
        await wait_for(pilot, lambda: any(t.startswith("Verified at ") for t in toasts),
                       "the verdict of v")
        assert re.fullmatch(r"Verified at \d\d:\d\d:\d\d UTC: intact\.",
                            next(t for t in toasts if t.startswith("Verified at "))), toasts
        await pilot.press("escape", "h")  # back to the incident, then home: no question
        await wait_for(pilot, screen_named(pilot, "HomeScreen"), "the home screen")
        home = app.screen
        await wait_for(pilot, lambda: [i.state for i in getattr(home, "incidents", [])]
                       == ["verified"], "the sealed incident listed as verified")
        await pilot.press("q")  # nothing open: quits without asking
    assert not app.is_running
