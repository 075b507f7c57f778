"""The seed's third-party connector compromised in AWS, Azure and Google Cloud at once:
the shipped multi-cloud runbook and scenario played through the engine (headless
responder) with injects in all three clouds. The clouds are read back before the
exercise closes; the score and the after-action report are read from the files the
exercise wrote."""

from __future__ import annotations

import io
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from rescind.engine.responder import StepState
from rescind.engine.session import IncidentSession, SessionConfig
from rescind.headless import ExerciseResponder
from rescind.modes import Mode
from rescind.record.score import load_score
from rescind.record.verify import verify_incident

RUNBOOK = Path(__file__).resolve().parents[2] / "runbooks" / \
    "third-party-connector-compromise.yaml"
ROLE = "costexport-connector-role"
SP = "e0000000-0000-4000-8000-0000000000e1"
SA = "costexport-connector@example-project.iam.gserviceaccount.com"
NEW_KEY = "2e4b1d0f6c8e3b5d7f9a1c2e4b6d8f0a1b3c5d7e"
NEW_SECRET = "f0000000-0000-4000-8000-0000000000aa"

pytestmark = pytest.mark.usefixtures("identity")


class ReadsTheClouds(ExerciseResponder):
    """Answers as exercise mode does; at the remediate phase, while the clouds still
    run, reads back what the team and the intruder left in each."""

    def __init__(self) -> None:
        super().__init__(io.StringIO())
        self.session: IncidentSession | None = None
        self.seen: dict[str, Any] = {}

    async def acknowledge(self, step: StepState) -> str | None:
        if step.id == "restore_access" and self.session is not None:
            self.seen = self._read(self.session)
        return await super().acknowledge(step)

    @staticmethod
    def _read(session: IncidentSession) -> dict[str, Any]:
        import boto3

        aws = session.settings["aws"]
        iam = boto3.client("iam", endpoint_url=aws["endpoint_url"], region_name="us-east-1",
                           aws_access_key_id="AKIAEXAMPLEREADER1",
                           aws_secret_access_key="example-not-a-secret")
        entra = session.settings["entra"]
        request = urllib.request.Request(f"{entra['graph_url']}/servicePrincipals/{SP}",
                                         headers={"Authorization": f"Bearer {entra['token']}"})
        with urllib.request.urlopen(request, timeout=10) as reply:
            sp = json.loads(reply.read())
        assert session.exercise is not None
        project = session.exercise._home["gcp-new-key"].state
        return {"role_policies": iam.list_role_policies(RoleName=ROLE)["PolicyNames"],
                "sp_enabled": sp["accountEnabled"],
                "sp_secrets": [p["keyId"] for p in sp["passwordCredentials"]],
                "sa_disabled": project.accounts[SA].disabled,
                "keys_disabled": {k: v.disabled for k, v in project.keys.items()}}


@pytest.mark.slow
async def test_the_connector_cut_off_in_three_clouds(tmp_path: Path) -> None:
    responder = ReadsTheClouds()
    session = await IncidentSession.start(SessionConfig(
        runbook=RUNBOOK, mode=Mode.EXERCISE, out_dir=tmp_path / "incidents"), responder)
    responder.session = session
    try:
        assert await session.run() == "completed"
        await session.close()
    finally:
        session.shutdown()
    folder = session.incident_dir
    # Read back from the clouds: the team's changes and the intruder's, in each.
    assert responder.seen == {
        "role_policies": ["AWSRevokeOlderSessions"],
        "sp_enabled": False, "sp_secrets": [],  # the intruder's secret removed too
        "sa_disabled": True,
        "keys_disabled": {"1f3a0c9e5b7d2a4c6e8f0b1d3a5c7e9f0a2b4c6d": True, NEW_KEY: True}}
    assert verify_incident(folder).exit_code == 0
    assert sorted(p.name for p in (folder / "exercise").iterdir()) == [
        "arm.jsonl", "aws.jsonl", "gcp.jsonl", "graph.jsonl"]

    score = load_score(folder)
    assert {i.id: (i.trigger, i.how) for i in score.injects} == {
        "aws-new-session": ("after_step", "step aws_revoke_sessions"),
        "gcp-new-key": ("after_step", "step gcp_disable"),
        "entra-new-secret": ("after_step", "step entra_disable"),
        # Refused: the service principal was disabled; nothing to notice or contain.
        "entra-sign-in-again": ("after_step", "")}
    contained = {c.id: c.step for c in score.credentials}
    assert contained == {
        ROLE: "aws_delete_policy", SP: "entra_disable", SA: "gcp_disable",
        f"arn:aws:iam::123456789012:role/{ROLE}": "aws_delete_policy",
        # Minted by injects: ended by cutting off the principal that holds them.
        "ASIAEXAMPLEVENDOR003": "aws_revoke_sessions",
        NEW_KEY: "gcp_disable", NEW_SECRET: "entra_disable"}
    assert score.first_change is not None and score.first_change[1] == "aws_delete_policy"
    report = (folder / "after-action.md").read_text()
    for line in ("connector-three-clouds",
                 "- Inject gcp-new-key noticed ",
                 "1. Which cloud did we contain first, and why that one?"):
        assert line in report, line
    assert "was never contained" not in report
