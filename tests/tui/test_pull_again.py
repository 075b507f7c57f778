"""The palette's "Pull timeline" pulls again (issue 16): from the timeline step's source,
for a new window up to now, from the incident screen and from the timeline screen alike.

Checked against what the simulated CloudTrail served and what the record holds: an
event the attacker's key made after the first pull is in the timeline read back.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from textual.command import CommandList
from textual.pilot import Pilot

from rescind.engine.session import SessionConfig
from rescind.engine.timeline import load_timeline
from rescind.modes import Mode
from rescind.record.journal import read_entries
from rescind.tui.app import RescindApp
from rescind.tui.screens.incident import IncidentScreen
from tests.tui.conftest import kinds, screen_named, wait_for

RUNBOOK = Path(__file__).resolve().parents[2] / "runbooks" / "aws-access-key-compromise.yaml"
LEAKED = "AKIAIOSFODNN7EXAMPLE"
LATE_USER = "late-arrival"


@pytest.fixture
def aws_sandbox(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The simulated AWS account exercise mode starts, to add CloudTrail events to it."""
    import rescind.sandbox.aws

    started: dict[str, Any] = {}
    start = rescind.sandbox.aws.start_aws_sandbox

    def starting(*args: Any, **kwargs: Any) -> Any:
        started["aws"] = start(*args, **kwargs)
        return started["aws"]

    monkeypatch.setattr(rescind.sandbox.aws, "start_aws_sandbox", starting)
    return started


def _late_record(trail: Any) -> dict[str, Any]:
    """A CreateUser by the leaked key, made now: after the runbook's pull ended."""
    mine = next(r for r in trail.records("us-east-1")
                if r.get("userIdentity", {}).get("accessKeyId") == LEAKED)
    record = json.loads(json.dumps(mine))
    record.update(eventID="0e2b2c1a-6a4e-4c9e-9f00-00000000late", eventName="CreateUser",
                  eventSource="iam.amazonaws.com", readOnly=False,
                  eventTime=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                  requestParameters={"userName": LATE_USER}, responseElements=None,
                  awsRegion="us-east-1")
    record.pop("errorCode", None)
    record.pop("errorMessage", None)
    record.pop("resources", None)
    return record


def _events(incident_dir: Path) -> list[Any]:
    """The timeline as the record holds it on disk."""
    return load_timeline(incident_dir, list(read_entries(incident_dir / "journal.jsonl")))


async def _palette(pilot: Pilot[Any], command: str) -> None:
    await pilot.press("ctrl+p")
    await wait_for(pilot, screen_named(pilot, "CommandPalette"), "the palette")
    await pilot.press(*command)
    palette = pilot.app.screen

    def listed_first() -> bool:
        found = palette.query(CommandList)
        return bool(found and found.first().option_count
                    and found.first().get_option_at_index(0).hit.text == command)

    await wait_for(pilot, listed_first, f"{command!r} listed first")
    await pilot.press("enter")


@pytest.mark.slow
async def test_pull_timeline_pulls_again_for_a_new_window(
        identity: None, workdir: Path, aws_sandbox: dict[str, Any]) -> None:
    config = SessionConfig(runbook=RUNBOOK, mode=Mode.EXERCISE,
                           inputs={"access_key_id": LEAKED}, out_dir=Path("incidents"))
    app = RescindApp(start=config)
    async with app.run_test(size=(120, 40)) as pilot:
        incident = next(s for s in app.screen_stack if isinstance(s, IncidentScreen))
        # Approve the containment steps until the manual review waits: the runbook's
        # pull is done by then, and nothing else is in flight.
        while True:
            await wait_for(pilot, lambda: type(app.screen).__name__ in (
                "ApprovalModal", "AcknowledgeModal") and app.focused is not None
                and app.focused.screen is app.screen, "the next dialog", timeout=60)
            dialog = app.screen
            if type(dialog).__name__ == "AcknowledgeModal":
                assert dialog.step.id == "review", dialog.step.id
                await pilot.press("escape")  # hides it; the engine keeps waiting
                break
            await pilot.click("#approve")
            await wait_for(pilot, lambda dialog=dialog: app.screen is not dialog, "approved")
        await wait_for(pilot, lambda: app.screen is incident, "the incident screen")
        incident_dir = incident.session.incident_dir
        first = next(e.data["plan"]["state"] for e in read_entries(
            incident_dir / "journal.jsonl")
            if e.kind == "action.plan" and e.data["step"] == "timeline")
        before = _events(incident_dir)
        assert not [e for e in before if LATE_USER in (e.target or "")]

        aws_sandbox["aws"].trail.add_records([_late_record(aws_sandbox["aws"].trail)])
        await _palette(pilot, "Pull timeline")
        await wait_for(pilot, lambda: kinds(incident_dir, "timeline.pull_again"),
                       "the pull", timeout=30)
        again = kinds(incident_dir, "timeline.pull_again")[0]
        # The step's source, a new window: from a little before the last one ended to now.
        assert again["step"] == "timeline"
        assert again["since"] < first["until"] <= again["until"]
        assert again["outputs"]["new_events"] == 1, again
        after = _events(incident_dir)
        late = [e for e in after if LATE_USER in (e.target or "")]
        assert [(e.action, e.credential) for e in late] == [("CreateUser", LEAKED)]
        assert len(after) == len(before) + 1

        # From the timeline screen the palette's "Pull timeline" pulls again too (not
        # only re-reads the file), its window starting from where the last pull ended.
        await wait_for(pilot, screen_named(pilot, "TimelineScreen"), "the timeline")
        timeline = app.screen
        await wait_for(pilot, lambda: len(timeline.events) == len(after), "the late event")
        await _palette(pilot, "Pull timeline")
        await wait_for(pilot, lambda: len(kinds(incident_dir, "timeline.pull_again")) == 2,
                       "the second pull", timeout=30)
        second = kinds(incident_dir, "timeline.pull_again")[1]
        assert second["since"] < again["until"] <= second["until"]
        assert second["outputs"]["new_events"] == 0  # the late event is not added twice
        assert len(_events(incident_dir)) == len(after)
