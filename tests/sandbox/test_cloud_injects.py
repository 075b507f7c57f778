"""Exercise injects in the simulated Google Cloud project and Entra tenant: made real in
the fake and in its audit logs, refused as the real cloud would once contained, and
the fakes' state saved and restored across a crash.

The logs are read back through the fakes' own HTTP APIs (Cloud Logging entries:list,
Graph auditLogs), as the responder's timeline pull reads them.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rescind.errors import UsageError
from rescind.sandbox.arm import ArmFake, start_arm_fake
from rescind.sandbox.gcp import GcpSandbox, start_gcp_sandbox
from rescind.sandbox.graph import GraphFake, start_graph_fake
from rescind.sandbox.vault import start_vault_sandbox

SA = "tailpipe-connector@example-project.iam.gserviceaccount.com"
LEAKED = "1f3a0c9e5b7d2a4c6e8f0b1d3a5c7e9f0a2b4c6d"
NEW_KEY = "2e4b1d0f6c8e3b5d7f9a1c2e4b6d8f0a1b3c5d7e"
SP = "e0000000-0000-4000-8000-0000000000e1"
SECRET = "f0000000-0000-4000-8000-000000000001"
NEW_SECRET = "f0000000-0000-4000-8000-0000000000aa"
MI = "c0000000-0000-4000-8000-000000000001"
INTRUDER = "c0000000-0000-4000-8000-0000000000ff"
SUB = "/subscriptions/00000000-0000-0000-0000-000000000000"

SCENARIO = f"""\
name: two-clouds
gcp:
  service_accounts:
    - email: {SA}
      keys: [{{id: {LEAKED}}}]
  audit_log:
    attacker: {{principal: {SA}, key: {LEAKED}, ip: 203.0.113.50}}
  injects:
    - id: gcp-new-key
      summary: The intruder makes the connector a second key
      at: +5m
      attacker:
        - {{create_key: {SA}, new_key: {NEW_KEY}}}
        - {{method: storage.objects.get, service: storage.googleapis.com,
           resource: projects/_/buckets/billing/objects/2026-11.csv}}
entra:
  applications:
    - id: e0000000-0000-4000-8000-0000000000a1
      app_id: e0000000-0000-4000-8000-0000000000c1
      display_name: costexport-connector
      passwords: [{{key_id: {SECRET}}}]
  service_principals:
    - id: {SP}
      app_id: e0000000-0000-4000-8000-0000000000c1
      display_name: costexport-connector
  injects:
    - id: entra-new-secret
      summary: The intruder adds a client secret to the connector
      attacker:
        - {{add_secret: {SP}, key_id: {NEW_SECRET}}}
    - id: entra-sign-in
      summary: The intruder signs in with the leaked secret
      attacker:
        - {{sign_in: {SP}, secret: {SECRET}}}
azure:
  identities:
    - {{name: deploy-mi, resource_group: rg-prod, principal_id: {MI},
       client_id: c1000000-0000-4000-8000-000000000001}}
  role_assignments:
    - {{name: d0000000-0000-4000-8000-000000000001, principal_id: {MI}, role: Owner}}
  injects:
    - id: azure-moves
      summary: The intruder makes its own principal Owner and trusts its fork
      attacker:
        - {{caller: {MI}, assign_role: {INTRUDER}, role: Owner,
           assignment: d0000000-0000-4000-8000-0000000000aa}}
        - {{caller: {MI}, add_federated_credential: rg-prod/deploy-mi, name: fork,
           subject: "repo:attacker/app-fork:ref:refs/heads/main"}}
vault:
  tokens:
    - {{name: leaked, accessor: leakedAccessorEXAMPLE001, display_name: token-deploy,
       policies: [default]}}
  kv:
    - path: secret/payments/db
      versions: [{{data: {{password: example-not-a-real-password}}}}]
  injects:
    - id: vault-moves
      summary: The intruder makes itself a child token and reads the payments secret
      attacker:
        - {{token: leaked, create_token: backup}}
        - {{token: leaked, read_secret: payments/db}}
