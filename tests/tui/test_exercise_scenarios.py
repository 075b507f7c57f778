"""Each shipped scenario with injects, played through the app to its seal: the
facilitator moves the clock (no waiting on time) and fires the facilitator injects,
the responder answers the screens, and the score and after-action report say what
happened."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from rescind.engine.session import SessionConfig
from rescind.modes import Mode
from rescind.record.after_action import AFTER_ACTION, table
from rescind.record.score import Score, load_score
from rescind.record.verify import verify_incident
from rescind.tui.app import RescindApp
from rescind.tui.screens.incident import IncidentScreen
from tests.tui.conftest import kinds, text_of, wait_for
from tests.tui.test_exercises import RUNBOOKS, respond_until_sealed


async def _facilitate(pilot: Pilot[Any], commands: list[tuple[str, str]]) -> None:
    """At the first dialog, the facilitator's commands, given to the running exercise
    as its dialog gives them (``Exercise.command``; the dialog's keys themselves are
    tested in test_facilitator.py). The responder's dialog stays where it is."""
    app = pilot.app
    incident = next(s for s in app.screen_stack if isinstance(s, IncidentScreen))
    await wait_for(pilot, lambda: app.screen is not incident and app.focused is not None
                   and app.focused.screen is app.screen, "the first dialog", timeout=60)
    exercise = incident.runner.session.exercise
    for text, expect in commands:
        outcome = await exercise.command(text)
        assert expect in outcome, (text, outcome)
    await pilot.pause()


async def _play(runbook: str, inputs: dict[str, str], commands: list[tuple[str, str]],
                failures: dict[str, str]) -> tuple[Path, list[str], dict[str, Any]]:
    """The exercise to its seal; returns the folder, the dialogs answered, and the
    simulated account's settings (read back while the app still runs)."""
    config = SessionConfig(runbook=RUNBOOKS / f"{runbook}.yaml", mode=Mode.EXERCISE,
                           inputs=inputs, out_dir=Path("incidents"))
    app = RescindApp(start=config)
    log: list[str] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await _facilitate(pilot, commands)
        record = await respond_until_sealed(pilot, log, failures=failures)
        await wait_for(pilot, lambda: record.report is not None, "verification")
        assert record.report.exit_code == 0, record.report.summary()
        incident = next(s for s in app.screen_stack if isinstance(s, IncidentScreen))
        session = incident.runner.session
        readback = _read_back(session.settings["aws"])
        # The record screen names the after-action report and shows the score table.
        await wait_for(pilot, lambda: record.query_one("#record-score-box").display,
                       "the score on the record screen")
        paths = text_of(record.query_one("#record-paths"))
        assert f"after-action: {record.incident_dir / AFTER_ACTION}" in paths, paths
        # Wide enough that no cell wraps (a skipped step's reason quotes its whole condition).
        shown = " ".join(text_of(record.query_one("#record-score"), width=2000).split())
        for what, result in table(load_score(record.incident_dir)):
            # The first 60 characters: the screen may shorten a long reason (a condition).
            assert f"{what.strip()} {' '.join(result.split())[:60]}" in shown, (what, shown)
    return record.incident_dir, log, readback


def _read_back(s: dict[str, Any]) -> dict[str, Any]:
    """What the simulated account holds now: access keys, console users, role policies."""
    import boto3

    iam = boto3.client("iam", region_name="us-east-1", endpoint_url=s["endpoint_url"],
                       aws_access_key_id=s["access_key_id"],
                       aws_secret_access_key=s["secret_access_key"])
    keys: dict[str, str] = {}
    profiles: set[str] = set()
    role_policies = {r["RoleName"]: iam.list_role_policies(RoleName=r["RoleName"])["PolicyNames"]
                     for r in iam.list_roles()["Roles"]}
    for user in iam.list_users()["Users"]:
        name = user["UserName"]
        for key in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
            keys[key["AccessKeyId"]] = key["Status"]
        try:
            iam.get_login_profile(UserName=name)
            profiles.add(name)
        except iam.exceptions.NoSuchEntityException:
            pass
    return {"keys": keys, "profiles": profiles, "role_policies": role_policies}


