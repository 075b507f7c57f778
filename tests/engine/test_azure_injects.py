"""Injects in the simulated Azure subscription, played through the engine with the
shipped managed-identity runbook and scenario: the intruder's federated credential
reaches the ARM fake and its Activity Log, the responder's removal takes it away, and
the intruder's later attempt (its identity's role assignments gone) is refused. The
subscription is read back before the close; the score from the files written."""

from __future__ import annotations

import io
import json
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from rescind.engine.responder import StepState
from rescind.engine.session import IncidentSession, SessionConfig
from rescind.headless import ExerciseResponder
from rescind.modes import Mode
from rescind.record.score import load_score

RUNBOOK = Path(__file__).resolve().parents[2] / "runbooks" / \
    "azure-managed-identity-compromise.yaml"
MI = "c0000000-0000-4000-8000-000000000001"
SUB = "00000000-0000-0000-0000-000000000000"

pytestmark = pytest.mark.usefixtures("identity")


class ReadsTheSubscription(ExerciseResponder):
    """Answers as exercise mode does; at the review step, reads the ARM fake back."""

    def __init__(self) -> None:
        super().__init__(io.StringIO())
        self.session: IncidentSession | None = None
        self.seen: dict[str, Any] = {}

    async def acknowledge(self, step: StepState) -> str | None:
        if step.id == "review" and self.session is not None:
            self.seen = self._read(self.session.settings["azure"])
        return await super().acknowledge(step)

    @staticmethod
    def _read(azure: dict[str, Any]) -> dict[str, Any]:
        """The identity's federated credentials and its Activity Log, through ARM's API."""
        identity = (f"/subscriptions/{SUB}/resourceGroups/rg-prod/providers/"
                    "Microsoft.ManagedIdentity/userAssignedIdentities/deploy-mi")
        federated = _arm(azure, f"{identity}/federatedIdentityCredentials",
                         {"api-version": "2023-01-31"})["value"]
        activity = _arm(azure, f"/subscriptions/{SUB}/providers/microsoft.insights/"
                        "eventtypes/management/values",
                        {"api-version": "2015-04-01",
                         "$filter": f"eventTimestamp ge '2000-01-01T00:00:00Z' and "
                                    f"caller eq '{MI}'"})["value"]
        writes = [(e["resourceId"].rsplit("/", 1)[-1], e["status"]["value"],
                   json.loads(e.get("properties", {}).get("statusMessage", "{}"))
                   .get("error", {}).get("code"))
                  for e in reversed(activity) if e["eventName"]["value"] == "EndRequest"
                  and e["operationName"]["value"].endswith("federatedIdentityCredentials/write")]
        return {"federated": [f["name"] for f in federated], "writes": writes}


def _arm(azure: dict[str, Any], path: str, query: dict[str, str]) -> Any:
    request = urllib.request.Request(f"{azure['arm_url']}{path}?{urlencode(query)}",
                                     headers={"Authorization": f"Bearer {azure['token']}"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.loads(reply.read())


async def test_azure_injects_reach_the_subscription_and_are_scored(tmp_path: Path) -> None:
    responder = ReadsTheSubscription()
    session = await IncidentSession.start(SessionConfig(
        runbook=RUNBOOK, mode=Mode.EXERCISE, out_dir=tmp_path / "incidents"), responder)
    responder.session = session
    try:
        assert await session.run() == "completed"
        await session.close()
    finally:
        session.shutdown()
    assert responder.seen == {
        "federated": [],  # the intruder's, added after describe, removed with the others
        "writes": [("github-fork-main", "Succeeded", None),
                   ("github-fork-dev", "Failed", "AuthorizationFailed")]}
    score = load_score(session.incident_dir)
    assert {i.id: (i.trigger, i.targets, i.how) for i in score.injects} == {
        "azure-new-fic": ("after_step", ("github-fork-main",), "step remove_federated"),
        # Refused: the identity had no role left; nothing to notice or contain.
        "azure-fic-again": ("after_step", (), "")}
    assert {c.id: c.step for c in score.credentials} == {
        "github-fork-main": "remove_federated"}
