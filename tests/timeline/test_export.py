"""Exports: strictly valid OCSF, importable Timesketch, CSV for people, raw, and no secrets."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

from rescind.sandbox.aws import start_aws_sandbox
from rescind.timeline.cloudtrail import from_record
from rescind.timeline.event import Event
from rescind.timeline.export import CSV_HEADER, FORMATS, OCSF_VERSION, export
from rescind.timeline.merge import event_from_journal
from tests.timeline.conftest import CANARIES

SCENARIO = Path(__file__).resolve().parents[2] / "runbooks" / "scenarios" / "leaked-access-key.yaml"
CLASS_NAMES = {6003: "api_activity", 3002: "authentication", 3001: "account_change"}


@cache
def _embedded(version: str) -> OcsfJsonSchemaEmbedded:
    return OcsfJsonSchemaEmbedded(get_ocsf_schema(version))


@cache
def _validator(version: str, class_uid: int, profiles: tuple[str, ...]) -> Draft202012Validator:
    schema = _embedded(version).get_class_schema(CLASS_NAMES[class_uid], list(profiles))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _own_events() -> list[Event]:
    outcomes = [
        ("deactivate", "aws.iam.deactivate_access_key", ["AKIAIOSFODNN7EXAMPLE"], True),
        ("revoke", "aws.iam.revoke_sessions", ["deploy-bot"], True),
        ("delete-key", "aws.iam.delete_access_key", ["AKIABACKUPAD1EXAMPLE"], False),
        ("rotate", "aws.secretsmanager.rotate_secret", ["prod/db-password"], True),
        ("persistence", "aws.iam.find_persistence", [], True),
    ]
    events = []
    for i, (step, action, targets, ok) in enumerate(outcomes):
        event = event_from_journal({
            "step": step, "plan_hash": f"{i:064x}", "action": action, "targets": targets,
            "ok": ok, "outputs": {"user": "deploy-bot"}, "details": [],
            "time": datetime(2026, 11, 20, 11, i, tzinfo=UTC).isoformat()})
        assert event is not None
        events.append(event)
    return events


@pytest.fixture(scope="module")
def scenario_events() -> list[Event]:
    """The shipped scenario's whole history, as the simulated account serves it."""
    with start_aws_sandbox(SCENARIO) as sandbox:
        return [from_record(r) for region in sandbox.regions
                for r in sandbox.trail.records(region)]


@pytest.fixture
def everything(records: list[dict[str, Any]], scenario_events: list[Event]) -> list[Event]:
    return [*map(from_record, records), *scenario_events, *_own_events()]


def _deprecated_used(line: Any, schema: dict[str, Any], defs: dict[str, Any],
                     path: str = "") -> list[str]:
    """Attributes the line sets that its OCSF version marks deprecated."""
    found = []
    if not isinstance(line, dict):
        return found
    for key, value in line.items():
        prop = schema.get("properties", {}).get(key, {})
        if prop.get("deprecated"):
            found.append(path + key)
        ref = prop.get("$ref") or prop.get("items", {}).get("$ref")
        if ref:
            sub = defs[ref.rsplit("/", 1)[-1]]
            for item in value if isinstance(value, list) else [value]:
                found += _deprecated_used(item, sub, defs, f"{path}{key}.")
    return found


def test_every_ocsf_line_is_strictly_valid(tmp_path: Path, everything: list[Event]) -> None:
    out = tmp_path / "timeline.ocsf.jsonl"
    assert export(everything, out, "ocsf") == len(everything)
    classes: set[int] = set()
    for number, text in enumerate(out.read_text().splitlines(), start=1):
        line = json.loads(text)
        assert line["metadata"]["version"] == OCSF_VERSION
        profiles = tuple(line["metadata"]["profiles"])
        validator = _validator(line["metadata"]["version"], line["class_uid"], profiles)
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(line)]
        assert errors == [], f"line {number} ({line['metadata']['event_code']})"
        schema = validator.schema
        assert _deprecated_used(line, schema, schema.get("$defs", {})) == []
        assert line["type_uid"] == line["class_uid"] * 100 + line["activity_id"]
        classes.add(line["class_uid"])
    assert classes == {6003, 3002, 3001}


def test_ocsf_classes_and_fields(tmp_path: Path, records: list[dict[str, Any]]) -> None:
    out = tmp_path / "t.jsonl"
    export([*map(from_record, records), *_own_events()], out, "ocsf")
    lines = {json.loads(t)["metadata"]["uid"]: json.loads(t) for t in out.read_text().splitlines()}
    login = lines["e0000001-0000-4000-8000-000000000004"]
    assert (login["class_uid"], login["activity_id"]) == (3002, 1)
    assert login["is_mfa"] is False and login["user"]["type"] == "Admin"
    created = lines["e0000001-0000-4000-8000-000000000001"]
    assert (created["class_uid"], created["activity_id"]) == (3001, 1)
    assert created["user"]["name"] == "backup-admin"
    assert created["actor"]["user"]["credential_uid"] == "AKIAIOSFODNN7EXAMPLE"
    assert created["metadata"]["labels"] == ["relevant"]
    assert created["src_endpoint"] == {"ip": "203.0.113.50"}
    attach = lines["e0000001-0000-4000-8000-000000000011"]
    assert attach["activity_id"] == 7 and attach["policy"]["name"] == "AdministratorAccess"
    denied = lines["e0000001-0000-4000-8000-000000000009"]
    assert (denied["class_uid"], denied["status_id"], denied["status_code"]) == (
        6003, 2, "AccessDenied")
    by_service = lines["e0000001-0000-4000-8000-000000000006"]
    assert by_service["src_endpoint"]["svc_name"] == "cloudtrail.amazonaws.com"
    assert "labels" not in by_service["metadata"]
    own = next(v for k, v in lines.items() if k.startswith("rescind:deactivate"))
    assert (own["class_uid"], own["activity_id"]) == (3001, 5)  # Account Change: Disable
    assert own["metadata"]["product"]["name"] == "rescind"
    assert json.loads(created["raw_data"])["eventID"] == created["metadata"]["uid"]


