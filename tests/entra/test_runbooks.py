"""The service principal runbook live against both fakes; state read back from them."""

from __future__ import annotations

from pathlib import Path

from rescind.engine.session import IncidentSession, SessionConfig
from rescind.modes import Mode
from rescind.record.journal import read_entries
from rescind.sandbox.arm import running_arm_fake
from rescind.sandbox.graph import running_graph_fake
from tests.aws.test_runbooks import AutoResponder
from tests.entra.cases import RUNBOOKS, SCENARIOS

SP = "e0000000-0000-4000-8000-0000000000e1"
APP = "e0000000-0000-4000-8000-0000000000a1"


async def test_connector_procedure_disables_removes_and_traces(tmp_path: Path) -> None:
    scenario = SCENARIOS / "azure-connector-sp.yaml"
    with running_graph_fake(scenario) as graph, running_arm_fake(scenario) as arm:
        config = SessionConfig(runbook=RUNBOOKS / "azure-service-principal-compromise.yaml",
                               mode=Mode.LIVE, inputs={"service_principal": SP, "app": APP},
                               out_dir=tmp_path, settings={"entra": graph.provider_settings(),
                                                           "azure": arm.provider_settings()})
        session = await IncidentSession.start(config, AutoResponder())
        try:
            assert await session.run() == "completed"
            entries = read_entries(session.journal.path)
            assert [e.data for e in entries if e.kind == "step.failed"] == []
            sp = graph.service_principals[SP]
            assert sp["accountEnabled"] is False
            assert graph.applications[APP]["passwordCredentials"] == []
            assert graph.applications[APP]["keyCredentials"] == []
            assert graph.app_role_assignments[SP] == [] and graph.grants == {}
            assert not [a for a in arm.assignments.values()
                        if a["properties"]["principalId"] == SP]
            # The attacker's sign-in and key listing are on the timeline.
            timeline = (session.incident_dir / "timeline.jsonl").read_text()
            assert "198.51.100.99" in timeline and "listKeys" in timeline
            await session.close()
            assert session.verify().exit_code == 0
        finally:
            session.shutdown()
