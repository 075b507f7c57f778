"""A handful of kill -9 trials in `make test`; scripts/kill_trials.py runs a hundred.

Each case kills a live incident against a loopback AWS at a chosen point (in the
middle of a phase, during the resume of a killed run, inside the seal) and resumes it
to the end; the harness reads the account back from the server and verifies the record.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.killrun import Chooser, Harness, Kill, Trial

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    made = Harness(tmp_path_factory.mktemp("kills"))
    reference = made.prepare()
    assert reference.ok, reference.problems
    assert reference.kills == [] and made.reference_lines > 50
    yield made


def scripted(*kills: Kill) -> Chooser:
    plan = list(kills)

    def choose(trial: Trial, _now: int) -> Kill | None:
        return plan[len(trial.kills)] if len(trial.kills) < len(plan) else None

    return choose


def lines(fraction: float, harness: Harness) -> Kill:
    return Kill(lines=int(harness.reference_lines * fraction))


def test_killed_mid_incident_and_again_during_resume(harness: Harness) -> None:
    trial = harness.incident("mid", scripted(lines(0.15, harness), lines(0.5, harness)))
    assert len(trial.kills) == 2 and trial.runs == 3
    assert trial.ok, trial.problems


def test_killed_inside_a_change(harness: Harness) -> None:
    """Killed with the deactivation sent but its outcome not journaled: the re-check
    confirms it, and the outputs later steps quote (the key's user) come from the
    plan, so quarantine and session revocation still happen."""
    trial = harness.incident("change", scripted(
        Kill(entry=("action.target", "deactivate", "outcome"))))
    assert trial.kills and trial.ok, trial.problems


def test_killed_while_a_read_was_in_flight(harness: Harness) -> None:
    """An interrupted read (the timeline pull) runs again on resume: confirming it
    from its plan left it with no outputs, and every later step that quoted them
    (persistence, then the whole remediation) was skipped."""
    trial = harness.incident("read", scripted(Kill(entry=("action.intent", "timeline"))))
    assert trial.kills and trial.ok, trial.problems


@pytest.mark.parametrize("kill", ["close-journaled", "sums-written"])
def test_killed_inside_the_seal(harness: Harness, kill: str) -> None:
    point = (Kill(lines=harness.reference_lines) if kill == "close-journaled"
             else Kill(file="SHA256SUMS"))
    trial = harness.incident(kill, scripted(point))
    assert trial.kills, "the child sealed before the kill landed"
    assert trial.ok, trial.problems


def test_a_failing_trial_is_reported(harness: Harness, tmp_path: Path) -> None:
    """The harness itself can fail: an account left different is caught."""
    harness.reference = {**(harness.reference or {}), "users": {}}
    try:
        trial = harness.incident("differs", scripted())
    finally:
        harness.prepare()
    [problem] = trial.problems
    assert problem.startswith("the account differs from an uninterrupted run's: /users/")
