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

pytestmark = pytest.mark.usefixtures("identity")


class ReadsTheAccount(ExerciseResponder):
    """Answers as exercise mode does; at the document phase, while the simulated
    account still runs, reads the leaked key's status back from it."""

    session: IncidentSession | None = None
    key_status: str | None = None

    async def answer(self, step: StepState, default: str | None, secret: bool) -> str:
        if self.session is not None and self.key_status is None:
            import boto3

            aws: dict[str, Any] = self.session.settings["aws"]
            iam = boto3.client("iam", endpoint_url=aws["endpoint_url"],
                               region_name="us-east-1", aws_access_key_id="AKIAEXAMPLEREADER1",
                               aws_secret_access_key="example-not-a-secret")
            keys = iam.list_access_keys(UserName="deploy-bot")["AccessKeyMetadata"]
            self.key_status = next((k["Status"] for k in keys if k["AccessKeyId"] == KEY),
                                   "Deleted")
        return await super().answer(step, default, secret)


async def test_exercise_closes_with_a_sealed_after_action_report(tmp_path: Path) -> None:
    responder = ReadsTheAccount(io.StringIO())
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
    # The simulated account, read back before the exercise closed: the key is gone.
    assert responder.key_status == "Deleted"
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
        KEY: "deactivate", "AKIABACKUPAD1EXAMPLE": "delete_backdoor_keys"}
    # The shipped scenario's live role lacks RotateSecret: the report says so.
    assert [(g.step, g.missing) for g in score.gaps] == [
        ("rotate_secrets", ("secretsmanager:RotateSecret",))]
    text = (folder / "after-action.md").read_text()
    assert "# After-action report" in text and "leaked-access-key" in text
    assert "2. Who would have rotated prod/db-password in live" in text


async def test_a_bad_debrief_list_stops_the_exercise_before_the_folder(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("name: broken\ndebrief: ['', 'Why?']\n")
    with pytest.raises(UsageError, match=r"scenario.yaml: debrief: .*non-empty text"):
        await IncidentSession.start(SessionConfig(
            runbook=RUNBOOKS / "aws-access-key-compromise.yaml", mode=Mode.EXERCISE,
            out_dir=tmp_path / "incidents", scenario=scenario), ExerciseResponder(io.StringIO()))
    assert not (tmp_path / "incidents").exists()
