"""`rescind timeline convert --source vault`: file audit device logs into the event model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from rescind.sandbox.vault import VaultSandbox
from rescind.timeline.vault_audit import AuditFilter, convert_audit_files, findings
from tests.vault.cases import LEAKED
from tests.vault.conftest import ROOT


def test_events_of_one_accessor_and_what_it_touched(sandbox: VaultSandbox) -> None:
    keep = AuditFilter({sandbox.audit_hash(LEAKED)})
    result = convert_audit_files([sandbox.audit_path], keep)
    assert result.malformed == []
    assert [e.action for e in result.events] == ["read secret/data/payments/db",
                                                 "read aws/creds/deploy"]
    assert result.other == 1  # the bystander's read is not this token's evidence
    event = result.events[0]
    assert event.cloud == "vault" and event.source_ip == "203.0.113.50"
    assert event.actor == "token-deploy" and event.credential == sandbox.audit_hash(LEAKED)
    found = findings(result.events)
    assert found["kv_secrets"] == ["secret/payments/db"]
    assert found["lease_ids"] == ["aws/creds/deploy/leaseEXAMPLE01"]
    assert found["lease_prefixes"] == ["aws/creds/deploy"]


def test_unreadable_lines_are_counted_with_their_position(sandbox: VaultSandbox,
                                                          tmp_path: Path) -> None:
    lines = sandbox.audit_path.read_text().splitlines()
    broken = tmp_path / "audit.log"
    broken.write_text("\n".join([lines[0], "{not json", json.dumps({"type": "request"}),
                                 *lines[1:]]) + "\n")
    result = convert_audit_files([broken])
    assert [(m.position, m.reason.split(" (")[0]) for m in result.malformed] == [
        ("line 2", "not JSON"),
        ("line 3", "no request.path, request.operation or time: not a Vault audit entry")]
    assert result.records == len(lines) + 2
    assert len(result.events) == 3


def test_cli_convert(sandbox: VaultSandbox, tmp_path: Path) -> None:
    out = tmp_path / "t.ocsf.jsonl"
    run = subprocess.run(
        [sys.executable, "-m", "rescind", "timeline", "convert", "--source", "vault",
         "--vault-accessor-hmac", sandbox.audit_hash(LEAKED), str(sandbox.audit_path),
         "--out", str(out)], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    assert "2 events" in run.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["api"]["operation"] for line in lines] == ["read secret/data/payments/db",
                                                            "read aws/creds/deploy"]
    assert all(line["cloud"]["provider"] == "HashiCorp Vault" for line in lines)


def _rescind(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rescind", *args], capture_output=True,
                          text=True, timeout=120, check=False)


def test_cli_convert_finds_the_vault_source_without_being_told(sandbox: VaultSandbox,
                                                                tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    run = _rescind("timeline", "convert", str(sandbox.audit_path), "--format", "jsonl",
                   "--out", str(out))
    assert run.returncode == 0, run.stderr
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert {e["cloud"] for e in events} == {"vault"} and len(events) == 3


def test_cli_convert_refuses_a_malformed_accessor_hmac(sandbox: VaultSandbox,
                                                       tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    run = _rescind("timeline", "convert", "--source", "vault", "--vault-accessor-hmac",
                   "not-an-hmac", str(sandbox.audit_path), "--out", str(out))
    assert run.returncode == 2 and "hmac-sha256:" in run.stderr
    assert "Traceback" not in run.stderr and not out.exists()


def test_cli_pull_reads_the_exercise_vaults_audit_log(tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    scenario = ROOT / "runbooks" / "scenarios" / "vault-token-leak.yaml"
    run = _rescind("timeline", "pull", "--vault-accessor", "leakedAccessorEXAMPLE001",
                   "--exercise", str(scenario), "--since", "-1d", "--format", "jsonl",
                   "--out", str(out))
    assert run.returncode == 0, run.stderr
    events = [json.loads(line) for line in out.read_text().splitlines()]
    # The leaked token's four calls; the other team's read is not its evidence.
    assert [e["action"] for e in events] == [
        "read auth/token/lookup-self", "read secret/data/payments/db",
        "read secret/data/billing/api", "read aws/creds/deploy"]
    assert {e["actor"] for e in events} == {"token-deploy-pipeline"}
