"""Scoring an exercise from hand-built journals, written through the real journal API
with a controlled clock (each append's time is what the test says it is)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from rescind.cli import main
from rescind.record import journal as journal_module
from rescind.record.after_action import (
    missed,
    render_markdown,
    render_svg,
    table,
    text_picture,
    went_well,
)
from rescind.record.journal import Journal
from rescind.record.score import load_score

START = datetime(2026, 11, 23, 3, 0, 0, tzinfo=UTC)
KEY = "AKIAIOSFODNN7EXAMPLE"
BACKDOOR = "AKIAI44QH8DHBEXAMPLE"


class Record:
    """An exercise journal the test writes at chosen exercise times (seconds)."""

    def __init__(self, folder: Path, monkeypatch: pytest.MonkeyPatch, *,
                 scenario: dict[str, Any] | None = None, mode: str = "exercise") -> None:
        self.folder = folder
        self.now = START
        monkeypatch.setattr(journal_module, "utc_now",
                            lambda: self.now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
        self.journal = Journal.create(folder / "journal.jsonl")
        self.add(0, "incident.open", {"incident": folder.name, "mode": mode,
                                      "runbook": {"id": "aws-access-key-compromise"}})
        if scenario is not None:
            self.add(0, "exercise.scenario", {
                "name": "leaked-access-key", "description": "A key leaked.",
                "compromised": [KEY, "deploy-bot"], "debrief": ["Who *owns* the key?"],
                "responder_permissions": None, "action_permissions": {}} | scenario)

    def add(self, at: float, kind: str, data: dict[str, Any]) -> None:
        self.now = START + timedelta(seconds=at)
        self.journal.append(kind, data)

    def step(self, at: float, phase: str, step: str, action: str, targets: list[str], *,
             mutating: bool = True, ok: bool = True, approve_at: float | None = None,
             policy: str = "confirm") -> None:
        self.add(at, "step.start", {"step": step, "phase": phase, "kind": "action"})
        digest = f"{step:0<64}"[:64]
        self.add(at, "action.plan", {"step": step, "action": action, "plan_hash": digest,
                                     "plan": {"action": action, "targets": targets,
                                              "mutating": mutating}})
        done = at
        if approve_at is not None:
            self.add(approve_at, "action.approval", {"step": step, "plan_hash": digest,
                                                     "policy": policy, "approved": True})
            done = approve_at
        self.add(done, "action.intent", {"step": step, "plan_hash": digest,
                                         "targets": targets})
        self.add(done + 1, "action.outcome", {"step": step, "plan_hash": digest,
                                              "action": action, "targets": targets, "ok": ok})
        if ok:
            self.add(done + 1, "step.done", {"step": step, "outputs": {}})

    def phase(self, at: float, kind: str, phase: str) -> None:
        self.add(at, f"phase.{kind}", {"phase": phase})

    def score(self) -> Any:
        self.journal.close()
        return load_score(self.folder)


@pytest.fixture
def rec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Record:
    return Record(tmp_path / "2026-11-23-exercise-abc123", monkeypatch, scenario={})


def test_first_containment_change_is_the_first_cloud_change_of_the_contain_phase(
        rec: Record) -> None:
    rec.phase(0, "start", "contain")
    rec.step(10, "contain", "owner", "aws.iam.describe_principal", [], mutating=False)
    rec.step(20, "contain", "tell", "notify.send", ["security-slack"])  # not a cloud change
    rec.step(30, "contain", "bad", "aws.iam.deactivate_access_key", [KEY], ok=False)
    rec.step(40, "contain", "deactivate", "aws.iam.deactivate_access_key", [KEY])
    score = rec.score()
    assert score.first_change == (41.0, "deactivate")
    assert "bad" in [m.label.split()[0] for m in score.marks if not m.ok]


def test_no_containment_change_in_contain_is_reported_missed(rec: Record) -> None:
    rec.phase(0, "start", "contain")
    rec.phase(5, "end", "contain")
    rec.phase(5, "start", "remediate")
    rec.step(10, "remediate", "delete", "aws.iam.delete_access_key", [KEY])
    score = rec.score()
    assert score.first_change is None
    assert "No change to a cloud was made in the contain phase." in missed(score)


def test_each_compromised_credential_is_timed_to_its_first_change(rec: Record) -> None:
    rec.phase(0, "start", "contain")
    rec.step(40, "contain", "deactivate", "aws.iam.deactivate_access_key", [KEY])
    rec.step(100, "contain", "quarantine", "aws.iam.quarantine_user", ["user/deploy-bot"])
    score = rec.score()
    assert {c.id: (c.contained_s, c.step) for c in score.credentials} == {
        KEY: (41.0, "deactivate"), "deploy-bot": (101.0, "quarantine")}
    assert score.all_contained_s == 101.0
    assert ("Every compromised credential contained", "1m 41s") in table(score)


def test_a_credential_never_changed_leaves_containment_incomplete(rec: Record) -> None:
    rec.step(40, "contain", "deactivate", "aws.iam.deactivate_access_key", [KEY])
    score = rec.score()
    assert score.all_contained_s is None
    assert ("Every compromised credential contained", "no: 1 of 2") in table(score)
    assert "deploy-bot (scenario) was never contained." in missed(score)


def test_phase_times_leave_out_pauses_and_add_the_skipped_clock(rec: Record) -> None:
    rec.phase(0, "start", "contain")
    rec.add(100, "exercise.pause", {"by": "facilitator"})
    rec.add(400, "exercise.resume", {"by": "facilitator"})  # 300 s paused: not counted
    rec.add(450, "exercise.clock", {"advanced_s": 600})  # 10 simulated minutes pass
    rec.phase(500, "end", "contain")
    rec.phase(500, "start", "assess")
    score = rec.score()
    assert [(p.phase, p.seconds, p.finished) for p in score.phases] == [
        ("contain", 800.0, True), ("assess", 0.0, False)]
    assert [m.label for m in score.marks if m.lane == "facilitator"] == [
        "paused", "resumed", "clock +600s"]


def test_approval_wait_runs_from_the_plan_to_the_last_answer(rec: Record) -> None:
    rec.step(10, "contain", "deactivate", "aws.iam.deactivate_access_key", [KEY],
             approve_at=70)
    # A mistyped name is refused and asked again: the wait runs to the accepted answer.
    rec.add(200, "step.start", {"step": "delete", "phase": "remediate", "kind": "action"})
    rec.add(200, "action.plan", {"step": "delete", "action": "aws.iam.delete_access_key",
                                 "plan_hash": "d" * 64, "plan": {"mutating": True}})
    rec.add(230, "action.approval", {"step": "delete", "plan_hash": "d" * 64,
                                     "policy": "type-name", "approved": False,
                                     "reason": "typed name does not match"})
    rec.add(290, "action.approval", {"step": "delete", "plan_hash": "d" * 64,
                                     "policy": "type-name", "approved": True})
    score = rec.score()
    assert [(a.step, a.policy, a.seconds, a.outcome) for a in score.approvals] == [
        ("deactivate", "confirm", 60.0, "approved"),
        ("delete", "type-name", 90.0, "approved")]
    assert ("Approvals", "2, waited 2m 30s in all, longest 1m 30s") in table(score)


def test_skipped_steps_say_why_and_who(rec: Record) -> None:
    rec.add(5, "step.skipped", {"step": "by_hand", "reason": "condition is false: x > 0"})
    rec.add(6, "step.skipped", {"step": "rotate", "reason": "no one holds the vault token"})
    score = rec.score()
    assert [(s.step, s.by_condition) for s in score.skipped] == [
        ("by_hand", True), ("rotate", False)]
    assert ("Steps skipped", "2 (1 by the responder)") in table(score)
    assert "Step rotate was skipped: no one holds the vault token." in missed(score)


def _inject(rec: Record, at: float, inject_id: str, targets: list[str],
            holders: dict[str, str] | None = None) -> None:
    # ``at`` on the simulated clock, an hour ahead: the inject counts from when it fired.
    rec.add(at, "exercise.inject", {
        "id": inject_id, "summary": f"{inject_id} happened", "trigger": "clock",
        "targets": targets,
        "at": (START + timedelta(seconds=at + 3600)).isoformat().replace("+00:00", "Z")}
        | ({"holders": holders} if holders else {}))


def test_injects_are_noticed_by_a_flag_or_an_action_on_their_target_or_missed(
        rec: Record) -> None:
    (rec.folder / "timeline.jsonl").write_text("\n".join(json.dumps(e) for e in [
        {"uid": "ev-1", "action": "CreateAccessKey", "target": "backup-admin",
         "credential": BACKDOOR, "actor": "arn:aws:iam::123456789012:user/backup-admin"},
        {"uid": "ev-2", "action": "ListBuckets", "target": "", "credential": KEY,
         "actor": "deploy-bot"}]) + "\n")
    _inject(rec, 60, "backdoor-key", [BACKDOOR])
    _inject(rec, 60, "assumed-role", ["app-deployer"])
    _inject(rec, 60, "console-password", ["backup-admin"])
    _inject(rec, 60, "approver-away", [])
    rec.add(30, "timeline.relevant", {"uid": "ev-1", "relevant": True})  # before: no
    rec.add(90, "timeline.relevant", {"uid": "ev-2", "relevant": True})  # other target
    rec.add(150, "timeline.relevant", {"uid": "ev-1", "relevant": True})
    rec.step(200, "remediate", "quarantine_backdoor", "aws.iam.quarantine_user",
             ["backup-admin"])
    score = rec.score()
    got = {i.id: (i.noticed_s, i.how) for i in score.injects}
    assert got == {"backdoor-key": (150.0, "flagged CreateAccessKey"),
                   "assumed-role": (None, ""),
                   # the flagged event's target is backup-admin too, and came first
                   "console-password": (150.0, "flagged CreateAccessKey"),
                   "approver-away": (None, "")}
    rows = dict(table(score))
    assert rows["Injects noticed"] == "2 of 4"
    assert rows["  assumed-role at 1m 00s"] == "missed"
    assert rows["  approver-away at 1m 00s"] == "nothing to notice it by (no target)"
    # An inject's targets are credentials the attacker holds: their containment is timed.
    assert {c.id: c.step for c in score.credentials}["backup-admin"] == "quarantine_backdoor"


def test_an_action_on_the_inject_target_notices_it(rec: Record) -> None:
    _inject(rec, 60, "backdoor-key", [BACKDOOR])
    rec.step(120, "remediate", "delete_backdoor", "aws.iam.delete_access_key", [BACKDOOR])
    (inject,) = rec.score().injects
    assert (inject.noticed_s, inject.how) == (120.0, "step delete_backdoor")


def test_actions_the_live_identity_could_not_run(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    rec = Record(tmp_path / "inc", monkeypatch, scenario={
        "responder_permissions": ["iam:*", "STS:GetCallerIdentity"],
        "action_permissions": {
            "aws.iam.deactivate_access_key": ["iam:UpdateAccessKey", "sts:GetCallerIdentity"],
            "aws.secretsmanager.rotate_secret": ["secretsmanager:DescribeSecret",
                                                 "secretsmanager:RotateSecret"],
            "incident.set_severity": ["none: the incident record only"]}})
    rec.step(10, "contain", "deactivate", "aws.iam.deactivate_access_key", [KEY])
    rec.step(20, "notify", "escalate", "incident.set_severity", [])
    rec.step(30, "remediate", "rotate", "aws.secretsmanager.rotate_secret", ["prod/db"])
    score = rec.score()
    assert [(g.step, g.missing) for g in score.gaps] == [
        ("rotate", ("secretsmanager:DescribeSecret", "secretsmanager:RotateSecret"))]
    assert ("Would fail in live", "1 step(s)") in table(score)


def test_without_a_live_identity_nothing_is_compared(rec: Record) -> None:
    rec.step(10, "contain", "deactivate", "aws.iam.deactivate_access_key", [KEY])
    score = rec.score()
    assert not score.permissions_known and not score.gaps
    assert dict(table(score))["Would fail in live"].startswith("unknown")


def test_after_action_markdown_and_picture(rec: Record) -> None:
    rec.phase(0, "start", "contain")
    _inject(rec, 60, "backdoor-key", [BACKDOOR])
    rec.step(40, "contain", "deactivate", "aws.iam.deactivate_access_key", [KEY])
    rec.add(90, "note", {"text": "Remember <the> ticket\x1b[2J", "by": "facilitator"})
    rec.phase(120, "end", "contain")
    score = rec.score()
    text = render_markdown(score)
    for heading in ("## Score", "## Attacker and responder on one time axis",
                    "## What went well", "## What was missed", "## Debrief"):
        assert heading in text
    assert "1. Who \\*owns\\* the key?" in text  # the scenario's question, inert Markdown
    assert "Inject backdoor-key was missed" in text
    picture = text_picture(score)
    assert picture[0].startswith("   attacker |") and "*" in picture[0]
    assert picture[2].startswith("facilitator |")
    svg = ET.fromstring(render_svg(score))  # well-formed XML despite the note's escape
    labels = [t.text or "" for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert any("attacker: backdoor-key happened" in t for t in labels)
    assert any("Remember <the> ticket" in t for t in labels)


def test_score_command(rec: Record, capsys: pytest.CaptureFixture[str]) -> None:
    rec.step(40, "contain", "deactivate", "aws.iam.deactivate_access_key", [KEY])
    rec.journal.close()
    assert main(["score", str(rec.folder)]) == 0
    out = capsys.readouterr().out
    assert "scenario leaked-access-key (not closed yet" in out
    assert "First containment change" in out and "41.0s (step deactivate)" in out
    assert main(["score", "--json", str(rec.folder)]) == 0
    assert json.loads(capsys.readouterr().out)["first_change"] == [41.0, "deactivate"]


def test_score_refuses_what_is_not_an_exercise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["score", str(tmp_path)]) == 2
    assert "is not an incident folder" in capsys.readouterr().err
    live = Record(tmp_path / "live", monkeypatch, mode="live")
    live.journal.close()
    assert main(["score", str(live.folder)]) == 2
    err = capsys.readouterr().err
    assert "ran in live mode; only exercises are scored" in err and "--mode exercise" in err


def test_went_well_lists_what_was_done(rec: Record) -> None:
    rec.phase(0, "start", "contain")
    rec.step(40, "contain", "deactivate", "aws.iam.deactivate_access_key", [KEY])
    assert "AKIAIOSFODNN7EXAMPLE contained after 41.0s (step deactivate)." in went_well(
        rec.score())


@pytest.mark.parametrize("mode", ["exercise", "live"])
def test_the_seal_covers_the_after_action_files_of_an_exercise_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jane: Any, mode: str) -> None:
    from rescind.record.bundle import sums_text
    from rescind.record.sealing import finish_seal

    rec = Record(tmp_path / "inc", monkeypatch, mode=mode, scenario={})
    rec.step(40, "contain", "deactivate", "aws.iam.deactivate_access_key", [KEY])
    rec.add(50, "incident.close", {"status": "closed"})
    finish_seal(rec.journal, jane.signer(), "inc")
    rec.journal.close()
    sums = (rec.folder / "SHA256SUMS").read_text()
    written = mode == "exercise"
    assert ("  after-action.md\n" in sums) is written
    assert ("  after-action.svg\n" in sums) is written
    assert (rec.folder / "after-action.md").exists() is written
    assert sums == sums_text(rec.folder)[0]  # what sha256sum -c checks: every file, as is


def test_odd_entries_score_without_a_traceback(rec: Record) -> None:
    """Whatever a future writer or a hand puts in these kinds, the seal's report is made."""
    (rec.folder / "timeline.jsonl").write_text('{"uid": ["x"]}\nnot json\n{"uid": "u"}\n')
    rec.add(1, "phase.start", {"phase": {"odd": 1}})
    rec.add(2, "exercise.inject", {"targets": "not-a-list"})
    rec.add(3, "exercise.clock", {"advanced_s": "ten"})
    rec.add(4, "timeline.relevant", {"uid": ["x"]})
    rec.add(5, "action.approval", {"plan_hash": {"no": "plan"}})
    score = rec.score()
    assert [i.targets for i in score.injects] == [()]
    assert render_markdown(score) and ET.fromstring(render_svg(score)) is not None


