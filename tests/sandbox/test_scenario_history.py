"""The shipped scenario's CloudTrail history, as LookupEvents serves it."""

from __future__ import annotations

import json

from rescind.sandbox.aws import AwsSandbox

KEY = "AKIAIOSFODNN7EXAMPLE"


def test_shipped_scenario_history(leaked: AwsSandbox) -> None:
    ct = leaked.client("cloudtrail")
    events = ct.lookup_events(LookupAttributes=[
        {"AttributeKey": "AccessKeyId", "AttributeValue": KEY}])["Events"]
    names = [e["EventName"] for e in reversed(events)]
    assert names[:2] == ["GetSecretValue", "GetCallerIdentity"]  # CI use, then the attacker
    for expected in ("CreateUser", "CreateAccessKey", "PutUserPolicy", "AttachUserPolicy",
                     "CreateLoginProfile", "DeleteTrail"):
        assert expected in names
    denied = next(json.loads(e["CloudTrailEvent"]) for e in events
                  if e["EventName"] == "DeleteTrail")
    assert denied["errorCode"] == "AccessDenied"
    assert denied["sourceIPAddress"] == "203.0.113.50"
    created = next(json.loads(e["CloudTrailEvent"]) for e in events
                   if e["EventName"] == "CreateUser")
    # responseElements came from moto's real answer, with moto's id for the new user.
    moto_id = leaked.client("iam").get_user(UserName="backup-admin")["User"]["UserId"]
    assert created["responseElements"]["user"]["userId"] == moto_id
    leaked.trail.reset_counters()
    login = ct.lookup_events(LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": "ConsoleLogin"}])["Events"]
    assert [e["Username"] for e in login] == ["backup-admin"]
    assert "AccessKeyId" not in login[0]