"""


@pytest.fixture
def identity(_isolated_config: Path) -> None:
    from rescind.record.keys import init_key

    init_key("Jane Responder", "jane@example.com")


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scenario") / "two-clouds.yaml"
    path.write_text(SCENARIO)
    return path


@pytest.fixture
def gcp(scenario: Path) -> Iterator[GcpSandbox]:
    with start_gcp_sandbox(scenario) as sandbox:
        yield sandbox


@pytest.fixture
def graph(scenario: Path) -> Iterator[GraphFake]:
    fake = start_graph_fake(scenario)
    try:
        yield fake
    finally:
        fake.stop()


def _inject(sandbox: Any, inject_id: str) -> Any:
    return next(i for i in sandbox.injects if i.id == inject_id)


def _entries(gcp: GcpSandbox, method: str) -> list[dict[str, Any]]:
    body = json.dumps({"resourceNames": ["projects/example-project"],
                       "filter": f'protoPayload.methodName="{method}"'}).encode()
    request = urllib.request.Request(f"{gcp.rest_endpoint}/v2/entries:list",
                                     data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        return list(json.loads(reply.read()).get("entries", []))


def _graph(fake: GraphFake, path: str, body: Any = None, method: str = "GET") -> Any:
    token = fake.provider_settings()["token"]
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{fake.url}/v1.0/{path}", data=data, method=method,
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        text = reply.read()
    return json.loads(text) if text else None


def test_a_gcp_inject_makes_a_key_and_its_calls_reach_cloud_logging(gcp: GcpSandbox) -> None:
    fired = gcp.exercise().fire(_inject(gcp, "gcp-new-key"), datetime.now(UTC))
    assert fired == [NEW_KEY, SA] and fired.holders == {NEW_KEY: SA}
    assert gcp.state.keys[NEW_KEY].account == SA and not gcp.state.keys[NEW_KEY].disabled
    made = _entries(gcp, "google.iam.admin.v1.CreateServiceAccountKey")
    assert [e["protoPayload"]["authenticationInfo"]["principalEmail"] for e in made] == [SA]
    assert [e["severity"] for e in _entries(gcp, "storage.objects.get")] == ["NOTICE"]


def test_a_disabled_service_account_makes_no_key(gcp: GcpSandbox) -> None:
    gcp.state.accounts[SA].disabled = True  # what gcp.sa.disable leaves
    fired = gcp.exercise().fire(_inject(gcp, "gcp-new-key"), datetime.now(UTC))
    assert fired == [] and NEW_KEY not in gcp.state.keys
    tried = _entries(gcp, "google.iam.admin.v1.CreateServiceAccountKey")
    assert [e["protoPayload"]["status"]["code"] for e in tried] == [16]
    assert [e["severity"] for e in _entries(gcp, "storage.objects.get")] == ["ERROR"]


def test_an_entra_inject_adds_a_secret_and_signs_in(graph: GraphFake) -> None:
    fired = graph.exercise().fire(_inject(graph, "entra-new-secret"), datetime.now(UTC))
    assert fired.holders == {NEW_SECRET: SP}
    held = _graph(graph, f"servicePrincipals/{SP}")["passwordCredentials"]
    assert NEW_SECRET in [p["keyId"] for p in held]
    audits = _graph(graph, "auditLogs/directoryAudits")["value"]
    assert "Add service principal credentials" in [a["activityDisplayName"] for a in audits]
    graph.exercise().fire(_inject(graph, "entra-sign-in"), datetime.now(UTC))
    sign_ins = _graph(graph, "auditLogs/signIns")["value"]
    assert [s["status"]["errorCode"] for s in sign_ins if s["servicePrincipalId"] == SP] == [
        0, 0]


def test_a_disabled_service_principal_cannot_sign_in_or_add_a_secret(
        graph: GraphFake) -> None:
    _graph(graph, f"servicePrincipals/{SP}", {"accountEnabled": False}, "PATCH")
    assert graph.exercise().fire(_inject(graph, "entra-new-secret"), datetime.now(UTC)) == []
    held = _graph(graph, f"servicePrincipals/{SP}")["passwordCredentials"]
    assert NEW_SECRET not in [p["keyId"] for p in held]
    sign_ins = _graph(graph, "auditLogs/signIns")["value"]
    assert [s["status"]["errorCode"] for s in sign_ins] == [7000112]


def test_a_removed_secret_no_longer_signs_in(graph: GraphFake) -> None:
    app = "e0000000-0000-4000-8000-0000000000a1"
    _graph(graph, f"applications/{app}/removePassword", {"keyId": SECRET}, "POST")
    assert graph.exercise().fire(_inject(graph, "entra-sign-in"), datetime.now(UTC)) == []
    sign_ins = _graph(graph, "auditLogs/signIns")["value"]
    assert [s["status"]["errorCode"] for s in sign_ins] == [7000215]


def test_the_fakes_state_survives_a_crash(scenario: Path, tmp_path: Path) -> None:
    """Saved as the exercise runs; a new fake restored from the file holds the inject's
    secret and the responder's change, and says which inject had fired."""
    path = tmp_path / "graph.jsonl"
    first = start_graph_fake(scenario)
    try:
        first.exercise().save_to(path, scenario)
        first.exercise().fire(_inject(first, "entra-new-secret"), datetime.now(UTC))
        _graph(first, f"servicePrincipals/{SP}", {"accountEnabled": False}, "PATCH")
    finally:
        first.stop()
    with path.open("a") as fh:
        fh.write('{"op": "state", "sta')  # torn by the crash
    second = start_graph_fake(scenario)
    try:
        fired = second.exercise().restore(path, {i.id: i for i in second.injects})
        assert [(i, t, t.holders) for i, _, t in fired] == [
            ("entra-new-secret", [NEW_SECRET, SP], {NEW_SECRET: SP})]
        sp = _graph(second, f"servicePrincipals/{SP}")
        assert sp["accountEnabled"] is False
        assert NEW_SECRET in [p["keyId"] for p in sp["passwordCredentials"]]
    finally:
        second.stop()
    assert "secretText\": \"" not in path.read_text()  # no secret value is saved