def _report(incident_dir: Path, score: Score) -> str:
    """after-action.md, checked to be sealed; it ends with the scenario's questions."""
    text = (incident_dir / AFTER_ACTION).read_text()
    digest = hashlib.sha256(text.encode()).hexdigest()
    assert f"{digest}  {AFTER_ACTION}" in (incident_dir / "SHA256SUMS").read_text()
    assert verify_incident(incident_dir).exit_code == 0
    questions = [f"{n}. {q}" for n, q in enumerate(score.debrief, 1)]
    assert len(questions) >= 3 and text.endswith("\n".join(questions) + "\n"), text[-600:]
    return text


def _injects(score: Score) -> dict[str, tuple[str, bool]]:
    return {i.id: (i.trigger, i.noticed_s is not None) for i in score.injects}


@pytest.mark.slow
async def test_leaked_access_key_exercise(identity: None, workdir: Path) -> None:
    """The backdoor key appears before the team looks for persistence, yet the runbook
    (which traces the leaked key's caller) never deletes it: missed, and still Active."""
    incident_dir, log, account = await _play(
        "aws-access-key-compromise", {"access_key_id": "AKIAIOSFODNN7EXAMPLE"},
        [("advance +13m", "fired soc-alert, backdoor-key, secret-read"),
         ("fire no-console-delete", "Fired no-console-delete")],
        {"remove_backdoor_console": "denied in live too: ticket IR-7 for the console"})
    assert "FailureModal:remove_backdoor_console:permission denied: needs " \
        "iam:DeleteLoginProfile" in "\n".join(log), log
    score = load_score(incident_dir)
    assert _injects(score) == {"soc-alert": ("clock", False), "backdoor-key": ("clock", True),
                               "secret-read": ("clock", True),
                               "no-console-delete": ("facilitator", False)}
    contained = {c.id: c.step for c in score.credentials}
    assert contained["AKIAIOSFODNN7EXAMPLE"] == "deactivate"
    assert contained["AKIABACKDOOR2EXAMPLE"] is None
    assert "iam:DeleteLoginProfile" not in contained  # a denied operation is no credential
    # The score's claims, read back from the simulated account.
    assert "AKIAIOSFODNN7EXAMPLE" not in account["keys"]  # deleted by delete_key
    assert account["keys"]["AKIABACKDOOR2EXAMPLE"] == "Active"
    assert "backup-admin" in account["profiles"]  # the denied step was skipped
    assert [(s.step, s.reason) for s in score.skipped if not s.by_condition] == [
        ("remove_backdoor_console", "denied in live too: ticket IR-7 for the console")]
    assert [g.step for g in score.gaps] == ["rotate_secrets"]
    report = _report(incident_dir, score)
    for line in ("| &nbsp;&nbsp;backdoor-key at 13m 0",
                 "- AKIABACKDOOR2EXAMPLE (inject backdoor-key) was never contained.",
                 "- Step remove\\_backdoor\\_console was skipped: denied in live too",
                 "- Inject secret-read noticed "):
        assert line in report, line
    assert "no-console-delete was missed" not in report


@pytest.mark.slow
async def test_third_party_role_exercise(identity: None, workdir: Path) -> None:
    """The approver is away for the next approval: it times out, the responder retries."""
    incident_dir, log, account = await _play(
        "aws-third-party-role-rotation", {"role": "costexport-connector-role"},
        [("advance +13m", "fired vendor-denies, approver-away, new-session")],
        {"revoke_sessions": "retry"})
    assert log[:3] == [
        "ApprovalModal:delete_policy:type-name",
        "FailureModal:revoke_sessions:confirm approval timed out: the approver did not "
        "answer (exercise inject approver-away)",
        "ApprovalModal:revoke_sessions:confirm"], log
    assert [a["step"] for a in kinds(incident_dir, "action.approval", timed_out=True)] == [
        "revoke_sessions"]
    score = load_score(incident_dir)
    assert _injects(score) == {"vendor-denies": ("clock", False),
                               "approver-away": ("clock", False),
                               "new-session": ("clock", True)}
    contained = {c.id: c.step for c in score.credentials}
    assert contained == {"costexport-connector-role": "delete_policy",
                         "arn:aws:iam::123456789012:role/costexport-connector-role":
                             "delete_policy",
                         # revoked with the role's sessions, after the retry
                         "ASIAEXAMPLEVENDOR003": "revoke_sessions"}
    assert "CostExportAccess" not in account["role_policies"]["costexport-connector-role"]
    assert score.failed == ["revoke_sessions"]
    # Fired by the advance: 13 minutes plus however long the first dialog took to come.
    assert next(i.at_s for i in score.injects if i.id == "approver-away") >= 13 * 60
    report = _report(incident_dir, score)
    for line in ("| &nbsp;&nbsp;approver-away at 1",
                 "- Inject new-session noticed ",
                 "- Step revoke\\_sessions failed at least once."):
        assert line in report, line


