"""The gcp timeline source: pull under the quota without loss, convert what responders export."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from rescind.sandbox.gcp_scenario import GcpScenario
from rescind.timeline import sources
from rescind.timeline.gcp_audit import account_change, from_entry
from rescind.timeline.gcp_pull import build_filter, pull_audit_logs
from tests.gcp.conftest import CONNECTOR, LEAKED, LEAKED_KEY, provider_for, running

NOW = datetime.now(UTC)


def _entry(n: int, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "insertId": f"id-{n}", "timestamp": "2026-11-20T10:00:00.123456789Z",
        "logName": "projects/example-project/logs/cloudaudit.googleapis.com%2Factivity",
        "resource": {"type": "service_account", "labels": {"project_id": "example-project"}},
        "protoPayload": {
            "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
            "methodName": "google.iam.admin.v1.DisableServiceAccount",
            "serviceName": "iam.googleapis.com",
            "authenticationInfo": {"principalEmail": CONNECTOR},
            "requestMetadata": {"callerIp": "203.0.113.50"},
            "resourceName": f"projects/-/serviceAccounts/{CONNECTOR}"}}
    entry.update(extra)
    return entry


async def test_pull_finds_the_principal_across_the_whole_window(tmp_path: Path) -> None:
    with running() as sandbox:
        provider = provider_for(sandbox)
        try:
            result = await pull_audit_logs(provider, projects=["example-project"],
                                           lookup=("principal", CONNECTOR),
                                           since=NOW - timedelta(days=7), until=NOW,
                                           evidence_dir=tmp_path)
        finally:
            provider.close()
    actors = {e.actor for e in result.events}
    assert actors == {CONNECTOR}  # admin@example.com's call the same hour is not in it
    # The connector's own call 30 hours ago: only there because the window was sent.
    assert any(e.source_ip == "192.0.2.10" for e in result.events)
    assert len(result.events) == 6 and result.raw_pages_paths
    assert "not-a-real-key" not in result.raw_pages_paths[0].read_text()


def test_the_window_is_always_part_of_the_filter() -> None:
    text = build_filter(("key", LEAKED_KEY), NOW - timedelta(days=30), NOW)
    assert 'timestamp>="' in text and 'timestamp<="' in text
    assert f'serviceAccountKeyName:"{LEAKED_KEY}"' in text


async def test_paged_and_rate_limited_pull_loses_and_repeats_nothing(tmp_path: Path) -> None:
    loaded = GcpScenario.load(LEAKED)
    scenario = GcpScenario.model_validate({
        **loaded.model_dump(),
        "audit_log": {**loaded.audit_log.model_dump(),
                      "generate": {"count": 3500, "span": "-6d"}}})
    with running(scenario) as sandbox:
        # The quota is spent by someone else: pages are refused, then retried.
        sandbox.state.fail_next("logging.logEntries.list", *["RESOURCE_EXHAUSTED"] * 3)
        provider = provider_for(sandbox, log_requests_per_minute=600)
        try:
            # The fake dates its history from when it started, after NOW was taken:
            # pull up to now, so its newest entries fall inside the window.
            until = datetime.now(UTC)
            result = await pull_audit_logs(provider, projects=["example-project"],
                                           lookup=("principal", CONNECTOR),
                                           since=until - timedelta(days=7), until=until)
        finally:
            provider.close()
        expected = {e["insertId"] for e in sandbox.state.log
                    if e["protoPayload"]["authenticationInfo"]["principalEmail"] == CONNECTOR}
        sent = sandbox.operations().count("logging.logEntries.list")
    assert result.pages == 4 and result.throttled == 3 and sent == 7
    assert {e.uid for e in result.events} == expected and len(result.events) == len(expected)
    times = [e.time for e in result.events]
    assert times == sorted(times)


def test_the_fake_refuses_past_its_quota_per_project() -> None:
    from rescind.sandbox.gcp_state import RateWindow

    window = RateWindow(limit=2, window_s=60.0)
    assert [window.admit("p", t) for t in (0.0, 1.0, 2.0)] == [True, True, False]
    assert window.admit("other", 2.0) and window.admit("p", 60.5)


def test_convert_reads_gcloud_arrays_sink_lines_and_bigquery_rows(tmp_path: Path) -> None:
    gcloud = tmp_path / "gcloud.json"
    gcloud.write_text(json.dumps([_entry(1), _entry(2, insertId=None),
                                  {"insertId": "app", "jsonPayload": {"msg": "hi"},
                                   "timestamp": "2026-11-20T10:00:00Z"}]))
    sink = tmp_path / "sink.json.gz"
    no_time = _entry(3)
    del no_time["timestamp"]
    no_time["receiveTimestamp"] = "2026-11-20T10:00:05Z"
    bad = _entry(4)
    del bad["timestamp"]
    del bad["logName"]
    lines = [json.dumps(_entry(5, protoPayload={**_entry(5)["protoPayload"],
                                                "status": {"code": 7, "message": "refusé ✗"}})),
             json.dumps(no_time), "{not json", json.dumps(bad),
             json.dumps({"textPayload": "GET /", "insertId": "t"})]
    sink.write_bytes(gzip.compress("\n".join(lines).encode()))
    bigquery = tmp_path / "bq.json"
    bigquery.write_text(json.dumps({
        "insert_id": "bq-1", "timestamp": "2026-11-20 10:00:00 UTC".replace(" UTC", "+00:00"),
        "log_name": "projects/example-project/logs/cloudaudit.googleapis.com%2Factivity",
        "protopayload_auditlog": {"method_name": "SetIamPolicy",
                                  "service_name": "cloudresourcemanager.googleapis.com",
                                  "authentication_info": {"principal_email": CONNECTOR}}}) + "\n")
    result = sources.require("gcp").convert([gcloud, sink, bigquery])
    assert result.files == 3 and result.records == 9
    assert len(result.events) == 5
    skipped = {(Path(m.file).name, m.position): m.reason for m in result.malformed}
    assert skipped[("gcloud.json", "[2]")].startswith("not an audit log entry (jsonPayload)")
    assert skipped[("sink.json.gz", "line 3")].startswith("not JSON")
    assert "neither timestamp" in skipped[("sink.json.gz", "line 4")]
    assert "textPayload" in skipped[("sink.json.gz", "line 5")]
    by_uid = {e.uid: e for e in result.events}
    assert by_uid["id-5"].result == "failure" and "refusé" in (by_uid["id-5"].error or "")
    assert "[time: receiveTimestamp]" in by_uid["id-3"].description
    synthesised = [u for u in by_uid if u.startswith("gcp-")]
    assert len(synthesised) == 1  # the entry without insertId got a stable id
    assert by_uid["bq-1"].action == "SetIamPolicy"


def test_convert_picks_the_gcp_source_by_itself(tmp_path: Path, capsys) -> None:
    from rescind.cli import main

    path = tmp_path / "gcloud.json"
    path.write_text(json.dumps([_entry(1), _entry(2)]))
    out = tmp_path / "out.csv"
    assert main(["timeline", "convert", str(path), "--out", str(out)]) == 0
    assert "2 events" in capsys.readouterr().err
    assert "DisableServiceAccount" in out.read_text()


@pytest.mark.parametrize(("method", "deltas", "expected"), [
    ("google.iam.admin.v1.DisableServiceAccount", [], (5, "Disable")),
    ("SetIamPolicy", [{"action": "REMOVE", "role": "roles/owner", "member": "user:a"}],
     (8, "Detach Policy")),
    ("SetIamPolicy", [{"action": "ADD", "role": "roles/owner", "member": "user:a"}],
     (7, "Attach Policy")),
    ("google.iam.admin.v1.GetServiceAccount", [], None),
])
def test_account_changes_map_to_ocsf_account_change(method: str, deltas: list[Any],
                                                    expected: Any) -> None:
    from rescind.timeline.export import to_ocsf
    from tests.timeline.test_export import _validator

    payload = {**_entry(1)["protoPayload"], "methodName": method}
    if deltas:
        payload["serviceData"] = {"policyDelta": {"bindingDeltas": deltas}}
    event = from_entry(_entry(1, protoPayload=payload))
    assert account_change(event) == expected
    ocsf = to_ocsf(event)
    validator = _validator(ocsf["metadata"]["version"], ocsf["class_uid"],
                           tuple(ocsf["metadata"]["profiles"]))
    assert list(validator.iter_errors(ocsf)) == []
    if expected:
        assert (ocsf["class_uid"], ocsf["activity_id"]) == (3001, expected[0])
        assert ocsf["cloud"]["provider"] == "GCP" and ocsf["user"]["name"]
    else:
        assert ocsf["class_uid"] == 6003


def test_a_gzip_bomb_in_a_sink_file_is_stopped_and_what_came_first_is_kept(
        tmp_path: Path) -> None:
    from rescind.timeline.limits import Limits

    text = "\n".join(json.dumps(_entry(n)) for n in (1, 2)) + "\n" + " " * (20 * 2**20) + "\n"
    bomb = tmp_path / "sink.json.gz"
    bomb.write_bytes(gzip.compress(text.encode(), compresslevel=9))
    source = sources.require("gcp")
    stopped = source.convert([bomb], Limits(max_expanded=2**20))
    assert [(m.position, m.reason.split(";")[0]) for m in stopped.malformed] == [
        ("file", "gzip expands to more than 1 MB")]
    assert sorted(e.uid for e in stopped.events) == ["id-1", "id-2"]
    trusted = source.convert([bomb], Limits(max_expanded=2**30, max_ratio=100_000))
    assert trusted.malformed == [] and len(trusted.events) == 2


CANARY = "CANARYgcpSignedJwtDoNotShow"


def test_gcp_secrets_are_hidden_and_its_evidence_kept_in_every_export(tmp_path: Path) -> None:
    """signJwt's answer is a bearer assertion; authorizationInfo (which permission was
    checked, and granted) and STS token type URIs are what a responder reads."""
    from rescind.timeline.export import FORMATS, export

    payload = {**_entry(1)["protoPayload"],
               "methodName": "SignJwt", "serviceName": "iamcredentials.googleapis.com",
               "authorizationInfo": [{"permission": "iam.serviceAccounts.signJwt",
                                      "granted": True}],
               "request": {"subjectTokenType": "urn:ietf:params:oauth:token-type:jwt"},
               "response": {"keyId": LEAKED_KEY, "signedJwt": CANARY}}
    event = from_entry(_entry(1, protoPayload=payload))
    for fmt in FORMATS:
        out = tmp_path / f"x.{fmt}"
        export([event], out, fmt)
        text = out.read_text()
        assert CANARY not in text, fmt
    raw = json.loads((tmp_path / "x.jsonl").read_text().splitlines()[0])
    found = json.dumps(raw)
    assert "iam.serviceAccounts.signJwt" in found and "token-type:jwt" in found
    assert LEAKED_KEY in found


def test_a_made_up_id_does_not_depend_on_a_secret() -> None:
    """An entry without insertId is named by a hash of its redacted bytes, so the id
    cannot be used to test guesses of a secret it carried."""
    def entry(secret: str) -> dict[str, Any]:
        payload = {**_entry(1)["protoPayload"], "response": {"signedJwt": secret}}
        made = _entry(1, protoPayload=payload)
        del made["insertId"]
        return made

    first, second = from_entry(entry("guess-one")), from_entry(entry("guess-two"))
    assert first.uid.startswith("gcp-") and first.uid == second.uid