def test_gcp_state_survives_a_crash(scenario: Path, tmp_path: Path) -> None:
    path = tmp_path / "gcp.jsonl"
    with start_gcp_sandbox(scenario) as first:
        first.exercise().save_to(path, scenario)
        first.exercise().fire(_inject(first, "gcp-new-key"), datetime.now(UTC))
    with start_gcp_sandbox(scenario) as second:
        fired = second.exercise().restore(path, {i.id: i for i in second.injects})
        assert [i for i, _, _ in fired] == ["gcp-new-key"]
        assert NEW_KEY in second.state.keys
        assert len(_entries(second, "google.iam.admin.v1.CreateServiceAccountKey")) == 1


@pytest.mark.parametrize(("inject", "where", "message"), [
    ("{id: x, summary: s, at: 5m, alert: {text: t}}", "gcp.injects.0.at", r"write \+5m"),
    ("{id: x, summary: s, attacker: [{explode: now}]}", "gcp.injects.0.attacker.0.explode",
     "Extra inputs"),
    ("{id: x, summary: s, attacker: [{}]}", "gcp.injects.0.attacker.0", "create_key"),
])
def test_bad_gcp_injects_name_the_file_and_line(tmp_path: Path, inject: str, where: str,
                                                message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(f"name: bad\ngcp:\n  injects:\n    - {inject}\n")
    with pytest.raises(UsageError, match=rf"bad.yaml:4: {where}: .*{message}"):
        start_gcp_sandbox(path)


def test_a_vault_inject_makes_a_child_token_and_reads_a_secret_until_revoked(
        scenario: Path) -> None:
    with start_vault_sandbox(scenario) as vault:
        inject = _inject(vault, "vault-moves")
        fired = vault.exercise().fire(inject, datetime.now(UTC))
        (child,) = [t for t in vault.state.tokens.values() if t.display_name == "token-backup"]
        assert fired == [child.accessor, "secret/payments/db"]
        assert vault.state.tokens[child.parent or ""].accessor == "leakedAccessorEXAMPLE001"
        # The responder revokes the leaked token (and its children) through the API.
        body = json.dumps({"accessor": "leakedAccessorEXAMPLE001"}).encode()
        request = urllib.request.Request(
            f"{vault.address}/v1/auth/token/revoke-accessor", data=body, method="POST",
            headers={"X-Vault-Token": vault.provider_settings()["token"]})
        urllib.request.urlopen(request, timeout=10).close()
        assert vault.exercise().fire(inject, datetime.now(UTC)) == []
        audit = [json.loads(line) for line in vault.audit_path.read_text().splitlines()]
        tried = [(a["request"]["path"], a["error"]) for a in audit
                 if a["type"] == "request" and a["request"]["remote_address"] == "203.0.113.50"]
        assert tried[-4:] == [("auth/token/create", ""), ("secret/data/payments/db", ""),
                              ("auth/token/create", "permission denied"),
                              ("secret/data/payments/db", "permission denied")]


async def test_a_resumed_gcp_exercise_keeps_the_inject_and_the_responders_change(
        tmp_path: Path, identity: None) -> None:
    """Through the engine: killed after the account was disabled and an inject fired;
    the resumed project holds both, and the inject is neither fired nor journaled again."""
    import asyncio

    from rescind.engine.session import IncidentSession
    from rescind.record.journal import read_entries
    from tests.sandbox.test_injects import HeldResponder

    backup = "backup-sa@example-project.iam.gserviceaccount.com"
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(f"""\
name: gcp-resume
service_accounts:
  - {{email: {SA}, keys: [{{id: {LEAKED}}}]}}
  - {{email: {backup}}}
injects:
  - id: backup-key
    summary: The intruder makes the backup account a key
    attacker: [{{create_key: {backup}, principal: {backup}, new_key: {NEW_KEY}}}]
""")
    config = _act_then_hold(tmp_path, scenario, "disable", "gcp.sa.disable",
                            f"service_account: {SA}")
    responder = HeldResponder()
    session = await IncidentSession.start(config, responder)
    run = asyncio.create_task(session.run())
    try:
        await asyncio.wait_for(responder.holding.wait(), 60)
        assert session.exercise is not None
        await session.exercise.fire_now("backup-key")
    finally:  # a crash: no close, no seal
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
        session.shutdown()

    second = HeldResponder()
    second.release.set()
    resumed = await IncidentSession.resume(session.incident_dir, second)
    try:
        assert resumed.exercise is not None and resumed.exercise.fired == ["backup-key"]
        project = resumed.exercise._home["backup-key"].state
        assert project.accounts[SA].disabled and NEW_KEY in project.keys
        assert await asyncio.wait_for(resumed.run(), 60) == "completed"
    finally:
        resumed.shutdown()
    injected = [e for e in read_entries(session.incident_dir / "journal.jsonl")
                if e.kind == "exercise.inject"]
    assert [(e.data["id"], e.data["holders"]) for e in injected] == [
        ("backup-key", {NEW_KEY: backup})]


def _vault(sandbox: Any, path: str, body: dict[str, Any], token: str | None = None) -> Any:
    """A Vault API call as the responder; its answer, or the HTTP status of a refusal."""
    request = urllib.request.Request(
        f"{sandbox.address}/v1/{path}", data=json.dumps(body).encode(), method="POST",
        headers={"X-Vault-Token": token or sandbox.provider_settings()["token"]})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            text = reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code
    return json.loads(text) if text else None


def _act_then_hold(tmp_path: Path, scenario: Path, step: str, action: str,
                   with_: str) -> Any:
    """An exercise of ``scenario`` whose runbook runs ``action`` (``with_``: its inputs as
    YAML flow mapping entries), then waits by hand."""
    from rescind.engine.session import SessionConfig
    from rescind.modes import Mode

    runbook = tmp_path / "runbook.yaml"
    runbook.write_text(f"""\
id: {action.split(".")[0]}-resume
title: {step.capitalize()}, then wait
scenario: {scenario}
phases:
  contain:
    - id: {step}
      action: {action}
      with: {{{with_}}}
    - id: hold
      manual: Wait for the facilitator
""")
    return SessionConfig(runbook=runbook, mode=Mode.EXERCISE, out_dir=tmp_path / "inc")


def _revoke_then_hold(tmp_path: Path, scenario: Path) -> Any:
    """An exercise of ``scenario`` that revokes the leaked token, then waits by hand."""
    return _act_then_hold(tmp_path, scenario, "revoke", "vault.token.revoke",
                          "accessor: leakedAccessorEXAMPLE001")


async def test_a_resumed_vault_exercise_keeps_the_revocation_and_the_injects_token(
        tmp_path: Path, identity: None) -> None:
    """Through the engine: the responder revoked the leaked token, the attacker made a
    child of another; killed and resumed, the Vault holds both changes, and the saved
    state names tokens by accessor only: no token id the first Vault minted is in it."""
    import asyncio

    from rescind.engine.session import IncidentSession
    from tests.sandbox.test_injects import HeldResponder

    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("""\
name: vault-resume
vault:
  tokens:
    - {name: leaked, accessor: leakedAccessorEXAMPLE001, display_name: token-deploy}
    - {name: other, accessor: otherTeamAccessorEXAMPL1, display_name: token-billing}
  injects:
    - id: vault-child
      summary: The intruder makes a child of the billing token
      attacker: [{token: other, create_token: backup}]
""")
    config = _revoke_then_hold(tmp_path, scenario)
    responder = HeldResponder()
    session = await IncidentSession.start(config, responder)
    run = asyncio.create_task(session.run())
    try:
        await asyncio.wait_for(responder.holding.wait(), 60)
        assert session.exercise is not None
        await session.exercise.fire_now("vault-child")
        first = session.exercise._home["vault-child"]
        minted = {first.responder_token, *first.state.tokens,
                  *(t.id for t in first.tokens.values())}
        (child,) = [t.accessor for t in first.state.tokens.values()
                    if t.display_name == "token-backup"]
    finally:  # a crash: no close, no seal
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
        session.shutdown()

    saved = (session.incident_dir / "exercise" / "vault.jsonl").read_text()
    assert child in saved and "otherTeamAccessorEXAMPL1" in saved
    assert [i for i in minted if i in saved] == []

    second = HeldResponder()
    second.release.set()
    resumed = await IncidentSession.resume(session.incident_dir, second)
    try:
        assert resumed.exercise is not None and resumed.exercise.fired == ["vault-child"]
        vault = resumed.exercise._home["vault-child"]
        assert _vault(vault, "auth/token/lookup-accessor",
                      {"accessor": "leakedAccessorEXAMPLE001"}) == 400  # still revoked
        made = _vault(vault, "auth/token/lookup-accessor", {"accessor": child})["data"]
        parent = vault.state.tokens[vault.state.by_accessor(child).parent]
        assert made["display_name"] == "token-backup"
        assert parent.accessor == "otherTeamAccessorEXAMPL1"
        # The attacker's token is still refused; the new ids are not the first Vault's.
        assert vault.state.by_accessor(child).id not in minted
        assert await asyncio.wait_for(resumed.run(), 60) == "completed"
    finally:
        resumed.shutdown()


def test_vault_state_survives_a_crash_without_its_secrets(tmp_path: Path) -> None:
    """AppRole secret ids, leases, KV versions, database rotations, policies and the
    audit device come back as they were; secret values are not saved."""
    path = tmp_path / "vault.jsonl"
    spec = tmp_path / "vault.yaml"
    spec.write_text("""\
name: vault-state
vault:
  tokens: [{name: leaked, accessor: leakedAccessorEXAMPLE001}]
  roles:
    - name: deploy
      role_id: 00000000-0000-4000-8000-00000000a001
      secret_ids:
        - {accessor: 00000000-0000-4000-8000-00000000b001,
           secret_id: 00000000-0000-4000-8000-00000000c001}
        - {accessor: 00000000-0000-4000-8000-00000000b002}
  kv:
    - path: secret/payments/db
      versions: [{data: {password: example-not-a-real-password}}]
  database:
    connections: [{name: payments}]
    static_roles: [{name: app, db_name: payments, username: app}]
  aws_roles: [deploy]
  leases: [{id: aws/creds/deploy/leaseEXAMPLE0000001, token: leaked}]
""")
    with start_vault_sandbox(spec) as first:
        first.exercise().save_to(path, spec)
        before = first.state.static_roles["app"].last_rotation
        role = "auth/approle/role/deploy"
        _vault(first, f"{role}/secret-id-accessor/destroy",
               {"secret_id_accessor": "00000000-0000-4000-8000-00000000b002"})
        _vault(first, f"{role}/role-id", {"role_id": "00000000-0000-4000-8000-00000000a002"})
        _vault(first, "secret/data/payments/db", {"data": {"password": "rotated-value-xyz"}})
        _vault(first, "database/rotate-root/payments", {})
        _vault(first, "database/rotate-role/app", {})
        _vault(first, "sys/leases/revoke", {"lease_id": "aws/creds/deploy/leaseEXAMPLE0000001"})
        _vault(first, "sys/policies/acl/quarantine", {"policy": 'path "*" {capabilities=["deny"]}'})
        rotated = first.state.static_roles["app"].last_rotation
        audit = first.audit_path.read_text()
        secrets_ = [first.state.roles["deploy"].secret_ids[
            "00000000-0000-4000-8000-00000000b001"].secret_id,
            first.state.static_roles["app"].password, "rotated-value-xyz",
            "00000000-0000-4000-8000-00000000a002", *first.state.tokens]
    saved = path.read_text()
    assert [s for s in secrets_ if s in saved] == []
    with start_vault_sandbox(spec) as second:
        second.exercise().restore(path, {})
        state = second.state
        deploy = state.roles["deploy"]
        assert sorted(deploy.secret_ids) == ["00000000-0000-4000-8000-00000000b001"]
        assert deploy.secret_ids["00000000-0000-4000-8000-00000000b001"].secret_id == \
            "00000000-0000-4000-8000-00000000c001"  # the scenario's, re-minted from the seed
        # The role id the responder replaced is neither the leaked one nor saved.
        assert deploy.role_id not in ("00000000-0000-4000-8000-00000000a001",
                                      "00000000-0000-4000-8000-00000000a002")
        kv = state.kv["payments/db"]
        assert [v.data for v in kv] == [{"password": "example-not-a-real-password"},
                                        {"password": "HIDDEN_DUE_TO_SECURITY_REASONS"}]
        assert state.connections["payments"].root_rotations == 1
        assert state.static_roles["app"].last_rotation == rotated != before
        assert state.leases == {}
        assert state.policies["quarantine"] == {"*": ["deny"]}
        assert second.audit_path.read_text() == audit


@pytest.fixture
def arm(scenario: Path) -> Iterator[ArmFake]:
    fake = start_arm_fake(scenario)
    try:
        yield fake
    finally:
        fake.stop()


def _arm(fake: ArmFake, path: str, query: str, method: str = "GET") -> Any:
    token = fake.provider_settings()["token"]
    request = urllib.request.Request(f"{fake.url}{path}?{query}", method=method,
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        text = reply.read()
    return json.loads(text) if text else None


def _arm_state(fake: ArmFake) -> dict[str, Any]:
    """Role assignments, the identity's federated credentials and the Activity Log's
    writes, read through ARM's API."""
    ra = "providers/Microsoft.Authorization/roleAssignments"
    assignments = _arm(fake, f"{SUB}/{ra}", "api-version=2022-04-01")["value"]
    fics = _arm(fake, f"{SUB}/resourceGroups/rg-prod/providers/Microsoft.ManagedIdentity/"
                "userAssignedIdentities/deploy-mi/federatedIdentityCredentials",
                "api-version=2023-01-31")["value"]
    activity = _arm(fake, f"{SUB}/providers/microsoft.insights/eventtypes/management/values",
                    "api-version=2015-04-01&$filter=eventTimestamp+ge+'2000-01-01T00:00:00Z'"
                    )["value"]
    return {"assigned": sorted(a["properties"]["principalId"] for a in assignments),
            "fics": [f["name"] for f in fics],
            "writes": sorted(("/".join(e["operationName"]["value"].rsplit("/", 2)[-2:]),
                              e["status"]["value"]) for e in activity
                             if e["eventName"]["value"] == "EndRequest")}


def test_an_azure_inject_assigns_a_role_and_adds_a_federated_credential(arm: ArmFake) -> None:
    fired = arm.exercise().fire(_inject(arm, "azure-moves"), datetime.now(UTC))
    assignment = f"{SUB}/providers/Microsoft.Authorization/roleAssignments/" \
        "d0000000-0000-4000-8000-0000000000aa"
    assert fired == [assignment, INTRUDER, "fork"]
    assert _arm_state(arm) == {
        "assigned": [MI, INTRUDER], "fics": ["fork"],
        "writes": [("federatedIdentityCredentials/write", "Succeeded"),
                   ("roleAssignments/write", "Succeeded")]}


def test_an_azure_inject_is_refused_once_its_callers_roles_are_removed(arm: ArmFake) -> None:
    _arm(arm, f"{SUB}/providers/Microsoft.Authorization/roleAssignments/"
         "d0000000-0000-4000-8000-000000000001", "api-version=2022-04-01", "DELETE")
    assert arm.exercise().fire(_inject(arm, "azure-moves"), datetime.now(UTC)) == []
    assert _arm_state(arm) == {
        "assigned": [], "fics": [],
        "writes": [("federatedIdentityCredentials/write", "Failed"),
                   ("roleAssignments/delete", "Succeeded"), ("roleAssignments/write", "Failed")]}


def test_arm_state_survives_a_crash(scenario: Path, tmp_path: Path) -> None:
    path = tmp_path / "arm.jsonl"
    first = start_arm_fake(scenario)
    try:
        first.exercise().save_to(path, scenario)
        first.exercise().fire(_inject(first, "azure-moves"), datetime.now(UTC))
        saved = _arm_state(first)
    finally:
        first.stop()
    second = start_arm_fake(scenario)
    try:
        fired = second.exercise().restore(path, {i.id: i for i in second.injects})
        assert [i for i, _, _ in fired] == ["azure-moves"]
        assert _arm_state(second) == saved
    finally:
        second.stop()


@pytest.mark.parametrize(("move", "where", "message"), [
    ("{caller: c0, reset_subscription: now}", "azure.injects.0.attacker.0.reset_subscription",
     "Extra inputs"),
    ("{caller: c0}", "azure.injects.0.attacker.0", "add_federated_credential"),
    ("{caller: c0, assign_role: c1, role: God}", "azure.injects.0.attacker.0.role",
     "not a role"),
    ("{caller: c0, add_federated_credential: deploy-mi, name: n, subject: s}",
     "azure.injects.0.attacker.0", "not RESOURCE_GROUP/NAME"),
])
def test_bad_azure_injects_name_the_file_and_line(tmp_path: Path, move: str, where: str,
                                                  message: str) -> None:
    """As ``rescind validate`` reports them, without starting the subscription."""
    from rescind.sandbox.scenario_check import check_scenario

    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nazure:\n  injects:\n    - id: x\n      summary: s\n"
                    f"      attacker:\n        - {move}\n")
    (problem,) = check_scenario(path)
    assert re.match(rf"{re.escape(str(path))}:7: {re.escape(where)}: .*{message}", problem)


def test_an_azure_role_at_a_resource_group_does_not_reach_a_longer_named_one() -> None:
    from rescind.sandbox.arm_exercise import _within

    group = f"{SUB}/resourceGroups/rg1"
    assert _within(f"{group}/providers/x/y", group) and _within(group, group + "/")
    assert not _within(f"{SUB}/resourceGroups/rg10/providers/x/y", group)


async def test_a_vault_exercise_without_injects_keeps_the_revocation_across_a_crash(
        tmp_path: Path, identity: None) -> None:
    """A scenario with no injects (as both shipped Vault scenarios) saves its cloud too:
    killed after the revoke and resumed, the leaked token is still revoked."""
    import asyncio

    from rescind.engine.session import IncidentSession
    from tests.sandbox.test_injects import HeldResponder

    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("""\
name: vault-no-injects
vault:
  tokens: [{name: leaked, accessor: leakedAccessorEXAMPLE001, display_name: token-deploy}]
""")
    config = _revoke_then_hold(tmp_path, scenario)
    responder = HeldResponder()
    session = await IncidentSession.start(config, responder)
    run = asyncio.create_task(session.run())
    try:
        await asyncio.wait_for(responder.holding.wait(), 60)
    finally:  # a crash: no close, no seal
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
        session.shutdown()

    second = HeldResponder()
    second.release.set()
    resumed = await IncidentSession.resume(session.incident_dir, second)
    try:
        assert resumed.exercise is not None
        (vault,) = resumed.exercise._sandboxes()
        assert _vault(vault, "auth/token/lookup-accessor",
                      {"accessor": "leakedAccessorEXAMPLE001"}) == 400  # still revoked
        assert await asyncio.wait_for(resumed.run(), 60) == "completed"
    finally:
        resumed.shutdown()


LOOKUPS = """\
name: vault-lookups
vault:
  tokens:
    - {name: leaked, accessor: leakedAccessorEXAMPLE001}
    - {name: other, accessor: otherTeamAccessorEXAMPL1, display_name: token-billing}
  injects:
    - id: vault-child
      summary: The intruder makes a child of the billing token
      attacker: [{token: other, create_token: backup}]
"""
QUARANTINE = {"policy": 'path "*" {capabilities=["deny"]}'}


def _snapshots(path: Path) -> int:
    return sum('"op":"state"' in line for line in path.read_text().splitlines())


def test_vault_lookups_save_only_their_audit_lines_and_keep_them_across_a_crash(
        tmp_path: Path) -> None:
    """A lookup changes nothing: no snapshot, only its audit lines are appended (the file
    grew with the square of the requests when each save held the whole log), and the
    lines of lookups and refusals made after the last change survive a crash."""
    spec, path = tmp_path / "vault.yaml", tmp_path / "vault.jsonl"
    spec.write_text(LOOKUPS)
    with start_vault_sandbox(spec) as first:
        first.exercise().save_to(path, spec)
        _vault(first, "sys/policies/acl/quarantine", QUARANTINE)  # a change
        snapshots, size = _snapshots(path), path.stat().st_size
        audit_size = first.audit_path.stat().st_size
        for _ in range(150):
            assert _vault(first, "auth/token/lookup-accessor",
                          {"accessor": "leakedAccessorEXAMPLE001"})["data"]
        leaked = first.tokens["leaked"].id  # no policy: refused, and audited
        assert _vault(first, "auth/token/create", {}, token=leaked) == 403
        added = first.audit_path.stat().st_size - audit_size
        audit = first.audit_path.read_text()
    assert _snapshots(path) == snapshots
    assert path.stat().st_size - size < 1.5 * added  # the new lines, JSON-quoted once more
    with start_vault_sandbox(spec) as second:
        second.exercise().restore(path, {})
        assert second.audit_path.read_text() == audit
        assert second.state.policies["quarantine"] == {"*": ["deny"]}


def test_each_vault_salts_its_audit_hmac_and_a_resumed_one_keeps_the_salt(
        tmp_path: Path) -> None:
    """A fixed public salt would let a low-entropy value written during an exercise be
    guessed from its HMAC in the saved log; a resumed Vault must hash as before."""
    spec, path = tmp_path / "vault.yaml", tmp_path / "vault.jsonl"
    spec.write_text(LOOKUPS)
    value = {"input": "hunter2"}
    with start_vault_sandbox(spec) as first, start_vault_sandbox(spec) as other:
        first.exercise().save_to(path, spec)
        _vault(first, "sys/policies/acl/quarantine", QUARANTINE)
        hashed = _vault(first, "sys/audit-hash/file", value)["data"]["hash"]
        assert _vault(other, "sys/audit-hash/file", value)["data"]["hash"] != hashed
    with start_vault_sandbox(spec) as second:
        second.exercise().restore(path, {})
        assert _vault(second, "sys/audit-hash/file", value)["data"]["hash"] == hashed


def test_a_vault_exercise_saved_before_snapshots_plays_its_injects_again(
        tmp_path: Path) -> None:
    """Incident folders from before Vault's state was saved hold only inject lines."""
    spec, path = tmp_path / "vault.yaml", tmp_path / "vault.jsonl"
    spec.write_text(LOOKUPS)
    path.write_text('{"op": "seeded", "file": null}\n'
                    '{"op": "inject", "id": "vault-child", "at": "2026-12-02T09:00:00+00:00"}\n')
    with start_vault_sandbox(spec) as vault:
        fired = vault.exercise().restore(path, {i.id: i for i in vault.injects})
        assert [(i, at.minute) for i, at, _ in fired] == [("vault-child", 0)]
        (child,) = fired[0][2]
        made = _vault(vault, "auth/token/lookup-accessor", {"accessor": child})["data"]
        assert made["display_name"] == "token-backup"
