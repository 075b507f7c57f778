"""Reading files a responder already has, and merging sources into one timeline."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rescind.timeline.cloudtrail import from_record
from rescind.timeline.convert import convert_files
from rescind.timeline.merge import event_from_journal, merge


def _lookup_entry(record: dict[str, Any]) -> dict[str, Any]:
    when = datetime.fromisoformat(record["eventTime"].replace("Z", "+00:00"))
    return {"EventId": record["eventID"], "EventName": record["eventName"],
            "EventTime": when.timestamp(), "EventSource": record["eventSource"],
            "CloudTrailEvent": json.dumps(record)}


def test_every_shape(tmp_path: Path, records: list[dict[str, Any]]) -> None:
    s3 = tmp_path / "123456789012_CloudTrail_us-east-1_20261120T1000Z_x.json.gz"
    s3.write_bytes(gzip.compress(json.dumps({"Records": records[:4]}).encode()))
    plain = tmp_path / "delivery.json"
    plain.write_text(json.dumps({"Records": records[4:6]}))
    # `aws cloudtrail lookup-events` output (CLI v2 prints EventTime as ISO text).
    cli = tmp_path / "lookup.json"
    cli_entries = [_lookup_entry(r) | {"EventTime": r["eventTime"].replace("Z", "+00:00")}
                   for r in records[6:8]]
    cli.write_text(json.dumps({"Events": cli_entries}, indent=4))
    pages = tmp_path / "pages.jsonl"
    pages.write_text(json.dumps({"Events": [_lookup_entry(records[8])], "NextToken": "t"}) + "\n"
                     + json.dumps({"Events": [_lookup_entry(records[9])]}) + "\n")
    lines = tmp_path / "records.jsonl"
    lines.write_text("\n".join(json.dumps(r) for r in records[10:]) + "\n")
    result = convert_files([s3, plain, cli, pages, lines])
    assert result.files == 5 and result.malformed == []
    assert sorted(e.uid for e in result.events) == sorted(r["eventID"] for r in records)


def test_malformed_counted_with_position(tmp_path: Path, records: list[dict[str, Any]]) -> None:
    s3 = tmp_path / "s3.json"
    s3.write_text(json.dumps({"Records": [records[0], {"eventName": "NoId"}, "text",
                                          records[1]]}))
    lines = tmp_path / "mixed.jsonl"
    lines.write_text(json.dumps(records[2]) + "\n{broken\n\n"
                     + json.dumps({"Events": [{"EventId": "z", "CloudTrailEvent": "{bad"}]})
                     + "\n" + json.dumps({"hello": "world"}) + "\n")
    result = convert_files([s3, lines])
    assert len(result.events) == 3
    where = [(Path(m.file).name, m.position) for m in result.malformed]
    assert where == [("s3.json", "Records[1]"), ("s3.json", "Records[2]"),
                     ("mixed.jsonl", "line 2"), ("mixed.jsonl", "line 4 Events[0]"),
                     ("mixed.jsonl", "line 5")]
    assert result.records == 8
    assert "no event time" in str(result.malformed[0])


def test_merge_dedupes_and_sorts(records: list[dict[str, Any]]) -> None:
    events = [from_record(r) for r in records]
    bare = events[3].model_copy(update={"raw": None, "relevant": True})
    merged = merge([reversed(events), [bare, events[0]]])
    assert [e.uid for e in merged] == sorted((e.uid for e in events),
                                             key=lambda u: next(e.time for e in events
                                                                if e.uid == u))
    kept = next(e for e in merged if e.uid == events[3].uid)
    assert kept.raw is not None and kept.relevant  # the full copy, with the flag kept


def test_rescind_actions_join_the_timeline(records: list[dict[str, Any]]) -> None:
    outcome = {"step": "deactivate", "plan_hash": "ab" * 32,
               "action": "aws.iam.deactivate_access_key", "targets": ["AKIAIOSFODNN7EXAMPLE"],
               "ok": True, "outputs": {"user": "deploy-bot"}, "details": ["now Inactive"],
               "undo": {"status": "Active"}, "time": "2026-11-20T10:30:00Z"}
    own = event_from_journal(outcome)
    assert own is not None
    assert own.source == "rescind" and own.cloud == "aws" and own.result == "success"
    assert own.target == "AKIAIOSFODNN7EXAMPLE" and own.relevant
    assert own.time == datetime(2026, 11, 20, 10, 30, tzinfo=UTC)
    assert "now Inactive" in own.description
    failed = event_from_journal(outcome | {"ok": False, "error": "AccessDenied",
                                           "step": "delete", "action": "gcp.iam.disable_key"})
    assert failed is not None and failed.result == "failure" and failed.cloud == "gcp"
    read = event_from_journal(outcome | {"action": "aws.iam.find_persistence", "step": "p"})
    assert read is not None and not read.relevant
    assert event_from_journal({"step": "x"}) is None  # not an outcome we can place in time
    timeline = merge([[from_record(r) for r in records], [own]])
    assert timeline[-1].source == "rescind"
