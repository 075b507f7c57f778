"""The engine end to end on a small cloud: approvals, failures, dry-run, secrets."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from rescind.engine.responder import (
    Approval,
    ApprovalResponse,
    EventKind,
    FailureChoice,
    StepStatus,
)
from rescind.engine.session import IncidentSession, SessionConfig
from rescind.errors import UsageError
from rescind.modes import Mode
from rescind.record.journal import read_entries
from rescind.record.verify import verify_incident
from rescind.redaction import REDACTED
from tests.engine.conftest import ScriptedResponder, write_runbook
from tests.engine.testcloud import FakeCloud, UnguardedCloud

pytestmark = pytest.mark.usefixtures("identity")

RUNBOOK = """\
id: test-incident
title: Test incident
inputs:
  user: {type: string, pattern: "^[a-z]+$", default: alice}
phases:
  contain:
    - id: disable
      action: test.disable_user
      with: {user: "${{ inputs.user }}"}
  assess:
    - id: look
      manual: "Look at ${{ steps.disable.outputs.user }}"
  remediate:
    - id: delete
      action: test.delete_user
      with: {user: "${{ inputs.user }}"}
  document:
    - id: summary
      note: "Deleted ${{ steps.delete.outputs.user }}"
"""


def kinds(incident: Path) -> list[str]:
    return [e.kind for e in read_entries(incident / "journal.jsonl")]


async def start(tmp_path: Path, cloud: object, responder: ScriptedResponder,
                body: str = RUNBOOK, mode: Mode = Mode.LIVE,
                settings: dict[str, object] | None = None, **inputs: str) -> IncidentSession:
    runbook = write_runbook(tmp_path / "rb.yaml", body)
    config = SessionConfig(runbook=runbook, mode=mode, inputs=dict(inputs),
                           out_dir=tmp_path / "incidents", providers={"testcloud": cloud},
                           settings=dict(settings or {}))
    return await IncidentSession.start(config, responder)


async def test_whole_incident_changes_the_cloud_and_seals_a_verified_record(
        tmp_path: Path, cloud: FakeCloud) -> None:
    responder = ScriptedResponder(approvals=[
        ApprovalResponse(approved=True),
        ApprovalResponse(approved=True, typed="mallory"),  # wrong name: refused
        ApprovalResponse(approved=True, typed="alice"),
    ])
    session = await start(tmp_path, cloud, responder)
    try:
        assert await session.run() == "completed"
        info = await session.close()
    finally:
        session.shutdown()
    # The cloud, read back: alice is gone, bob untouched.
    state = cloud.load()
    assert "alice" not in state["users"] and state["users"]["bob"]["enabled"] is True
    assert [r.policy for r in responder.requests] == [
        Approval.CONFIRM, Approval.TYPE_NAME, Approval.TYPE_NAME]
    entries = list(read_entries(session.incident_dir / "journal.jsonl"))
    approvals = [e.data for e in entries if e.kind == "action.approval"]
    assert [a["approved"] for a in approvals] == [True, False, True]
    assert "does not match" in approvals[1]["reason"]
    # Intent is on disk before the outcome, for every action.
    ks = [e.kind for e in entries]
    for i, k in enumerate(ks):
        if k == "action.outcome":
            assert "action.intent" in ks[:i]
    assert ks.count("checkpoint") >= 2 + 5  # after each mutating action and each phase
    note = next(e.data for e in entries if e.kind == "note")
    assert note["text"] == "Deleted alice"
    assert verify_incident(session.incident_dir).exit_code == 0
    for path in (info.report, info.sums, info.signature, info.allowed_signers):
        assert path.is_file() and path.stat().st_mode & 0o077 == 0
    assert session.incident_dir.stat().st_mode & 0o777 == 0o700
    done = subprocess.run(info.verify_command, shell=True, cwd=session.incident_dir,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"],
                          cwd=session.incident_dir).returncode == 0


async def test_declined_plan_changes_nothing_and_skip_is_journaled(
        tmp_path: Path, cloud: FakeCloud) -> None:
    responder = ScriptedResponder(
        approvals=[ApprovalResponse(approved=False, reason="not yet"),
                   ApprovalResponse(approved=False)],
        failures=[FailureChoice("skip", "handled by hand"), FailureChoice("skip", "no user"),
                  FailureChoice("skip", "later"), FailureChoice("skip", "no note")])
    session = await start(tmp_path, cloud, responder)
    try:
        assert await session.run() == "completed"
    finally:
        session.shutdown()
    assert cloud.load()["users"]["alice"] == {"enabled": True}
    entries = list(read_entries(session.incident_dir / "journal.jsonl"))
    skipped = [e.data for e in entries if e.kind == "step.skipped"]
    assert {"step": "disable", "reason": "handled by hand"} in skipped
    assert not [e for e in entries if e.kind == "action.intent"]


async def test_failed_step_retried_then_succeeds(tmp_path: Path, cloud: FakeCloud) -> None:
    cloud.fail_next = ["DisableUser"]
    responder = ScriptedResponder(
        approvals=[ApprovalResponse(approved=True)] * 2 + [
            ApprovalResponse(approved=True, typed="alice")],
        failures=[FailureChoice("retry")])
    session = await start(tmp_path, cloud, responder)
    try:
        assert await session.run() == "completed"
    finally:
        session.shutdown()
    assert responder.errors[0].kind == "permission"
    assert "grant test:DisableUser" in str(responder.errors[0])
    assert "alice" not in cloud.load()["users"]
    ks = kinds(session.incident_dir)
    assert ks.count("step.failed") == 1 and "step.choice" in ks


async def test_abort_keeps_the_record_and_signs_it(tmp_path: Path, cloud: FakeCloud) -> None:
    cloud.fail_next = ["DisableUser"]
    responder = ScriptedResponder(failures=[FailureChoice("abort", "stop")])
    session = await start(tmp_path, cloud, responder)
    try:
        assert await session.run() == "aborted"
    finally:
        session.shutdown()
    ks = kinds(session.incident_dir)
    assert ks[-2:] == ["incident.abort", "checkpoint"]
    assert verify_incident(session.incident_dir).exit_code == 0


async def test_condition_false_skips_step(tmp_path: Path, cloud: FakeCloud) -> None:
    body = RUNBOOK.replace("      manual: \"Look", "      when: 'inputs.user == \"bob\"'\n"
                           "      manual: \"Look")
    responder = ScriptedResponder(approvals=[ApprovalResponse(approved=True),
                                             ApprovalResponse(approved=True, typed="alice")])
    session = await start(tmp_path, cloud, responder, body=body)
    try:
        await session.run()
    finally:
        session.shutdown()
    assert responder.acked == []
    look = next(s for s in session.steps if s.id == "look")
    assert look.status is StepStatus.SKIPPED


async def test_two_person_needs_a_second_key_over_this_exact_plan(
        tmp_path: Path, cloud: FakeCloud) -> None:
    from rescind.record.approval import sign_approval
    from rescind.record.keys import ephemeral_signer, load_signer

    body = RUNBOOK.replace("test.delete_user", "test.nuke_user")
    second = ephemeral_signer("Sam Second", "sam@example.com")
    throwaway = ephemeral_signer("Made On The Spot", "spot@example.com")
    own = load_signer()
    tokens: list[ApprovalResponse] = []
    team = tmp_path / "approvers"
    team.write_text(second.allowed_signers_line() + "\n")

    class TwoPerson(ScriptedResponder):
        async def approve(self, request):  # type: ignore[no-untyped-def]
            self.requests.append(request)
            if request.policy is not Approval.TWO_PERSON:
                return ApprovalResponse(approved=True)
            plan = request.plan_file.read_bytes()
            attempts = [
                ApprovalResponse(approved=True, token=sign_approval(plan, own)),  # own key
                ApprovalResponse(approved=True, token=sign_approval(plan + b" ", second)),
                # A key made on the spot is a second key, not a second trusted person.
                ApprovalResponse(approved=True, token=sign_approval(plan, throwaway)),
                ApprovalResponse(approved=True, token=sign_approval(plan, second)),
            ]
            tokens.append(attempts[len([r for r in self.requests
                                        if r.policy is Approval.TWO_PERSON]) - 1])
            return tokens[-1]

    responder = TwoPerson()
    # Live mode without a trusted approvers list: refused before anything is created.
    with pytest.raises(UsageError, match="no trusted approvers") as refused:
        await start(tmp_path, cloud, responder, body=body)
    assert refused.value.fix is not None and "--approvers" in refused.value.fix
    assert not (tmp_path / "incidents").exists() or not any((tmp_path / "incidents").iterdir())
    session = await start(tmp_path, cloud, responder, body=body,
                          settings={"approvers": str(team)})
    try:
        assert await session.run() == "completed"
        await session.close()
    finally:
        session.shutdown()
    assert "alice" not in cloud.load()["users"]
    approvals = [e.data for e in read_entries(session.incident_dir / "journal.jsonl")
                 if e.kind == "action.approval" and e.data["policy"] == "two-person"]
    assert [a["approved"] for a in approvals] == [False, False, False, True]
    assert "not trusted for approvals" in approvals[2]["reason"]
    assert approvals[3]["approver"]["fingerprint"] == second.fingerprint
    assert approvals[3]["approver_trust"] == f"key in {team}"
    allowed = (session.incident_dir / "allowed_signers").read_text()
    assert second.public_key_line.split()[1] in allowed
    assert verify_incident(session.incident_dir).exit_code == 0


async def test_dry_run_blocks_even_an_action_that_mutates_while_planning(
        tmp_path: Path, cloud: FakeCloud) -> None:
    body = RUNBOOK.replace("test.disable_user", "test.sneaky_disable")
    responder = ScriptedResponder(approvals=[ApprovalResponse(approved=True)] * 3)
    session = await start(tmp_path, cloud, responder, body=body, mode=Mode.DRY_RUN)
    try:
        assert await session.run() == "completed"
    finally:
        session.shutdown()
    state = cloud.load()
    assert state["users"]["alice"] == {"enabled": True}
    assert set(state["calls"]) == {"GetUser"}  # no mutating call reached the cloud
    blocked = [e.data for e in read_entries(session.incident_dir / "journal.jsonl")
               if e.kind == "dryrun.blocked"]
    assert [b["operation"] for b in blocked] == [
        "test:DisableUser", "test:DisableUser", "test:DeleteUser"]
    # Dry-run only ever asks to confirm, whatever the risk.
    assert {r.policy for r in responder.requests} == {Approval.CONFIRM}


async def test_dry_run_refused_when_a_provider_has_no_guard(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no dry-run guard"):
        await start(tmp_path, UnguardedCloud(), ScriptedResponder(), mode=Mode.DRY_RUN)
    assert not (tmp_path / "incidents").exists() or not any((tmp_path / "incidents").iterdir())


async def test_secrets_never_reach_any_file(tmp_path: Path, cloud: FakeCloud) -> None:
    canary = "CANARY-7f3e9b1c-not-for-disk"
    answer_canary = "ANSWER-5d2a8e-not-for-disk"
    body = """\
