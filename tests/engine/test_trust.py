"""Record trust: resume believes only what a responder's checkpoint signed; sealing
survives a crash anywhere; a sealed record is read-only. Each case asserts the exact
verdict and reads the cloud back."""

from __future__ import annotations

from pathlib import Path

import pytest

from rescind.actions.base import Plan, Risk
from rescind.engine.responder import ApprovalResponse, EventKind
from rescind.engine.session import IncidentSession
from rescind.errors import UsageError
from rescind.record.approval import plan_path
from rescind.record.journal import Journal, read_entries
from rescind.record.verify import verify_incident
from tests.engine.conftest import ScriptedResponder
from tests.engine.test_resume import file_identity, killed_run, resume  # noqa: F401 (fixture)
from tests.engine.test_session import start
from tests.engine.testcloud import FakeCloud


def forged_containment(incident: Path) -> int:
    """Append, correctly chained, what a finished containment would have journaled:
    an action outcome, step.done and phase.end. Returns how many lines were added."""
    plan = Plan(action="test.disable_user", step_id="disable", params={"user": "alice"},
                targets=["alice"], risk=Risk.MEDIUM, reversible=True, mutating=True,
                summary="disable alice", outputs={"user": "alice"})
    lines = [
        ("phase.start", {"phase": "contain"}),
        ("step.start", {"step": "disable", "phase": "contain", "kind": "action"}),
        ("action.plan", {"step": "disable", "action": plan.action, "plan_hash": plan.digest,
                         "plan": plan.model_dump(mode="json")}),
        ("action.intent", {"step": "disable", "plan_hash": plan.digest, "targets": ["alice"]}),
        ("action.outcome", {"step": "disable", "plan_hash": plan.digest, "ok": True,
                            "outputs": {"user": "alice"}}),
        ("action.verify", {"step": "disable", "ok": True, "detail": "enabled=False"}),
        ("step.done", {"step": "disable", "outputs": {"user": "alice"}}),
        ("phase.end", {"phase": "contain"}),
    ]
    # A careful forger writes the plan file too, so nothing but the signatures differ.
    plan_file = plan_path(incident, "disable", plan.digest)
    plan_file.parent.mkdir(mode=0o700, exist_ok=True)
    plan_file.write_bytes(plan.canonical_bytes())
    with Journal.open(incident / "journal.jsonl") as journal:
        journal.append_many(lines)
    return len(lines)


async def opened_and_interrupted(tmp_path: Path, cloud: FakeCloud) -> Path:
    session = await start(tmp_path, cloud, ScriptedResponder())
    session.shutdown()  # as if killed right after opening: nothing contained yet
    return session.incident_dir


async def resume_to_the_end(incident: Path, cloud: FakeCloud) -> ScriptedResponder:
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


async def test_the_first_checkpoint_is_signed_when_the_incident_opens(
        tmp_path: Path, cloud: FakeCloud) -> None:
    incident = await opened_and_interrupted(tmp_path, cloud)
    entries = list(read_entries(incident / "journal.jsonl"))
    assert [e.kind for e in entries] == ["incident.open", "checkpoint"]
    assert (incident / "signatures" / "journal.1.sig").is_file()
    report = verify_incident(incident)
    assert (report.status, report.unconfirmed, report.checkpoints_verified) == ("ok", 0, 1)


async def test_a_forged_tail_is_unconfirmed_and_resume_contains_anyway(
        tmp_path: Path, cloud: FakeCloud) -> None:
    incident = await opened_and_interrupted(tmp_path, cloud)
    added = forged_containment(incident)

    report = verify_incident(incident)
    assert (report.status, report.exit_code, report.unconfirmed) == ("unconfirmed", 2, added)
    assert report.summary()[0].startswith(f"UNCONFIRMED ({added} unsigned lines)")

    responder = await resume_to_the_end(incident, cloud)
    # The claimed containment was checked with the cloud, found false, and done.
    calls = cloud.load()["calls"]
    assert "alice" not in cloud.load()["users"]
    assert calls.count("DisableUser") == 1 and calls.index("DisableUser") < calls.index(
        "DeleteUser")
    warnings = [w["message"] for w in responder.of_kind(EventKind.WARNING)]
    assert any(f"{added} journal line(s) after the checkpoint at seq 1" in w
               and "re-checking with the cloud: disable" in w for w in warnings)
    entries = list(read_entries(incident / "journal.jsonl"))
    (unconfirmed,) = [e.data for e in entries if e.kind == "journal.unconfirmed"]
    assert unconfirmed == {"from_seq": 2, "lines": added, "recheck": ["disable"],
                           "claimed": ["disable"]}
    rechecked = [e.data for e in entries if e.kind == "action.verify" and
                 e.data.get("recovered")]
    assert rechecked[0]["ok"] is False
    assert "disable" in {r.step.id for r in responder.requests}  # planned and approved again
    assert verify_incident(incident).exit_code == 0


async def test_unsigned_claims_of_finished_steps_run_again(tmp_path: Path,
                                                          cloud: FakeCloud) -> None:
    incident = await opened_and_interrupted(tmp_path, cloud)
    with Journal.open(incident / "journal.jsonl") as journal:
        journal.append_many([("step.done", {"step": "disable", "outputs": {"user": "alice"}}),
                             ("step.done", {"step": "look", "outputs": {}}),
                             ("phase.end", {"phase": "contain"})])
    responder = await resume_to_the_end(incident, cloud)
    assert "alice" not in cloud.load()["users"]
    assert cloud.load()["calls"].count("DisableUser") == 1
    assert responder.acked == ["look"]  # the manual step was asked again
    assert any("running again: disable, look" in w["message"]
               for w in responder.of_kind(EventKind.WARNING))


