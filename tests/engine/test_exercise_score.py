"""A whole exercise through the engine (headless responder) ends with a sealed,
verified after-action report whose score matches the simulated account."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from rescind.engine.responder import StepState
from rescind.engine.session import IncidentSession, SessionConfig
from rescind.errors import UsageError
from rescind.headless import ExerciseResponder
from rescind.modes import Mode
from rescind.record.journal import read_entries
from rescind.record.score import load_score
from rescind.record.verify import verify_incident

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"
KEY = "AKIAIOSFODNN7EXAMPLE"
BACKDOOR = "AKIABACKUPAD1EXAMPLE"

pytestmark = pytest.mark.usefixtures("identity")


class ReadsTheAccount(ExerciseResponder):
    """Answers as exercise mode does. While the responder reviews the timeline, the
    attacker acts (two injects, journaled through the real journal API as the
    exercise engine does): one on the backdoor key the runbook goes on to delete, one
    a fresh key made in the simulated account that nothing removes. At the document
    phase, while the account still runs, the keys are read back from it."""

    def __init__(self) -> None:
        super().__init__(io.StringIO())
        self.session: IncidentSession | None = None
        self.fresh_key: str | None = None
        self.status: dict[str, str] = {}

    def _iam(self) -> Any:
        import boto3

        assert self.session is not None
        aws: dict[str, Any] = self.session.settings["aws"]
        return boto3.client("iam", endpoint_url=aws["endpoint_url"], region_name="us-east-1",
                            aws_access_key_id="AKIAEXAMPLEREADER1",
                            aws_secret_access_key="example-not-a-secret")

    async def acknowledge(self, step: StepState) -> str | None:
        if step.id == "review" and self.session is not None:
            journal = self.session.journal
            journal.append("exercise.inject", {
                "id": "backdoor-used", "summary": "The backdoor key lists buckets",
                "trigger": "after_step", "targets": [BACKDOOR], "at": "2026-12-02T03:00:00Z"})
            made = self._iam().create_access_key(UserName="backup-admin")["AccessKey"]
            self.fresh_key = made["AccessKeyId"]
            journal.append("exercise.inject", {
                "id": "second-backdoor", "summary": "The attacker adds another key",
                "trigger": "facilitator", "targets": [self.fresh_key],
                "at": "2026-12-02T03:00:00Z"})
        return await super().acknowledge(step)

    async def answer(self, step: StepState, default: str | None, secret: bool) -> str:
        if self.session is not None and not self.status:
            iam = self._iam()
            for user in ("deploy-bot", "backup-admin"):
                for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]:
                    self.status[k["AccessKeyId"]] = k["Status"]
        return await super().answer(step, default, secret)


async def test_exercise_closes_with_a_sealed_after_action_report(tmp_path: Path) -> None:
    responder = ReadsTheAccount()
    session = await IncidentSession.start(SessionConfig(
        runbook=RUNBOOKS / "aws-access-key-compromise.yaml", mode=Mode.EXERCISE,
        out_dir=tmp_path / "incidents"), responder)
    responder.session = session
    try:
        assert await session.run() == "completed"
        await session.close()
    finally:
        session.shutdown()
    folder = session.incident_dir
    # The simulated account, read back before the exercise closed: the leaked and the
    # backdoor keys are gone, the key the second inject made is still active (as is
    # deploy-bot's other key, which never leaked).
    fresh = responder.fresh_key
    assert fresh is not None
    assert responder.status == {"AKIAI44QH8DHBEXAMPLE": "Active", fresh: "Active"}
    sums = (folder / "SHA256SUMS").read_text()
    assert "  after-action.md\n" in sums and "  after-action.svg\n" in sums
    assert verify_incident(folder).exit_code == 0
    scenario = next(e.data for e in read_entries(folder / "journal.jsonl")
                    if e.kind == "exercise.scenario")
    assert scenario["compromised"] == [KEY, "AKIABACKUPAD1EXAMPLE"]
    assert "iam:UpdateAccessKey" in scenario["action_permissions"][
        "aws.iam.deactivate_access_key"]
    score = load_score(folder)
    assert score.first_change is not None and score.first_change[1] == "deactivate"
    assert {c.id: c.step for c in score.credentials} == {
        KEY: "deactivate", BACKDOOR: "delete_backdoor_keys", fresh: None}
    assert [(i.id, i.how) for i in score.injects] == [
        ("backdoor-used", "step delete_backdoor_keys"), ("second-backdoor", "")]
    # The shipped scenario's live role lacks RotateSecret: the report says so.
    assert [(g.step, g.missing) for g in score.gaps] == [
        ("rotate_secrets", ("secretsmanager:RotateSecret",))]
    text = (folder / "after-action.md").read_text()
    assert "# After-action report" in text and "leaked-access-key" in text
    assert "2. Who would have rotated prod/db-password in live" in text
    assert f"{fresh} (inject second-backdoor) was never contained." in text
    assert "Inject second-backdoor was missed: The attacker adds another key" in text


async def test_a_bad_debrief_list_stops_the_exercise_before_the_folder(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("name: broken\ndebrief: ['', 'Why?']\n")
    with pytest.raises(UsageError, match=r"scenario.yaml: debrief: .*non-empty text"):
        await IncidentSession.start(SessionConfig(
            runbook=RUNBOOKS / "aws-access-key-compromise.yaml", mode=Mode.EXERCISE,
            out_dir=tmp_path / "incidents", scenario=scenario), ExerciseResponder(io.StringIO()))
    assert not (tmp_path / "incidents").exists()