id: secret-incident
title: Secrets stay secret
inputs:
  vault_token: {type: string, secret: true}
phases:
  contain:
    - id: ask
      prompt: "Paste the new database password"
      secret: true
    - id: rotate
      action: test.rotate_token
      with: {user: alice, reason: "${{ inputs.vault_token }}",
             hint: "was ${{ steps.ask.outputs.answer }}"}
  document:
    - id: summary
      note: "Rotated the token"
"""
    runbook = write_runbook(tmp_path / "rb.yaml", body)
    responder = ScriptedResponder(answers=[answer_canary])
    config = SessionConfig(runbook=runbook, mode=Mode.LIVE, inputs={"vault_token": canary},
                           out_dir=tmp_path / "incidents", providers={"testcloud": cloud},
                           settings={"canary": canary + "-output"})
    session = await IncidentSession.start(config, responder)
    try:
        await session.run()
        await session.close()
    finally:
        session.shutdown()
    shown = responder.of_kind(EventKind.SECRET)
    assert shown == [{"step": "rotate", "name": "token", "value": canary + "-output"}]
    for path in session.incident_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert canary.encode() not in data, path
            assert answer_canary.encode() not in data, path
    assert verify_incident(session.incident_dir).exit_code == 0


async def test_settings_are_journaled_without_any_secret(tmp_path: Path, cloud: FakeCloud) -> None:
    """Settings go through the one redaction: every secret-named field is dropped."""
    canary = "CANARY-settings-9c1d-not-for-disk"
    settings = {"region": "us-east-1", "aws_access_key_id": "AKIAIOSFODNN7EXAMPLE",
                "vault": {"api_passphrase": canary, "ssh_private_key": canary,
                          "client_secret": canary, "role_external_id": canary,
                          "address": "https://vault.example.com"}}
    config = SessionConfig(runbook=write_runbook(tmp_path / "rb.yaml", RUNBOOK), mode=Mode.LIVE,
                           inputs={}, out_dir=tmp_path / "incidents",
                           providers={"testcloud": cloud}, settings=settings)
    session = await IncidentSession.start(config, ScriptedResponder())
    session.shutdown()
    journal = (session.incident_dir / "journal.jsonl").read_text()
    assert canary not in journal
    opened = next(e for e in read_entries(session.incident_dir / "journal.jsonl")
                  if e.kind == "incident.open")
    # A key id goes with its secret: journaled alone it would pair with another on resume.
    assert opened.data["settings"] == {"region": "us-east-1",
                                       "vault": {"address": "https://vault.example.com"}}


async def test_a_secret_in_an_error_message_is_not_shown(tmp_path: Path,
                                                        cloud: FakeCloud) -> None:
    canary = "canaryuser"
    body = RUNBOOK.replace("  user: {type: string, pattern: \"^[a-z]+$\", default: alice}",
                           "  user: {type: string, secret: true}")
    responder = ScriptedResponder(failures=[FailureChoice("abort")])
    session = await start(tmp_path, cloud, responder, body=body, user=canary)
    try:
        assert await session.run() == "aborted"
    finally:
        session.shutdown()
    (error,) = responder.errors
    assert "does not exist" in error.message and canary not in error.message
    assert error.kind == "not-found" and error.retryable is False
    failed = next(s for s in session.steps if s.id == "disable")
    assert failed.error is not None and canary not in failed.error
    assert canary.encode() not in (session.incident_dir / "journal.jsonl").read_bytes()


async def test_second_process_on_the_same_incident_is_refused(
        tmp_path: Path, cloud: FakeCloud) -> None:
    from rescind.errors import IncidentLocked

    session = await start(tmp_path, cloud, ScriptedResponder())
    try:
        with pytest.raises(IncidentLocked, match=r"already open in process \d+"):
            await IncidentSession.resume(session.incident_dir, ScriptedResponder(),
                                         providers={"testcloud": cloud})
    finally:
        session.shutdown()


async def test_bad_input_refused_before_anything_is_created(tmp_path: Path,
                                                             cloud: FakeCloud) -> None:
    with pytest.raises(UsageError, match="user"):
        await start(tmp_path, cloud, ScriptedResponder(), user="NOT VALID")
    assert not (tmp_path / "incidents").exists()


def test_plan_file_is_the_hashed_bytes(tmp_path: Path) -> None:
    import hashlib

    from rescind.actions.base import Plan, Risk

    plan = Plan(action="a", step_id="s", params={"x": 1}, risk=Risk.LOW, reversible=True,
                mutating=False)
    assert hashlib.sha256(plan.canonical_bytes()).hexdigest() == plan.digest
    assert json.loads(plan.canonical_bytes())["action"] == "a"


async def test_condition_that_fails_at_run_time_offers_a_choice(
        tmp_path: Path, cloud: FakeCloud) -> None:
    body = RUNBOOK.replace("      manual: \"Look", "      when: 'int(inputs.user) == 1'\n"
                           "      manual: \"Look")
    responder = ScriptedResponder(
        approvals=[ApprovalResponse(approved=True), ApprovalResponse(approved=True, typed="alice")],
        failures=[FailureChoice("skip", "condition broken")])
    session = await start(tmp_path, cloud, responder, body=body)
    try:
        assert await session.run() == "completed"
    finally:
        session.shutdown()
    assert len(responder.errors) == 1
    look = next(s for s in session.steps if s.id == "look")
    assert look.status is StepStatus.SKIPPED


def test_recorded_settings_drop_credentials_at_every_depth() -> None:
    from rescind.engine.secrecy import public_settings

    settings = {"aws_profile": "prod", "aws_secret_access_key": "s3cr3t",
                "aws_assume_roles": {"123456789012": {"role_arn": "arn:aws:iam::123456789012:"
                                                      "role/ir", "external_id": "ext-s3cr3t"}},
                "break_glass": ["breakglass-admin"]}
    public = public_settings(settings)
    assert "s3cr3t" not in json.dumps(public)
    assert public["aws_assume_roles"]["123456789012"]["role_arn"].endswith("role/ir")
    assert public["break_glass"] == ["breakglass-admin"] and public["aws_profile"] == "prod"


async def test_resume_with_own_ssh_key_needs_no_email_again(tmp_path: Path,
                                                            cloud: FakeCloud) -> None:
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sam@example.com",
                    "-f", str(key)], check=True)
    runbook = write_runbook(tmp_path / "rb.yaml", RUNBOOK)
    first = await IncidentSession.start(SessionConfig(
        runbook=runbook, mode=Mode.LIVE, out_dir=tmp_path / "incidents", key=key,
        email="sam@example.com", providers={"testcloud": cloud}), ScriptedResponder())
    first.shutdown()  # interrupted before any step
    again = await IncidentSession.resume(first.incident_dir, ScriptedResponder(), key=key,
                                         providers={"testcloud": cloud})
    try:
        assert again.signer.email == "sam@example.com"
    finally:
        again.shutdown()


async def test_exercise_answer_to_a_secret_prompt_redacts_only_itself(
        tmp_path: Path, cloud: FakeCloud) -> None:
    import io

    from rescind.headless import EXERCISE_ANSWER, ExerciseResponder

    body = """\
id: exercise-secret
title: Exercise with a secret prompt
phases:
  contain:
    - id: ask
      prompt: "New database password"
      secret: true
    - id: tick
      manual: "Store it in the vault"
"""
    runbook = write_runbook(tmp_path / "rb.yaml", body)
    session = await IncidentSession.start(SessionConfig(
        runbook=runbook, mode=Mode.EXERCISE, out_dir=tmp_path / "incidents",
        providers={}), ExerciseResponder(io.StringIO()))
    try:
        await session.run()
    finally:
        session.shutdown()
    entries = {e.kind: e.data for e in read_entries(session.incident_dir / "journal.jsonl")}
    assert entries["prompt.answer"]["answer"] == REDACTED
    assert entries["manual.ack"]["note"] == EXERCISE_ANSWER
