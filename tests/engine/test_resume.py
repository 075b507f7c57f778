"""Kill a headless run with SIGKILL at several points, then resume it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rescind.engine.responder import ApprovalResponse, EventKind
from rescind.engine.session import IncidentSession
from rescind.record.journal import read_entries
from rescind.record.verify import verify_incident
from tests.engine.conftest import ScriptedResponder, write_runbook
from tests.engine.test_session import RUNBOOK
from tests.engine.testcloud import FakeCloud

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def file_identity(_isolated_config: Path) -> Iterator[None]:
    """A key file identity, which the child process (with no keyring) can load too."""
    import keyring
    from keyring.backends import fail

    from rescind.record.keys import init_key

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        init_key("Jane Responder", "jane@example.com")
        yield
    finally:
        keyring.set_keyring(previous)


def killed_run(tmp_path: Path, point: str) -> tuple[Path, FakeCloud]:
    runbook = write_runbook(tmp_path / "rb.yaml", RUNBOOK)
    cloud = FakeCloud(tmp_path / "cloud.json")
    done = subprocess.run(
        [sys.executable, "-m", "tests.engine.killer", str(runbook), str(tmp_path / "inc"),
         str(cloud.path), point],
        cwd=ROOT, capture_output=True, text=True, env=os.environ.copy(), timeout=60)
    assert done.returncode == -9, done.stderr
    return Path(done.stdout.strip()), cloud


async def resume(incident: Path, cloud: FakeCloud) -> ScriptedResponder:
    responder = ScriptedResponder(approvals=[ApprovalResponse(approved=True),
                                             ApprovalResponse(approved=True, typed="alice")])
    session = await IncidentSession.resume(incident, responder,
                                           providers={"testcloud": cloud})
    try:
        assert await session.run() == "completed"
        await session.close()
    finally:
        session.shutdown()
    return responder


@pytest.mark.parametrize("point", ["ack", "apply-after", "apply-before", "approve-delete"])
async def test_resume_after_sigkill(tmp_path: Path, point: str) -> None:
    incident, cloud = killed_run(tmp_path, point)
    before = [e.kind for e in read_entries(incident / "journal.jsonl")]
    responder = await resume(incident, cloud)
    entries = list(read_entries(incident / "journal.jsonl"))
    kinds = [e.kind for e in entries]
    assert kinds[: len(before)] == before  # nothing recorded was lost or rewritten
    assert "incident.resume" in kinds
    calls = cloud.load()["calls"]
    # Each mutation happened exactly once, whatever the point of death.
    assert calls.count("DisableUser") == 1 and calls.count("DeleteUser") == 1
    assert "alice" not in cloud.load()["users"]
    done_steps = [e.data["step"] for e in entries if e.kind == "step.done"]
    assert sorted(done_steps) == ["delete", "disable", "look", "summary"]
    if point == "apply-after":
        recovered = [e.data for e in entries if e.kind == "action.verify"
                     and e.data.get("recovered")]
        assert recovered and recovered[0]["ok"] is True
        assert "disable" not in {r.step.id for r in responder.requests}  # not redone
    if point == "apply-before":
        recovered = [e.data for e in entries if e.kind == "action.verify"
                     and e.data.get("recovered")]
        assert recovered and recovered[0]["ok"] is False
    assert verify_incident(incident).exit_code == 0


async def test_resume_repairs_a_torn_last_line(tmp_path: Path) -> None:
    incident, cloud = killed_run(tmp_path, "ack")
    with (incident / "journal.jsonl").open("ab") as fh:
        fh.write(b'{"prev":"00')  # a crash mid-write
    assert verify_incident(incident).exit_code == 2
    await resume(incident, cloud)
    kinds = [e.kind for e in read_entries(incident / "journal.jsonl")]
    assert "journal.torn" in kinds
    assert verify_incident(incident).exit_code == 0


def test_a_torn_incident_is_listed_as_interrupted(tmp_path: Path) -> None:
    from rescind.engine.incidents import list_incidents

    incident, _cloud = killed_run(tmp_path, "ack")
    with (incident / "journal.jsonl").open("ab") as fh:
        fh.write(b'{"prev":"00')
    (info,) = list_incidents(incident.parent)
    assert info.state == "interrupted" and info.runbook_id != "?"


async def test_resume_when_the_recheck_itself_fails_plans_the_step_again(
        tmp_path: Path) -> None:
    incident, cloud = killed_run(tmp_path, "apply-before")
    cloud.fail_next = ["GetUser"]  # the re-check after the crash is denied once
    responder = await resume(incident, cloud)
    entries = list(read_entries(incident / "journal.jsonl"))
    recovered = [e.data for e in entries if e.kind == "action.verify" and e.data.get("recovered")]
    assert recovered[0]["ok"] is None and "could not check" in recovered[0]["detail"]
    assert any("could not check" in e["message"] for e in responder.of_kind(EventKind.WARNING))
    (summary,) = [e["summary"] for e in responder.of_kind(EventKind.RESUMED)]
    assert "1 change was in flight and re-checked: could not check whether" in summary, summary
    assert cloud.load()["calls"].count("DisableUser") == 1
    assert verify_incident(incident).exit_code == 0
