"""The fake CloudTrail answers botocore exactly like LookupEvents: pages, tokens, limits, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from rescind.sandbox.aws import AwsSandbox, start_aws_sandbox
from rescind.sandbox.scenario import CloudTrailSpec, GenerateSpec, Identity, Scenario

NO_RETRY = Config(retries={"total_max_attempts": 1})
KEY = "AKIAIOSFODNN7EXAMPLE"


@pytest.fixture(scope="module")
def generated() -> Iterator[AwsSandbox]:
    scenario = Scenario(
        regions=["us-east-1", "eu-west-1"],
        cloudtrail=CloudTrailSpec(generate=GenerateSpec(
            count=120, identity=Identity(user="deploy-bot", access_key_id=KEY))))
    with start_aws_sandbox(scenario) as sandbox:
        yield sandbox


def _client(sandbox: AwsSandbox, region: str = "us-east-1", config: Config = NO_RETRY) -> Any:
    return sandbox.client("cloudtrail", region, config=config)


@pytest.fixture(autouse=True)
def _fresh_limits(generated: AwsSandbox) -> None:
    generated.trail.reset_counters()


def _wait_for_tokens(sandbox: AwsSandbox) -> None:
    sandbox.trail.reset_counters()  # as if a second had passed: the bucket holds 2 again


def test_pages_newest_first_and_token_chain(generated: AwsSandbox) -> None:
    ct = _client(generated, config=Config(retries={"mode": "standard", "max_attempts": 10}))
    lookup = [{"AttributeKey": "AccessKeyId", "AttributeValue": KEY}]
    seen: list[dict[str, Any]] = []
    token = None
    pages = 0
    while True:
        kwargs: dict[str, Any] = {"LookupAttributes": lookup, "MaxResults": 50}
        if token:
            kwargs["NextToken"] = token
        page = ct.lookup_events(**kwargs)
        pages += 1
        assert len(page["Events"]) <= 50
        seen.extend(page["Events"])
        token = page.get("NextToken")
        if not token:
            break
    assert pages == 3  # 120 events: 50 + 50 + 20
    ids = [e["EventId"] for e in seen]
    assert len(ids) == len(set(ids)) == 120
    times = [e["EventTime"] for e in seen]
    assert times == sorted(times, reverse=True)
    expected = {r["eventID"] for r in generated.trail.records("us-east-1")}
    assert set(ids) == expected
    record = json.loads(seen[0]["CloudTrailEvent"])
    assert record["userIdentity"]["accessKeyId"] == KEY
    assert record["eventID"] == seen[0]["EventId"]
    assert seen[0]["Username"] == "deploy-bot"


def test_regions_are_separate(generated: AwsSandbox) -> None:
    _wait_for_tokens(generated)
    east = _client(generated, "us-east-1").lookup_events(MaxResults=5)["Events"]
    west = _client(generated, "eu-west-1").lookup_events(MaxResults=5)["Events"]
    assert {json.loads(e["CloudTrailEvent"])["awsRegion"] for e in east} == {"us-east-1"}
    assert {json.loads(e["CloudTrailEvent"])["awsRegion"] for e in west} == {"eu-west-1"}


def test_invalid_requests_get_the_real_errors(generated: AwsSandbox) -> None:
    ct = _client(generated)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"MaxResults": 51}, "InvalidMaxResultsException"),
        ({"NextToken": "not-a-token"}, "InvalidNextTokenException"),
        ({"LookupAttributes": [{"AttributeKey": "Bogus", "AttributeValue": "x"}]},
         "InvalidLookupAttributesException"),
        ({"LookupAttributes": [{"AttributeKey": "Username", "AttributeValue": "a"},
                               {"AttributeKey": "Username", "AttributeValue": "b"}]},
         "InvalidLookupAttributesException"),
        ({"StartTime": datetime.now(UTC), "EndTime": datetime.now(UTC) - timedelta(days=1)},
         "InvalidTimeRangeException"),
    ]
    for kwargs, code in cases:
        _wait_for_tokens(generated)
        with pytest.raises(ClientError) as err:
            ct.lookup_events(**kwargs)
        assert err.value.response["Error"]["Code"] == code
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_token_is_bound_to_its_query(generated: AwsSandbox) -> None:
    _wait_for_tokens(generated)
    ct = _client(generated)
    token = ct.lookup_events(MaxResults=10)["NextToken"]
    with pytest.raises(ClientError) as err:
        ct.lookup_events(MaxResults=10, NextToken=token, LookupAttributes=[
            {"AttributeKey": "EventName", "AttributeValue": "ListBuckets"}])
    assert err.value.response["Error"]["Code"] == "InvalidNextTokenException"


def test_burst_over_two_per_second_is_throttled(generated: AwsSandbox) -> None:
    _wait_for_tokens(generated)
    ct = _client(generated, "eu-west-1")

    def call(_: int) -> str:
        try:
            ct.lookup_events(MaxResults=1)
        except ClientError as exc:
            assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 400
            assert exc.response["Error"]["Message"] == "Rate exceeded"
            return str(exc.response["Error"]["Code"])
        return "ok"

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(call, range(6)))
    assert outcomes.count("ok") == 2  # the bucket holds two requests
    assert outcomes.count("ThrottlingException") == 4
    assert generated.trail.throttled["eu-west-1"] == 4


def test_filters(generated: AwsSandbox) -> None:
    _wait_for_tokens(generated)
    ct = _client(generated)
    names = ct.lookup_events(LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": "GetSecretValue"}])["Events"]
    assert names and {e["EventName"] for e in names} == {"GetSecretValue"}
    secret = ct.lookup_events(LookupAttributes=[
        {"AttributeKey": "ResourceName", "AttributeValue": "prod/db-password"}])["Events"]
    assert {e["EventId"] for e in secret} == {e["EventId"] for e in names}
    _wait_for_tokens(generated)
    nobody = ct.lookup_events(LookupAttributes=[
        {"AttributeKey": "AccessKeyId", "AttributeValue": "AKIAI44QH8DHBEXAMPLE"}])
    assert nobody["Events"] == [] and "NextToken" not in nobody
    newest = max(r["eventTime"] for r in generated.trail.records("us-east-1"))
    window = ct.lookup_events(StartTime=datetime.fromisoformat(newest.replace("Z", "+00:00")))
    assert {json.loads(e["CloudTrailEvent"])["eventTime"] for e in window["Events"]} == {newest}
