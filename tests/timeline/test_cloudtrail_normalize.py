"""Every CloudTrail identity type, failures and odd records normalize to Event."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rescind.timeline.cloudtrail import MalformedRecord, from_lookup_event, from_record


def _by_type(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["userIdentity"]["type"]: r for r in records}


@pytest.mark.parametrize(("kind", "actor", "credential"), [
    ("IAMUser", "arn:aws:iam::123456789012:user/deploy-bot", "AKIAIOSFODNN7EXAMPLE"),
    ("AssumedRole", "arn:aws:sts::123456789012:assumed-role/vendor-audit/vendor-session",
     "ASIAIOSFODNN7EXAMPLE"),
    ("Root", "arn:aws:iam::123456789012:root", None),
    ("FederatedUser", "arn:aws:sts::123456789012:federated-user/Bob", "ASIAI44QH8DHBEXAMPLE"),
    ("AWSService", "cloudtrail.amazonaws.com", None),
    ("AWSAccount", "111122223333:AIDAQRSTUVWXYZEXAMPLE", None),
    ("IdentityCenterUser", "544894e8-80c1-707f-60e3-3ba6510dfac1", None),
    ("Unknown", "backup-admin", None),
])
def test_every_identity_type(records: list[dict[str, Any]], kind: str, actor: str,
                             credential: str | None) -> None:
    record = _by_type(records)[kind]
    event = from_record(record)
    assert event.actor_type == kind
    assert event.actor == actor
    assert event.credential == credential
    assert event.uid == record["eventID"]
    assert event.time.isoformat().replace("+00:00", "Z") == record["eventTime"]
    assert event.cloud == "aws" and event.source == "cloudtrail"
    assert event.region == record["awsRegion"]
    assert event.account == "123456789012"


def test_failures_and_targets(records: list[dict[str, Any]]) -> None:
    events = {e.uid: e for e in map(from_record, records)}
    denied = events["e0000001-0000-4000-8000-000000000009"]
    assert denied.result == "failure" and denied.error == "AccessDenied"
    assert denied.target == "management-events"
    assert "AccessDenied" in denied.description and denied.relevant
    failed_login = events["e0000001-0000-4000-8000-000000000010"]
    assert failed_login.result == "failure"
    assert events["e0000001-0000-4000-8000-000000000001"].result == "success"
    key = events["e0000001-0000-4000-8000-000000000002"]
    assert key.target == "backup-admin, AKIABACKUPAD1EXAMPLE"  # the user and the new key
    attach = events["e0000001-0000-4000-8000-000000000011"]
    assert attach.target == "backup-admin, arn:aws:iam::aws:policy/AdministratorAccess"
    assume = events["e0000001-0000-4000-8000-000000000007"]
    assert assume.target == "arn:aws:iam::123456789012:role/vendor-audit"
    service = events["e0000001-0000-4000-8000-000000000006"]
    assert service.source_ip == "cloudtrail.amazonaws.com"  # a service name, not an IP
    assert not service.relevant  # a routine read by AWS itself
    assert events["e0000001-0000-4000-8000-000000000008"].source_ip == "2001:db8::1"


def test_secrets_never_kept_in_raw(records: list[dict[str, Any]]) -> None:
    from tests.timeline.conftest import CANARIES

    for record in records:
        text = json.dumps(from_record(record).model_dump(mode="json"))
        assert not any(c in text for c in CANARIES)


def test_missing_and_unknown_fields_tolerated() -> None:
    event = from_record({"eventID": "x-1", "eventName": "DoSomethingNew",
                         "eventTime": "2026-11-20T10:00:00Z", "newTopLevelField": {"a": 1},
                         "userIdentity": {"type": "SomeFutureType", "weird": True}})
    assert event.actor_type == "SomeFutureType" and event.actor == "unknown"
    assert event.result == "success" and event.service == "" and event.source_ip == ""


@pytest.mark.parametrize(("record", "reason"), [
    ({"eventName": "X"}, "no event time"),
    ({"eventID": "a", "eventName": "X", "eventTime": 1e400}, "out of range"),
    ({"eventID": "a", "eventName": "X", "eventTime": 99999999999999999999}, "out of range"),
    ({"eventID": "a", "eventName": "X", "eventTime": "99999999999999999999"}, "out of range"),
    ({"eventID": "a", "eventName": "X", "eventTime": float("nan")}, "out of range"),
    ({"eventID": "a", "eventTime": "2026-11-20T10:00:00Z"}, "no eventName"),
    ({"eventID": "a", "eventName": "X"}, "no event time"),
    ({"eventID": "a", "eventName": "X", "eventTime": "yesterday"}, "unreadable time"),
])
def test_malformed_records_are_rejected(record: dict[str, Any], reason: str) -> None:
    with pytest.raises(MalformedRecord, match=reason):
        from_record(record)


def test_lookup_event_entry(records: list[dict[str, Any]]) -> None:
    record = records[0]
    entry = {"EventId": record["eventID"], "EventName": record["eventName"],
             "EventTime": 1795428000.0, "CloudTrailEvent": json.dumps(record)}
    assert from_lookup_event(entry).uid == record["eventID"]
    # Without the full record, what LookupEvents itself says is used.
    bare = from_lookup_event({"EventId": "b-1", "EventName": "ListUsers", "EventTime": 0,
                              "EventSource": "iam.amazonaws.com", "Username": "deploy-bot",
                              "AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "ReadOnly": "true"})
    assert bare.actor == "deploy-bot" and bare.credential == "AKIAIOSFODNN7EXAMPLE"
    assert bare.time.year == 1970
    with pytest.raises(MalformedRecord):
        from_lookup_event({"EventId": "c", "CloudTrailEvent": "{not json"})
