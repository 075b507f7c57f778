"""Both GCP runbooks end to end: live against the fakes (state read back), and as an
exercise through the CLI, which starts the simulated project itself."""

from __future__ import annotations

import json
from pathlib import Path

from rescind.engine.session import IncidentSession, SessionConfig
from rescind.modes import Mode
from rescind.record.journal import read_entries
from tests.aws.test_runbooks import AutoResponder
from tests.gcp.conftest import (
    ATTACKER_KEY,
    CONNECTOR,
    LEAKED_KEY,
    ROOT,
    SYSTEM_KEY,
    WIF,
    running,
)

KEY_RUNBOOK = ROOT / "runbooks" / "gcp-service-account-key-compromise.yaml"
WIF_RUNBOOK = ROOT / "runbooks" / "gcp-workload-identity-compromise.yaml"


async def _live(runbook: Path, inputs: dict[str, str], sandbox, tmp_path: Path
                ) -> IncidentSession:
    config = SessionConfig(runbook=runbook, mode=Mode.LIVE, inputs=inputs, out_dir=tmp_path,
                           settings={"gcp": sandbox.provider_settings()})
    session = await IncidentSession.start(config, AutoResponder())
    assert await session.run() == "completed"
    failed = [e.data for e in read_entries(session.journal.path) if e.kind == "step.failed"]
    assert failed == []
    await session.close()
    assert session.verify().exit_code == 0
    return session


async def test_leaked_key_runbook_contains_traces_and_removes(tmp_path: Path) -> None:
    with running() as sandbox:
        session = await _live(KEY_RUNBOOK, {"service_account": CONNECTOR, "key_id": LEAKED_KEY},
                              sandbox, tmp_path)
        try:
            state = sandbox.state
            assert state.accounts[CONNECTOR].disabled
            assert set(state.keys) == {SYSTEM_KEY}  # user-managed keys deleted, Google's left
            members = [m for b in state.project_policy["bindings"] for m in b["members"]]
            assert f"serviceAccount:{CONNECTOR}" not in members
            assert "user:admin@example.com" in members
            timeline = [json.loads(line) for line in
                        (session.incident_dir / "timeline.jsonl").read_text().splitlines()]
            audit = [e for e in timeline if e["source"] == "gcp.audit"]
            assert any(e["action"] == "CreateServiceAccountKey" for e in audit)
            assert {e["credential"] for e in audit} == {LEAKED_KEY}
            assert ATTACKER_KEY in "".join(e.get("target", "") + json.dumps(e.get("raw"))
                                           for e in audit)
            assert list((session.incident_dir / "evidence").glob("gcp-audit-*.jsonl"))
        finally:
            session.shutdown()


async def test_workload_identity_runbook_cuts_the_federation(tmp_path: Path) -> None:
    with running(WIF) as sandbox:
        session = await _live(WIF_RUNBOOK, {"service_account": CONNECTOR}, sandbox, tmp_path)
        session.shutdown()
        (provider,) = sandbox.state.providers.values()
        assert provider["disabled"] is True
        roles = [b["role"] for b in sandbox.state.accounts[CONNECTOR].policy["bindings"]]
        assert "roles/iam.workloadIdentityUser" not in roles
        assert "roles/iam.serviceAccountUser" in roles


def test_both_runbooks_play_as_exercises_from_the_command_line(tmp_path: Path, capsys) -> None:
    from rescind.cli import main

    for runbook in (KEY_RUNBOOK, WIF_RUNBOOK):
        code = main(["run", str(runbook), "--mode", "exercise", "--auto-approve", "--no-tui",
                     "--out", str(tmp_path / "incidents")])
        assert code == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert out.count("incident closed and sealed") == 2
    assert "Delete 2 keys of" in out
