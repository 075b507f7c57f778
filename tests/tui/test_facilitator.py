"""The facilitator's dialog (f) runs an exercise from the app: every command journaled,
the fired inject real in the simulated account (read back from moto)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from rescind.engine.session import SessionConfig
from rescind.modes import Mode
from rescind.record.verify import verify_incident
from rescind.tui.app import RescindApp
from rescind.tui.screens.incident import IncidentScreen
from tests.tui.conftest import kinds, screen_named, text_of, wait_for
from tests.tui.test_exercises import respond_until_sealed

SCENARIO = Path(__file__).resolve().parents[2] / "runbooks" / "scenarios" / \
    "leaked-access-key.yaml"


def _runbook(folder: Path) -> Path:
    path = folder / "facilitated.yaml"
    path.write_text(f"""\
id: facilitated
title: A facilitated exercise
scenario: {SCENARIO}
phases:
  contain:
    - id: hold
      manual: Look at the timeline while the facilitator plays injects
    - id: deactivate
      action: aws.iam.deactivate_access_key
      with: {{access_key_id: AKIAIOSFODNN7EXAMPLE}}
""")
    return path


async def _command(pilot: Pilot[Any], text: str, expect: str) -> None:
    modal = pilot.app.screen
    # Typed in one go (the field is a plain Input; key by key is slow on a busy machine).
    modal.query_one("#facilitator-command", Input).value = text
    await pilot.press("enter")
    await wait_for(pilot, lambda: expect in text_of(modal.query_one("#facilitator-outcome")),
                   f"the outcome of {text!r}")


@pytest.mark.slow
async def test_facilitator_fires_pauses_advances_and_notes(identity: None,
                                                          workdir: Path) -> None:
    config = SessionConfig(runbook=_runbook(workdir), mode=Mode.EXERCISE,
                           out_dir=Path("incidents"))
    app = RescindApp(start=config)
    log: list[str] = []
    async with app.run_test(size=(120, 40)) as pilot:
        incident = next(s for s in app.screen_stack if isinstance(s, IncidentScreen))
        await wait_for(pilot, screen_named(pilot, "AcknowledgeModal"), "the manual step",
                       timeout=60)
        await pilot.press("escape")  # the dialog waits; the incident screen has the keys
        await wait_for(pilot, lambda: app.screen is incident, "the incident screen")
        await pilot.press("f")
        await wait_for(pilot, screen_named(pilot, "FacilitatorModal"), "the facilitator")
        modal = app.screen
        assert "waiting: soc-alert (+5m), backdoor-key (+10m)" in \
            text_of(modal.query_one("#facilitator-status"))
        await _command(pilot, "fire backdoor-key", "Fired backdoor-key")
        await _command(pilot, "pause", "Paused")
        await _command(pilot, "advance +6m", "fired soc-alert")
        await _command(pilot, "resume", "Resumed")
        await _command(pilot, "note nobody looked at the timeline", "Note added")
        await _command(pilot, "fire backdoor-key", "already fired")
        assert "fired: backdoor-key, soc-alert" in text_of(modal.query_one("#facilitator-status"))
        session = incident.runner.session
        assert session is not None
        s = session.settings["aws"]
        import boto3

        iam = boto3.client("iam", region_name="us-east-1", endpoint_url=s["endpoint_url"],
                           aws_access_key_id=s["access_key_id"],
                           aws_secret_access_key=s["secret_access_key"])
        keys = iam.list_access_keys(UserName="backup-admin")["AccessKeyMetadata"]
        assert "AKIABACKDOOR2EXAMPLE" in [k["AccessKeyId"] for k in keys]
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is incident, "the incident screen")
        # The app checks the clock by itself: moved past secret-read (+12m) behind its back.
        exercise = session.exercise
        assert exercise is not None
        exercise.clock.advanced_s += 6 * 60
        await wait_for(pilot, lambda: "secret-read" in exercise.fired, "the clock's inject",
                       timeout=60)
        await pilot.press("enter")  # the manual step's dialog again
        record = await respond_until_sealed(pilot, log)
        await wait_for(pilot, lambda: record.report is not None, "verification")
        incident_dir = record.incident_dir
    assert [(i["id"], i["trigger"]) for i in kinds(incident_dir, "exercise.inject")] == [
        ("backdoor-key", "facilitator"), ("soc-alert", "clock"), ("secret-read", "clock")]
    assert kinds(incident_dir, "exercise.pause") == [{"by": "facilitator"}]
    assert kinds(incident_dir, "exercise.resume") == [{"by": "facilitator"}]
    assert kinds(incident_dir, "exercise.clock") == [{"advanced_s": 360}]
    assert kinds(incident_dir, "note", by="facilitator") == [
        {"text": "nobody looked at the timeline", "by": "facilitator"}]
    assert verify_incident(incident_dir).exit_code == 0
