"""Hypothesis fuzzing of the timeline normalisers: any JSON-shaped record gives an
Event or MalformedRecord, and any file gives events plus counted, positioned skips;
nothing else, whatever the shape, depth, numbers or bytes."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rescind.timeline.cloudtrail import MalformedRecord, from_lookup_event, from_record
from rescind.timeline.convert import convert_files
from rescind.timeline.event import Event
from rescind.timeline.export import export
from rescind.timeline.merge import merge_counted

# 80 examples keep the suite in its 15-minute budget; each run draws new ones.
FUZZ = settings(max_examples=80, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
FILES = settings(FUZZ, max_examples=25)  # each example writes files and five exports

FIELDS = ["eventID", "eventName", "eventTime", "@timestamp", "timestamp", "EventTime",
          "eventSource", "userIdentity", "sourceIPAddress", "userAgent", "errorCode",
          "errorMessage", "requestParameters", "responseElements", "resources", "readOnly",
          "awsRegion", "recipientAccountId", "additionalEventData", "type", "arn",
          "accessKeyId", "userName", "invokedBy", "accountId", "principalId", "onBehalfOf",
          "CloudTrailEvent", "EventId", "EventName", "Username", "AccessKeyId", "Resources",
          "ResourceName", "ResourceType", "ConsoleLogin", "MFAUsed", "accessKey", "ARN"]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30),
    st.sampled_from(["2026-11-20T10:00:00Z", "2026-11-20T10:00:00", "1e400", "-1",
                     "99999999999999999999", "AWSService", "AWSAccount", "IdentityCenterUser",
                     "IAMUser", "AssumedRole", "ConsoleLogin", "Failure", "Yes", "true",
                     "AKIAIOSFODNN7EXAMPLE", "203.0.113.7", "iam.amazonaws.com"]),
    st.integers(min_value=10**18, max_value=10**30), st.just(1e308))
keys = st.one_of(st.sampled_from(FIELDS), st.text(max_size=10))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=6)), max_leaves=30)
records = st.dictionaries(keys, values, max_size=12)


def _ok(make: Any, record: Any) -> Event | None:
    try:
        event = make(record)
    except MalformedRecord:
        return None
    assert isinstance(event, Event)
    return event


@pytest.mark.slow
@FUZZ
@given(records)
def test_from_record(record: dict[str, Any]) -> None:
    _ok(from_record, record)


@pytest.mark.slow
@FUZZ
@given(records, records)
def test_from_lookup_event(entry: dict[str, Any], inner: dict[str, Any]) -> None:
    _ok(from_lookup_event, entry)
    _ok(from_lookup_event, entry | {"CloudTrailEvent": json.dumps(inner, default=str)})


@FILES
@given(st.lists(st.one_of(records, values), max_size=6), st.booleans(), st.booleans())
def test_convert_files_counts_everything(tmp_path_factory: Any, items: list[Any],
                                         as_lines: bool, zipped: bool) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    text = ("".join(json.dumps(i) + "\n" for i in items) if as_lines
            else json.dumps({"Records": items}))
    path = folder / "in.json"
    data = text.encode()
    path.write_bytes(gzip.compress(data) if zipped else data)
    result = convert_files([path])
    assert len(result.events) + len(result.malformed) == result.records
    assert all(m.position and m.reason for m in result.malformed)
    merged = merge_counted([result.events])
    for fmt in ("ocsf", "timesketch", "csv", "raw", "jsonl"):
        export(merged.events, folder / f"out.{fmt}", fmt)


@FILES
@given(st.binary(max_size=300))
def test_convert_files_takes_any_bytes(tmp_path_factory: Any, data: bytes) -> None:
    path: Path = tmp_path_factory.mktemp("bytes") / "in.json"
    for content in (data, b"\x1f\x8b" + data, gzip.compress(data)[: max(2, len(data))]):
        path.write_bytes(content)
        result = convert_files([path])
        assert len(result.events) + len(result.malformed) == result.records
