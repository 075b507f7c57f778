"""A whole exercise incident driven through the app with the keyboard, checked against the
engine's state, the drill cloud and the record on disk."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, OptionList

from rescind.engine.responder import Approval, StepStatus
from rescind.record.verify import verify_incident
from rescind.tui.app import RescindApp
from rescind.tui.modals.approval import ApprovalModal
from rescind.tui.screens.incident import IncidentScreen
from rescind.tui.widgets.event_table import EventTable
from rescind.tui.widgets.step_detail import StepDetail
from tests.tui import drill
from tests.tui.conftest import kinds, screen_named, wait_for


async def _tab_to(pilot: Pilot[Any], widget_id: str, limit: int = 8) -> None:
    """Press Tab until ``widget_id`` has focus: proves it is reachable without a mouse."""
    for _ in range(limit):
        if pilot.app.focused is not None and pilot.app.focused.id == widget_id:
            return
        await pilot.press("tab")
    raise AssertionError(f"Tab never reached #{widget_id}")


async def _start_drill(pilot: Pilot[Any]) -> IncidentScreen:
    app = pilot.app
    home = app.screen
    await wait_for(pilot, lambda: getattr(home, "runbooks", None), "the runbook library")
    await pilot.press("slash", *"drill")
    assert home.query_one("#runbooks", OptionList).option_count == 1
    await pilot.press("enter", "enter")  # leave the filter, choose the runbook
    await wait_for(pilot, screen_named(pilot, "InputsForm"), "the inputs form")
    form = app.screen
    start = form.query_one("#start", Button)
    assert start.disabled, "ticket is required: Start must wait for it"
    await pilot.press(*"ir7")
    assert start.disabled
    assert "must match" in str(form.query_one("#problem-ticket").render())
    await pilot.press("backspace", "backspace", "backspace", *"IR-7")
    assert not start.disabled
    assert str(form.query_one("#problem-ticket").render()) == ""
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, ApprovalModal | IncidentScreen),
                   "the incident screen")
    incident = next(s for s in app.screen_stack if isinstance(s, IncidentScreen))
    return incident


def _approval(pilot: Pilot[Any], step: str) -> Any:
    def ready() -> bool:
        screen = pilot.app.screen
        return isinstance(screen, ApprovalModal) and screen.request.step.id == step
    return ready


@pytest.mark.slow
async def test_drill_from_home_to_verified_record(identity: None, workdir: Path,
                                                  drill_cloud: Path, toasts: list[str]) -> None:
    app = RescindApp(incidents_root=Path("incidents"))
    async with app.run_test(size=(120, 40)) as pilot:
        incident = await _start_drill(pilot)

        # contain: a medium-risk, reversible plan needs a plain confirmation.
        await wait_for(pilot, _approval(pilot, "disable-key"), "the disable-key approval")
        modal = app.screen
        assert modal.policy is Approval.CONFIRM
        assert app.focused is not None and app.focused.id == "approve"
        detail = incident.query_one(StepDetail)
        assert detail.step is not None and detail.step.plan is not None  # plan shown behind
        await pilot.press("enter")

        # contain: a high-risk, irreversible plan: the name field has the focus, and
        # Approve stays disabled until the typed name matches; a wrong one sends nothing.
        await wait_for(pilot, _approval(pilot, "delete-backdoor"), "the delete approval")
        modal = app.screen
        assert modal.policy is Approval.TYPE_NAME
        assert app.focused is not None and app.focused.id == "typed"
        await pilot.press(*"backup-admn", "enter")
        assert app.screen is modal and modal.query_one("#approve").disabled
        assert not kinds(incident.session.incident_dir, "action.approval",
                         step="delete-backdoor")
        assert "backup-admin" in drill.load()["users"], "a wrong name must change nothing"
        await pilot.press("backspace", *"in", "enter")

        # assess: the pull is throttled once; Retry is focused and succeeds.
        await wait_for(pilot, screen_named(pilot, "FailureModal"), "the failure choice")
        assert app.focused is not None and app.focused.id == "retry"
        assert "backup-admin" not in drill.load()["users"]
        assert drill.load()["keys"]["AKIAIOSFODNN7EXAMPLE"] == "Inactive"
        await pilot.press("enter")

        # assess: a manual step: `n` for a note, Enter marks it done.
        await wait_for(pilot, screen_named(pilot, "AcknowledgeModal"), "the manual step")
        await pilot.press("n", *"saw CreateUser", "enter")

        # notify: the prompt refuses an answer that does not match its pattern.
        await wait_for(pilot, screen_named(pilot, "AnswerModal"), "the prompt")
        await pilot.press(*"soon", "enter")
        assert type(app.screen).__name__ == "AnswerModal"
        await pilot.press(*["backspace"] * 4, *"CS-12", "enter")

        # remediate: another manual step.
        await wait_for(pilot, lambda: type(app.screen).__name__ == "AcknowledgeModal"
                       and app.screen.step.id == "rotate", "the rotate step")
        await pilot.press("enter")

        # The run ends (document is a note): not closing yet, look at the timeline first.
        await wait_for(pilot, screen_named(pilot, "ConfirmModal"), "the close offer")
        await pilot.press("escape")
        session = incident.session
        assert all(s.status is StepStatus.DONE for s in session.steps)
        incident_dir = session.incident_dir

        await pilot.press("t")
        await wait_for(pilot, screen_named(pilot, "TimelineScreen"), "the timeline")
        timeline = app.screen
        table = timeline.query_one(EventTable)
        await wait_for(pilot, lambda: len(timeline.rows), "the timeline to load")
        total = table.row_count
        assert total >= len(drill.sample_events("x"))
        await pilot.press("slash", *"result:failure")
        assert table.row_count == 1
        assert timeline.events[table.current_index].action == "DeleteTrail"
        await pilot.press("enter")  # back to the table
        await pilot.press("m")
        assert kinds(incident_dir, "timeline.relevant", uid="ct-4", relevant=True)
        await pilot.press("slash", "ctrl+u", *"actor:deploy-bot -action:list ip:203.0.113")
        assert table.row_count == 3  # CreateUser, CreateAccessKey, DeleteTrail
        await pilot.press("ctrl+u", *"relevant:yes")
        relevant = [e.uid for e in timeline.events if e.relevant]  # ours are relevant too
        assert "ct-4" in relevant and table.row_count == len(relevant)
        await pilot.press("ctrl+u", "enter")
        assert table.row_count == total

        # Export: moving in the list chooses the format; Enter writes it.
        await pilot.press("e")
        await wait_for(pilot, screen_named(pilot, "ExportModal"), "the export dialog")
        assert app.focused is app.screen.query_one("#formats")
        await pilot.press("down", "down", "enter")  # ocsf, timesketch, csv
        csv_path = incident_dir / "timeline.csv"
        await wait_for(pilot, csv_path.exists, "the CSV export")
        assert "DeleteTrail" in csv_path.read_text()
        assert kinds(incident_dir, "timeline.export", format="csv")
        written = sum(1 for line in csv_path.read_text().splitlines()[1:] if line)
        await wait_for(pilot, lambda: f"{written} events written to {csv_path}" in toasts,
                       "the export said in words")
        # The same again would overwrite it: asked first, and "Keep it" keeps the file.
        csv_path.write_text("mine")
        await pilot.press("e")
        await wait_for(pilot, screen_named(pilot, "ExportModal"), "the export dialog again")
        await pilot.press("down", "down", "enter")
        await wait_for(pilot, screen_named(pilot, "ConfirmModal"), "the overwrite question")
        await pilot.press("enter")  # "Keep it" has the focus
        await pilot.press("escape")  # close the export dialog
        await wait_for(pilot, screen_named(pilot, "TimelineScreen"), "the timeline again")
        assert csv_path.read_text() == "mine"
        assert sum("events written to" in t for t in toasts) == 1, "kept: nothing written"
        assert len(kinds(incident_dir, "timeline.export", format="csv")) == 1
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is incident, "back on the incident")

        # Close, then the record screen verifies and shows the stock-tool command.
        await pilot.press("x")
        await wait_for(pilot, screen_named(pilot, "RecordScreen"), "the record screen")
        record = app.screen
        await wait_for(pilot, lambda: record.report is not None, "verification")
        assert record.report.exit_code == 0 and record.report.sealed
        info = incident.runner.close_info
        assert info is not None and info.signature.exists() and info.report.exists()
        shown = str(record.query_one("#record-paths").render())
        assert info.verify_command in shown and str(info.signature) in shown
        assert session.closed

    report = verify_incident(incident_dir)
    assert report.exit_code == 0, report.summary()
    checked = subprocess.run(info.verify_command, shell=True, cwd=incident_dir,
                             capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    acks = {d["step"]: d["note"] for d in kinds(incident_dir, "manual.ack")}
    assert acks == {"review": "saw CreateUser", "rotate": None}
    assert kinds(incident_dir, "prompt.answer", step="ticket-ref", answer="CS-12")
    choices = kinds(incident_dir, "step.choice", step="pull")
    assert [c["choice"] for c in choices] == ["retry"]
    assert json.loads(json.dumps(kinds(incident_dir, "action.approval", step="delete-backdoor",
                                       approved=True)))[0]["typed"] == "backup-admin"
    assert shlex.split(info.verify_command)[0] == "ssh-keygen"