def test_an_inject_naming_a_role_by_arn_is_contained_by_a_change_to_the_role(
        rec: Record) -> None:
    role = "arn:aws:iam::123456789012:role/costexport-connector-role"
    _inject(rec, 60, "new-session", [role])
    # A user of the same name is not the role.
    rec.step(100, "contain", "quarantine", "aws.iam.quarantine_user",
             ["user/costexport-connector-role"])
    rec.step(120, "contain", "delete_policy", "aws.iam.delete_role_policy",
             ["costexport-connector-role"])
    rec.step(130, "contain", "revoke", "aws.iam.revoke_sessions",
             ["role/costexport-connector-role"])
    score = rec.score()
    assert {c.id: c.step for c in score.credentials}[role] == "delete_policy"
    assert score.injects[0].how == "step delete_policy"


ROLE = "arn:aws:iam::123456789012:role/costexport-connector-role"


def test_a_session_key_an_inject_minted_is_contained_by_revoking_its_roles_sessions(
        rec: Record) -> None:
    """No step names the key: revoking the sessions of the role that holds it ends it."""
    session = "ASIAEXAMPLEVENDOR003"
    _inject(rec, 60, "new-session", [session, ROLE], {session: ROLE})
    # A change to the role that does not cut its sessions off ends no session key.
    rec.step(100, "contain", "delete_policy", "aws.iam.delete_role_policy",
             ["costexport-connector-role"])
    rec.step(130, "contain", "revoke", "aws.iam.revoke_sessions",
             ["role/costexport-connector-role"])
    score = rec.score()
    assert {c.id: (c.contained_s, c.step) for c in score.credentials}[session] == (
        131.0, "revoke")
    assert not any(session in line for line in missed(score))