@pytest.mark.slow
async def test_root_credential_use_exercise(identity: None, workdir: Path) -> None:
    """At night the key delete is denied and skipped: the administrator's key stays."""
    incident_dir, log, account = await _play(
        "aws-root-credential-use", {},
        [("advance +11m", "fired root-pager, root-console-password"),
         ("fire no-key-delete", "Fired no-key-delete")],
        {"delete_backdoor_keys": "the night role cannot delete keys: IR-9 for the day shift"})
    assert "FailureModal:delete_backdoor_keys:permission denied: needs iam:DeleteAccessKey" \
        in "\n".join(log), log
    score = load_score(incident_dir)
    assert _injects(score) == {"root-pager": ("clock", False),
                               "root-console-password": ("clock", True),
                               "no-key-delete": ("facilitator", False)}
    contained = {c.id: c.step for c in score.credentials}
    assert contained["AKIASUPPORTADEXAMPLE"] is None
    assert contained["support-admin"] == "remove_backdoor_console"
    assert score.first_change is None  # the contain phase is all by hand
    # Read back: the key the score says was never contained is still Active; the
    # console password the inject gave support-admin is gone.
    assert account["keys"]["AKIASUPPORTADEXAMPLE"] == "Active"
    assert "support-admin" not in account["profiles"]
    report = _report(incident_dir, score)
    for line in ("- No change to a cloud was made in the contain phase.",
                 "- AKIASUPPORTADEXAMPLE (scenario) was never contained.",
                 "- Step delete\\_backdoor\\_keys was skipped: the night role cannot",
                 "- Inject root-console-password noticed "):
        assert line in report, line


@pytest.mark.slow
async def test_connector_in_three_clouds_exercise(identity: None, workdir: Path) -> None:
    """The seed's connector compromised in AWS, Azure and Google Cloud at once, through the
    app: every inject-minted credential ends with the principal that holds it."""
    from tests.engine.test_connector_three_clouds import NEW_KEY, NEW_SECRET, ROLE, SA, SP

    incident_dir, log, account = await _play(
        "third-party-connector-compromise",
        {"role": ROLE, "service_principal": SP, "service_account": SA,
         "app": "e0000000-0000-4000-8000-0000000000a1"}, [], {})
    assert not [entry for entry in log if entry.startswith("FailureModal")], log
    assert account["role_policies"][ROLE] == ["AWSRevokeOlderSessions"]
    score = load_score(incident_dir)
    assert _injects(score) == {"aws-new-session": ("after_step", True),
                               "gcp-new-key": ("after_step", True),
                               "entra-new-secret": ("after_step", True),
                               "entra-sign-in-again": ("after_step", False)}
    contained = {c.id: c.step for c in score.credentials}
    assert contained == {
        ROLE: "aws_delete_policy", SP: "entra_disable", SA: "gcp_disable",
        f"arn:aws:iam::123456789012:role/{ROLE}": "aws_delete_policy",
        "ASIAEXAMPLEVENDOR003": "aws_revoke_sessions",
        NEW_KEY: "gcp_disable", NEW_SECRET: "entra_disable"}
    report = _report(incident_dir, score)
    assert "- Inject gcp-new-key noticed " in report
    assert "was never contained" not in report