def test_timesketch_lines(tmp_path: Path, everything: list[Event]) -> None:
    out = tmp_path / "timeline.jsonl"
    export(everything, out, "timesketch")
    lines = [json.loads(t) for t in out.read_text().splitlines()]
    assert len(lines) == len(everything)
    keys = set(lines[0])
    for line in lines:
        assert line["message"] and line["timestamp_desc"]
        assert line["datetime"].endswith("+00:00")
        when = datetime.fromisoformat(line["datetime"])
        assert line["timestamp"] == int(when.timestamp() * 1_000_000)
        assert set(line) == keys  # the same fields on every line, flat
        for key, value in line.items():
            assert not isinstance(value, dict | list), key
            expected_type = {"timestamp": int, "relevant": bool}.get(key, str)
            assert type(value) is expected_type, key
        assert not {"_id", "_type", "_index", "_source"} & set(line)


def test_csv(tmp_path: Path, records: list[dict[str, Any]]) -> None:
    out = tmp_path / "timeline.csv"
    events = [from_record(r) for r in records]
    assert not events[2].relevant
    events[2].relevant = True  # marks are flagged in every export, the CSV too
    export(events, out, "csv")
    with out.open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == CSV_HEADER
    assert len(rows) == len(records) + 1
    first = dict(zip(CSV_HEADER, rows[1], strict=True))
    assert first["time (UTC)"] == "2026-11-20T10:00:00Z"
    assert first["source IP"] == "203.0.113.50" and first["result"] == "success"
    assert not any(cell.startswith("=") for row in rows for cell in row)  # no formulas
    assert [row[-1] == "yes" for row in rows[1:]] == [e.relevant for e in events]


def test_raw_keeps_native_shape(tmp_path: Path, records: list[dict[str, Any]]) -> None:
    out = tmp_path / "raw.jsonl"
    export(map(from_record, records), out, "raw")
    lines = [json.loads(t) for t in out.read_text().splitlines()]
    assert [line["eventID"] for line in lines] == [r["eventID"] for r in records]
    assert lines[0] == records[0]  # untouched where nothing was secret


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_secret_in_any_export(tmp_path: Path, fmt: str, records: list[dict[str, Any]]) -> None:
    events = [from_record(r) for r in records]
    # Also an event whose raw was built elsewhere without redaction.
    leaky = events[1].model_copy(update={"uid": "leaky", "raw": {
        **records[1], "SecretAccessKey": CANARIES[0], "nested": [{"password": CANARIES[2]}]}})
    out = tmp_path / f"x.{fmt}"
    export([*events, leaky], out, fmt)
    text = out.read_text()
    for canary in CANARIES:
        assert canary not in text
    if fmt in ("raw", "jsonl", "ocsf"):
        assert "HIDDEN_DUE_TO_SECURITY_REASONS" in text


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_external_id_in_any_export(tmp_path: Path, fmt: str,
                                      records: list[dict[str, Any]]) -> None:
    """CloudTrail records external ids: AssumeRole's parameter, and trust policies as text."""
    canary = "CANARYexternalIdDoNotExport"
    trust = {"Version": "2012-10-17", "Statement": {
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": canary}}}}
    assume = {**records[1], "eventID": "assume", "eventName": "AssumeRole",
              "eventSource": "sts.amazonaws.com", "requestParameters": {
                  "roleArn": "arn:aws:iam::123456789012:role/vendor",
                  "roleSessionName": "vendor", "externalId": canary}}
    update = {**records[1], "eventID": "update", "eventName": "UpdateAssumeRolePolicy",
              "eventSource": "iam.amazonaws.com", "requestParameters": {
                  "roleName": "vendor", "policyDocument": json.dumps(trust)}}
    events = [from_record(assume), from_record(update)]
    out = tmp_path / f"x.{fmt}"
    export(events, out, fmt)
    text = out.read_text()
    assert canary not in text
    if fmt == "raw":
        lines = [json.loads(t) for t in text.splitlines()]
        policy = json.loads(lines[1]["requestParameters"]["policyDocument"])
        assert policy["Statement"]["Principal"] == trust["Statement"]["Principal"]


def test_a_path_that_cannot_be_written_is_a_usage_error(tmp_path: Path,
                                                        records: list[dict[str, Any]]) -> None:
    from rescind.errors import UsageError

    events = [from_record(r) for r in records]
    with pytest.raises(UsageError, match="is a folder"):
        export(events, tmp_path, "ocsf")
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="cannot write"):
        export(events, tmp_path / "file" / "timeline.csv", "csv")
    assert [p.name for p in tmp_path.iterdir()] == ["file"]