def test_a_session_key_minted_after_the_revocation_was_never_contained(rec: Record) -> None:
    """AWS revokes the sessions issued before the change: a later one still works."""
    early, late = "ASIAEXAMPLEVENDOR001", "ASIAEXAMPLEVENDOR003"
    _inject(rec, 10, "first-session", [early, ROLE], {early: ROLE})
    rec.step(50, "contain", "revoke", "aws.iam.revoke_sessions",
             ["role/costexport-connector-role"])
    _inject(rec, 60, "new-session", [late, ROLE], {late: ROLE})
    score = rec.score()
    contained = {c.id: c.step for c in score.credentials}
    assert contained[early] == "revoke" and contained[late] is None
    assert f"{late} (inject new-session) was never contained." in missed(score)


def test_a_token_minted_for_an_entra_user_is_contained_by_revoking_the_users_sessions(
        rec: Record) -> None:
    """No shipped inject mints a user's token yet; an inject that does (a phished user's
    refresh token) is contained by cutting the user off, as a role's session key is."""
    user = "a0000000-0000-4000-8000-000000000001"  # the target entra.user.* journal: its id
    token = "refresh-token-of-adele"
    _inject(rec, 60, "phished-token", [token, user], {token: user})
    rec.step(100, "contain", "describe", "entra.user.describe", [user], mutating=False)
    rec.step(130, "contain", "revoke", "entra.user.revoke_sessions", [user])
    score = rec.score()
    assert {c.id: (c.contained_s, c.step) for c in score.credentials}[token] == (
        131.0, "revoke")
    assert not any(token in line for line in missed(score))
