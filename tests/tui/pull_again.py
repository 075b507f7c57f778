"""The palette's "Pull timeline" pulls again (issue 16): from the timeline step's source,
for a new window up to now, from the incident screen and from the timeline screen alike.

Checked against what the simulated CloudTrail served and what the record holds: an
event the attacker's key made after the first pull is in the timeline read back. Run
inside the AWS exercise through the app (tests/tui/test_exercises.py), which gets to the
review step anyway: a second exercise run would cost the suite a minute.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from textual.command import CommandList
from textual.pilot import Pilot

from rescind.engine.timeline import load_timeline
from rescind.record.journal import read_entries
from rescind.tui.screens.incident import IncidentScreen
from tests.tui.conftest import kinds, screen_named, wait_for

LEAKED = "AKIAIOSFODNN7EXAMPLE"
LATE_USER = "late-arrival"


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


async def approve_until_review(pilot: Pilot[Any], log: list[str]) -> None:
    """Approve the containment steps until the manual review waits, then hide it: the
    runbook's pull is done by then, and nothing is in flight."""
    app = pilot.app
    while True:
        await wait_for(pilot, lambda: type(app.screen).__name__ in (
            "ApprovalModal", "AcknowledgeModal") and app.focused is not None
            and app.focused.screen is app.screen, "the next dialog", timeout=60)
        dialog = app.screen
        if type(dialog).__name__ == "AcknowledgeModal":
            assert dialog.step.id == "review", dialog.step.id
            await pilot.press("escape")  # hides it; the engine keeps waiting
            return
        log.append(f"ApprovalModal:{dialog.request.step.id}:{dialog.policy.value}")
        await pilot.click("#approve")
        await wait_for(pilot, lambda dialog=dialog: app.screen is not dialog, "approved")


async def pull_again_from_the_palette(pilot: Pilot[Any], incident: IncidentScreen,
                                      sandbox: Any) -> None:
    """With the review waiting: an event the key made after the runbook's pull is
    pulled by the palette's "Pull timeline", from the incident and timeline screens.
    Leaves the app on the incident screen."""
    app = pilot.app
    await wait_for(pilot, lambda: app.screen is incident, "the incident screen")
    incident_dir = incident.session.incident_dir
    first = next(e.data["plan"]["state"] for e in read_entries(incident_dir / "journal.jsonl")
                 if e.kind == "action.plan" and e.data["step"] == "timeline")
    before = _events(incident_dir)
    assert not [e for e in before if LATE_USER in (e.target or "")]

    sandbox.trail.add_records([_late_record(sandbox.trail)])
    await _palette(pilot, "Pull timeline")
    await wait_for(pilot, lambda: kinds(incident_dir, "timeline.pull_again"), "the pull",
                   timeout=30)
    again = kinds(incident_dir, "timeline.pull_again")[0]
    # The step's source, a new window: from a little before the last one ended to now.
    assert again["step"] == "timeline"
    assert again["since"] < first["until"] <= again["until"]
    assert again["outputs"]["new_events"] == 1, again
    after = _events(incident_dir)
    late = [e for e in after if LATE_USER in (e.target or "")]
    assert [(e.action, e.credential) for e in late] == [("CreateUser", LEAKED)]
    assert len(after) == len(before) + 1

    # From the timeline screen the palette's "Pull timeline" pulls again too (it once
    # only re-read the file there), its window starting from where the last pull ended.
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
    for _ in range(3):  # Escape focuses the table first, then leaves
        if app.screen is incident:
            break
        await pilot.press("escape")
        await pilot.pause()
    await wait_for(pilot, lambda: app.screen is incident, "back on the incident")
