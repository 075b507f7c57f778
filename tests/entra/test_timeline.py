"""Entra/Azure timelines: pulled from the fakes within the limits, converted from real exports."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rescind.cli import main
from rescind.providers.entra import EntraProvider
from rescind.sandbox.graph import running_graph_fake
from rescind.sandbox.graph_scenario import Scenario
from rescind.timeline.entra_records import convert_files
from rescind.timeline.entra_source import EntraSource
from rescind.timeline.export import OCSF_VERSION, export
from rescind.timeline.incident import load_events
from rescind.timeline.limits import Limits
from tests.timeline.test_export import _validator


async def test_pull_follows_next_links_through_429s_without_loss_or_duplicates(
        tmp_path: Path) -> None:
    scenario = Scenario.model_validate({"entra": {
        "users": [{"id": "b0000000-0000-4000-8000-000000000001", "upn": "adele@example.com"}],
        "filler_sign_ins": 25}})
    # 3 requests a second: the pull of 11 pages meets the fake's 429s.
    with running_graph_fake(scenario, audit_limit=(3, 1.0)) as fake:
        fake.page_size_cap = 3
        table = fake.provider_settings()
        provider = EntraProvider(graph_url=table["graph_url"], token=table["token"])
        source = EntraSource()
        import rescind.timeline.entra_source as module

        module.GRAPH_RATE = (5, 1.0)  # client side a little above the server: forces 429s
        try:
            state = await source.resolve(provider, source.lookup_model(user="adele@example.com"),
                                         None)
            now = datetime.now(UTC)
            result = await source.pull(provider, state, regions=["global"], account=None,
                                       since=now - timedelta(days=7), until=now, progress=None,
                                       evidence_dir=tmp_path)
        finally:
            module.GRAPH_RATE = (5, 10.0)
        uids = [e.uid for e in result.events]
        assert len(uids) == len(set(uids)) == 25
        assert {s["id"] for s in fake.sign_ins} == set(uids)
        assert result.pages >= 9
        assert fake.throttled > 0  # the fake did answer 429s
        # Evidence read back by convert gives the same events.
        again = convert_files(result.raw_pages_paths)
        assert {e.uid for e in again.events} == set(uids)
        assert again.malformed == []


def test_convert_reads_messy_exports_and_counts_what_it_skips(tmp_path: Path) -> None:
    initiator = json.dumps(json.dumps({"user": {"id": "00000000-0000-0000-0000-000000000000",
                                                "userPrincipalName": "mallory@example.com"}}))
    la = tmp_path / "AuditLogs.json"
    la.write_text(json.dumps([
        {"TimeGenerated": "2024-05-01T10:00:00", "OperationName": "Añadir método",
         "Category": "UserManagement", "Result": "success", "Id": "a1",
         "InitiatedBy": initiator, "TargetResources": "[]"},
        {"TimeGenerated": "2024-05-01T10:05:00Z", "Category": None, "Result": "failure",
         "ActivityDisplayName": "Update user", "InitiatedBy": None}]))
    hub = tmp_path / "eventhub.json"
    hub.write_text(json.dumps({"records": [
        {"time": "2024-05-01T11:00:00Z", "category": "SignInLogs",
         "properties": {"id": "s1", "createdDateTime": "2024-05-01T11:00:00Z",
                        "userPrincipalName": "adele@example.com", "ipAddress": "203.0.113.5",
                        "status": {"errorCode": 50074}}},
        {"time": "2024-05-01T11:01:00Z", "category": "SignInLogs", "properties": {}}]}))
    list_keys = {"value": "Microsoft.Storage/storageAccounts/listKeys/action"}
    sdk = tmp_path / "activity.jsonl"
    sdk.write_text("\n".join([
        json.dumps({"event_timestamp": "2024-05-01T12:00:00+00:00", "correlation_id": "c1",
                    "event_data_id": "e1", "caller": "x", "status": {"value": "Started"},
                    "operation_name": list_keys}),
        json.dumps({"event_timestamp": "2024-05-01T12:00:02+00:00", "correlation_id": "c1",
                    "event_data_id": "e2", "caller": "x", "status": {"value": "Succeeded"},
                    "operation_name": list_keys}),
        "{not json"]))
    csv = tmp_path / "SignIns.csv"
    csv.write_text("Date (UTC),Request ID,Username,Application,IP address,Sign-in error code\n"
                   "2024-05-01T09:00:00Z,r1,adele@example.com,OfficeHome,192.0.2.1,0\n")
    result = convert_files([la, hub, sdk, csv])
    by_uid = {e.uid: e for e in result.events}
    assert by_uid["a1"].actor == "mallory@example.com"  # all-zero id ignored, UPN kept
    assert by_uid["a1"].time.tzinfo is not None and by_uid["a1"].action == "Añadir método"
    assert by_uid["s1"].result == "failure" and by_uid["s1"].source_ip == "203.0.113.5"
    assert by_uid["e2"].result == "success" and "started" in by_uid["e2"].description
    assert "e1" not in by_uid  # folded into its outcome by correlationId
    assert by_uid["r1"].source == "graph.signin"
    positions = {(Path(m.file).name, m.position) for m in result.malformed}
    assert ("eventhub.json", "records[1]") in positions
    assert ("activity.jsonl", "line 3") in positions
    assert result.records == len(result.events) + len(result.malformed) + 1  # + e1 folded


def test_converted_records_hide_secrets_and_keep_what_a_responder_traces(
        tmp_path: Path) -> None:
    key_id = "c0ffee00-0000-4000-8000-000000000001"
    export = tmp_path / "mixed.jsonl"
    export.write_text("\n".join(json.dumps(r) for r in [
        {"id": "s1", "createdDateTime": "2024-05-01T11:00:00Z",
         "servicePrincipalId": "d0000000-0000-4000-8000-000000000001",
         "servicePrincipalName": "connector", "servicePrincipalCredentialKeyId": key_id,
         "clientCredentialType": "clientSecret", "uniqueTokenIdentifier": "uti-1",
         "status": {"errorCode": 0}, "clientSecret": "s3cr3t-example-value"},
        {"eventDataId": "e1", "eventTimestamp": "2024-05-01T12:00:00Z", "caller": "x",
         "operationName": "Microsoft.Authorization/roleAssignments/write",
         "status": "Succeeded",
         "authorization": {"action": "Microsoft.Authorization/roleAssignments/write",
                           "scope": "/subscriptions/00000000-0000-4000-8000-000000000000"},
         "httpRequest": {"clientRequestId": "r1"}},
        {"id": "a1", "activityDateTime": "2024-05-01T10:00:00Z",
         "activityDisplayName": "Reset user password", "result": "success",
         "initiatedBy": {"user": {"userPrincipalName": "mallory@example.com"}},
         "passwordProfile": {"password": "Temp-example-1"}}]))
    result = convert_files([export])
    assert result.malformed == []
    text = json.dumps([e.raw for e in result.events])
    assert "s3cr3t-example-value" not in text and "Temp-example-1" not in text
    by_uid = {e.uid: e.raw or {} for e in result.events}
    assert by_uid["s1"]["servicePrincipalCredentialKeyId"] == key_id
    assert by_uid["s1"]["clientCredentialType"] == "clientSecret"
    assert by_uid["s1"]["uniqueTokenIdentifier"] == "uti-1"
    assert by_uid["e1"]["authorization"]["action"] == \
        "Microsoft.Authorization/roleAssignments/write"


def test_convert_stops_a_gzip_bomb_at_the_limits_and_keeps_what_came_first(
        tmp_path: Path) -> None:
    records = [{"id": f"s{i}", "createdDateTime": "2024-05-01T11:00:00Z",
                "userPrincipalName": "adele@example.com", "status": {"errorCode": 0}}
               for i in range(2)]
    text = "\n".join(json.dumps(r) for r in records) + "\n" + " " * (8 * 2**20) + "\n"
    bomb = tmp_path / "signins.json.gz"
    bomb.write_bytes(gzip.compress(text.encode(), compresslevel=9))
    result = convert_files([bomb], Limits(max_expanded=2**20))
    assert [e.uid for e in result.events] == ["s0", "s1"]
    assert [(m.position, m.reason.split(";")[0]) for m in result.malformed] == [
        ("file", "gzip expands to more than 1 MB")]
    trusted = EntraSource().convert([bomb], Limits(max_expanded=2**30, max_ratio=100_000))
    assert trusted.malformed == [] and len(trusted.events) == 2


def test_sign_ins_export_as_valid_ocsf_authentication(tmp_path: Path) -> None:
    key_id = "c0ffee00-0000-4000-8000-000000000002"
    signins = tmp_path / "signins.json"
    signins.write_text(json.dumps({"value": [
        {"id": "s1", "createdDateTime": "2024-05-01T11:00:00Z", "userId": "u-1",
         "userPrincipalName": "adele@example.com", "appDisplayName": "OfficeHome",
         "appId": "4765445b-32c6-49b0-83e6-1d93765276ca", "ipAddress": "203.0.113.5",
         "authenticationRequirement": "multiFactorAuthentication",
         "location": {"city": "Lisbon", "countryOrRegion": "PT", "state": "Lisboa"},
         "tenantId": "t-1", "status": {"errorCode": 0}},
        {"id": "s2", "createdDateTime": "2024-05-01T11:05:00Z", "userId": "u-1",
         "userPrincipalName": "adele@example.com", "ipAddress": "198.51.100.7",
         "authenticationRequirement": "singleFactorAuthentication",
         "status": {"errorCode": 50126, "failureReason": "Invalid username or password"}},
        {"id": "s3", "createdDateTime": "2024-05-01T11:10:00Z",
         "servicePrincipalId": "d0000000-0000-4000-8000-000000000001",
         "servicePrincipalName": "connector", "servicePrincipalCredentialKeyId": key_id,
         "ipAddress": "192.0.2.10", "status": {"errorCode": 0},
         "signInEventTypes": ["servicePrincipal"]},
        {"id": "a1", "activityDateTime": "2024-05-01T10:00:00Z",
         "activityDisplayName": "Add service principal credentials", "result": "success",
         "initiatedBy": {"user": {"userPrincipalName": "mallory@example.com"}}}]}))
    out = tmp_path / "t.ocsf.jsonl"
    assert export(convert_files([signins]).events, out, "ocsf") == 4
    lines = {}
    for text in out.read_text().splitlines():
        line = json.loads(text)
        validator = _validator(OCSF_VERSION, line["class_uid"],
                               tuple(line["metadata"]["profiles"]))
        assert [e.message for e in validator.iter_errors(line)] == []
        lines[line["metadata"]["uid"]] = line
    assert {uid: (line["class_uid"], line["activity_id"]) for uid, line in lines.items()} == {
        "s1": (3002, 1), "s2": (3002, 1), "s3": (3002, 1), "a1": (6003, 1)}
    mfa, failed, sp = lines["s1"], lines["s2"], lines["s3"]
    assert mfa["is_mfa"] is True and mfa["user"]["name"] == "adele@example.com"
    assert mfa["service"]["name"] == "OfficeHome"
    assert mfa["src_endpoint"] == {"ip": "203.0.113.5", "location": {
        "city": "Lisbon", "country": "PT", "region": "Lisboa"}}
    assert failed["is_mfa"] is False and failed["status_id"] == 2
    assert failed["status_detail"] == "Invalid username or password"
    assert sp["user"]["credential_uid"] == key_id and sp["user"]["type"] == "Service Principal"


def test_the_convert_command_reads_an_entra_export_into_an_incident(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    incident = tmp_path / "IR-1"
    incident.mkdir()
    (incident / "journal.jsonl").write_text("")
    export_file = tmp_path / "SignIns.jsonl"
    export_file.write_text("\n".join([
        json.dumps({"id": "s1", "createdDateTime": "2024-05-01T11:00:00Z",
                    "userPrincipalName": "adele@example.com", "ipAddress": "203.0.113.5",
                    "status": {"errorCode": 0}, "clientSecret": "s3cr3t-example-value"}),
        "{not json",
        json.dumps({"id": "s2", "createdDateTime": "2024-05-01T11:05:00Z",
                    "userPrincipalName": "adele@example.com", "ipAddress": "198.51.100.7",
                    "status": {"errorCode": 50126}})]))
    out = tmp_path / "t.ocsf.jsonl"
    assert main(["timeline", "convert", str(export_file), "--source", "entra", "--format",
                 "ocsf", "--out", str(out), "--incident", str(incident)]) == 0
    err = capsys.readouterr().err
    assert "2 events, 1 unreadable" in err and "line 2" in err
    lines = [json.loads(t) for t in out.read_text().splitlines()]
    assert [(line["metadata"]["uid"], line["class_uid"], line["status_id"]) for line in lines] \
        == [("s1", 3002, 1), ("s2", 3002, 2)]
    assert [e.uid for e in load_events(incident / "timeline.jsonl")] == ["s1", "s2"]
    evidence = incident / "evidence" / "entra-SignIns.jsonl.jsonl"
    written = out.read_text() + evidence.read_text() + \
        (incident / "timeline.jsonl").read_text()
    assert "s3cr3t-example-value" not in written and "adele@example.com" in written
    # Converting again adds nothing; an unknown source is one clear message.
    assert main(["timeline", "convert", str(export_file), "--source", "entra",
                 "--incident", str(incident)]) == 0
    assert "0 new events" in capsys.readouterr().err
    assert main(["timeline", "convert", str(export_file), "--source", "entr",
                 "--out", str(out)]) == 2
    assert "no timeline source 'entr'" in capsys.readouterr().err


async def test_the_rate_window_counts_a_request_from_its_answer(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Graph counts a request when it arrives, after it was sent: measured from the send,
    the next window's first request met a 429 (and lost a second or more) at every edge."""
    from types import SimpleNamespace

    import rescind.timeline.entra_source as module

    clock = [100.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    limiter = module.SlidingLimiter(1, 10.0)
    monkeypatch.setattr(module, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    monkeypatch.setattr(module, "asyncio", SimpleNamespace(sleep=sleep))
    await limiter.wait()  # sent at 100 s
    clock[0] = 103.0  # answered at 103 s: Graph counted it in between
    limiter.settle()
    clock[0] = 110.5  # ten seconds after the send, not after the answer
    await limiter.wait()
    assert slept == [pytest.approx(2.5)]


def test_a_window_ending_inside_a_second_keeps_that_second() -> None:
    # Graph and the Activity Log filter by whole seconds: an end cut down to its second
    # would leave out the events of the last part-second before a pull.
    from rescind.timeline.entra_source import _iso

    end = datetime(2026, 11, 20, 10, 0, 0, 500_000, tzinfo=UTC)
    assert _iso(end, up=True) == "2026-11-20T10:00:01Z"
    assert _iso(end) == "2026-11-20T10:00:00Z"  # a start may round down: ge keeps it
    assert _iso(end.replace(microsecond=0), up=True) == "2026-11-20T10:00:00Z"