async def test_a_signed_change_whose_step_done_was_lost_keeps_its_outputs(
        tmp_path: Path) -> None:
    """Killed between a change's checkpoint and its step.done: the re-check confirms the
    change and the signed outcome's outputs reach the later steps that quote them."""
    incident, cloud = killed_run(tmp_path, "checkpoint-disable")
    kinds = [e.kind for e in read_entries(incident / "journal.jsonl")]
    assert kinds[-2:] == ["action.verify", "checkpoint"] and "step.done" not in kinds[2:]
    responder = await resume(incident, cloud)
    assert cloud.load()["calls"].count("DisableUser") == 1
    assert responder.acked == ["look"] and responder.errors == []
    outcomes = [e.data for e in read_entries(incident / "journal.jsonl")
                if e.kind == "action.outcome" and e.data.get("recovered")]
    signed = next(e.data for e in read_entries(incident / "journal.jsonl")
              if e.kind == "action.outcome" and e.data["step"] == "disable")
    assert "disabled_at" in signed["outputs"]
    assert outcomes[0]["outputs"] == signed["outputs"]
    assert verify_incident(incident).exit_code == 0


async def test_a_checkpoint_signed_with_another_key_is_not_trusted_by_resume(
        tmp_path: Path, cloud: FakeCloud) -> None:
    from rescind.record.checkpoint import checkpoint
    from rescind.record.keys import ephemeral_signer

    incident = await opened_and_interrupted(tmp_path, cloud)
    forged_containment(incident)
    with Journal.open(incident / "journal.jsonl") as journal:
        checkpoint(journal, ephemeral_signer("Mallory", "mallory@example.com"),
                   incident.name, "end of phase contain")
    report = verify_incident(incident)
    assert report.status == "tampered"
    assert any("not by the responder key the journal records" in p
               and "re-signed with another key" in p for p in report.problems)
    await resume_to_the_end(incident, cloud)
    assert cloud.load()["calls"].count("DisableUser") == 1


async def test_a_plan_edited_while_the_incident_is_open_is_caught_after_the_seal(
        tmp_path: Path, cloud: FakeCloud) -> None:
    responder = ScriptedResponder(approvals=[ApprovalResponse(approved=True),
                                             ApprovalResponse(approved=True, typed="alice")])
    session = await start(tmp_path, cloud, responder)
    try:
        assert await session.run() == "completed"
        (plan,) = (session.incident_dir / "plans").glob("disable.*.json")  # not two-person
        plan.write_bytes(plan.read_bytes().replace(b"alice", b"bob"))
        await session.close()
    finally:
        session.shutdown()
    report = verify_incident(session.incident_dir)
    assert report.status == "tampered"
    assert report.problems == [f"plans/{plan.name}: its content no longer has the hash its "
                               "name says"]


async def test_an_empty_journal_says_so(tmp_path: Path, cloud: FakeCloud) -> None:
    incident = tmp_path / "incidents" / "2026-11-23-test-incident-abcdef"
    incident.mkdir(parents=True)
    (incident / "journal.jsonl").write_bytes(b"")
    report = verify_incident(incident)
    assert (report.status, report.exit_code) == ("incomplete", 2)
    assert report.problems == ["journal.jsonl is empty: the incident recorded nothing (it was "
                               "interrupted while it was being opened)"]
    with pytest.raises(UsageError, match="recorded nothing: its journal is empty"):
        await IncidentSession.resume(incident, ScriptedResponder(),
                                     providers={"testcloud": cloud})


async def test_a_sealed_session_writes_nothing_more(tmp_path: Path, cloud: FakeCloud) -> None:
    session = await start(tmp_path, cloud, ScriptedResponder(approvals=[
        ApprovalResponse(approved=True), ApprovalResponse(approved=True, typed="alice")]))
    try:
        assert await session.run() == "completed"
        await session.close()
        with pytest.raises(UsageError, match="read-only"):
            session.mark_relevant("event-1")
    finally:
        session.shutdown()
    assert verify_incident(session.incident_dir).exit_code == 0


# Sealing writes: close line, checkpoint line, then each atomic file (temp file fsync,
# folder fsync) for the checkpoint signature, report.md, allowed_signers,
# SHA256SUMS.sig and SHA256SUMS: 12 fsyncs. Dying at each leaves a distinct state.
SEAL_POINTS = range(1, 13)


@pytest.mark.parametrize("k", SEAL_POINTS)
async def test_killed_while_sealing_verifies_as_interrupted_and_seal_completes_it(
        tmp_path: Path, k: int, capsys: pytest.CaptureFixture[str]) -> None:
    from rescind.commands.seal import complete_seal

    incident, cloud = killed_run(tmp_path, f"seal-{k}")
    report = verify_incident(incident)
    sealed = (incident / "SHA256SUMS").exists() and (incident / "SHA256SUMS.sig").exists()
    # Never "tampered": an interrupted seal is incomplete until the very last write.
    assert (report.status, report.exit_code) == (("ok", 0) if sealed else ("incomplete", 2)), \
        report.summary()
    with pytest.raises(UsageError, match="seal"):
        await IncidentSession.resume(incident, ScriptedResponder(),
                                     providers={"testcloud": cloud})
    assert complete_seal(incident, key=None, email=None) == 0
    assert complete_seal(incident, key=None, email=None) == 0  # idempotent
    assert "already sealed" in capsys.readouterr().out
    final = verify_incident(incident)
    assert (final.status, final.problems) == ("ok", [])
    calls = cloud.load()["calls"]
    assert calls.count("DisableUser") == 1 and calls.count("DeleteUser") == 1
