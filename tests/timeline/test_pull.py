"""Pulling from the simulated account: exact, paged, throttling retried, evidence kept."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config

from rescind.errors import ActionError, UsageError
from rescind.sandbox.aws import AwsSandbox, start_aws_sandbox
from rescind.sandbox.scenario import (
    CloudTrailSpec,
    GenerateSpec,
    Identity,
    RoleSpec,
    Scenario,
    TrailEventSpec,
)
from rescind.timeline import spool
from rescind.timeline.merge import SpooledEvents
from rescind.timeline.pull import PullProgress, pull_cloudtrail, pull_cloudtrail_role

KEY = "AKIAIOSFODNN7EXAMPLE"
SESSION_KEY = "ASIAVENDORSESSEXAMPLE"[:20]
REGIONS = ["us-east-1", "eu-west-1"]


def _role_history() -> list[TrailEventSpec]:
    role_arn = "arn:aws:iam::123456789012:role/vendor-audit"
    vendor = Identity(type="AWSAccount", account="111122223333")
    session = Identity(type="AssumedRole", role="vendor-audit", session="vendor-session",
                       access_key_id=SESSION_KEY)
    return [
        TrailEventSpec(time="-3h", event_name="AssumeRole", event_source="sts.amazonaws.com",
                       identity=vendor, source_ip="198.51.100.7",
                       request_parameters={"roleArn": role_arn, "roleSessionName": "vendor-session",
                                           "externalId": "example-external-id-1"},
                       response_elements={"credentials": {"accessKeyId": SESSION_KEY,
                                                          "expiration": "soon"}}),
        TrailEventSpec(time="-170m", event_name="ListBuckets", event_source="s3.amazonaws.com",
                       identity=session, source_ip="198.51.100.7"),
        TrailEventSpec(time="-160m", event_name="DescribeInstances",
                       event_source="ec2.amazonaws.com", identity=session, region="eu-west-1",
                       source_ip="198.51.100.7"),
        TrailEventSpec(time="-150m", event_name="ListUsers", event_source="iam.amazonaws.com",
                       source_ip="203.0.113.50"),  # someone else: must not be in the role's pull
    ]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[AwsSandbox]:
    scenario = Scenario(
        regions=REGIONS,
        roles=[RoleSpec(name="vendor-audit", trusted_account="111122223333",
                        external_id="example-external-id-1")],
        attacker={"identity": Identity(user="deploy-bot", access_key_id=KEY)},  # type: ignore[arg-type]
        cloudtrail=CloudTrailSpec(events=_role_history(),
                                  generate=GenerateSpec(count=120, identity=Identity(
                                      user="deploy-bot", access_key_id=KEY))))
    with start_aws_sandbox(scenario) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh(sandbox: AwsSandbox) -> Iterator[None]:
    sandbox.trail.reset_counters()
    yield
    sandbox.trail.rate = 2.0
    sandbox.trail.reset_counters()


def _factory(sandbox: AwsSandbox, retries: dict[str, Any]) -> Any:
    return lambda region: sandbox.client("cloudtrail", region, config=Config(retries=retries))


def _window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(days=8), now


def _expected(sandbox: AwsSandbox, key: str) -> set[str]:
    return {r["eventID"] for region in REGIONS for r in sandbox.trail.records(region)
            if r["userIdentity"].get("accessKeyId") == key}


async def test_pull_is_exact_and_reports_progress(sandbox: AwsSandbox, tmp_path: Path) -> None:
    seen: list[PullProgress] = []
    since, until = _window()
    result = await pull_cloudtrail(
        _factory(sandbox, {"mode": "adaptive", "max_attempts": 10}), regions=REGIONS,
        lookup=("AccessKeyId", KEY), since=since, until=until, progress=seen.append,
        evidence_dir=tmp_path)
    uids = [e.uid for e in result.events]
    expected = _expected(sandbox, KEY)
    assert len(expected) == 241  # 2 x 120 generated + the attacker's ListUsers
    assert len(uids) == len(set(uids)) == 241
    assert set(uids) == expected
    assert [e.time for e in result.events] == sorted(e.time for e in result.events)
    assert result.pages == 6 and result.duplicates == 0
    assert sorted(result.regions_done) == sorted(REGIONS)
    assert seen[-1].events == 241 and seen[-1].pages == 6
    assert sorted(seen[-1].regions_done) == sorted(REGIONS)
    # Raw pages: one file per region, each line a LookupEvents response.
    assert len(result.raw_pages_paths) == 2
    lines = [json.loads(line) for p in result.raw_pages_paths
             for line in p.read_text().splitlines()]
    assert len(lines) == 6
    assert sum(len(page["Events"]) for page in lines) == 241
    assert all(isinstance(e["EventTime"], float) and "CloudTrailEvent" in e
               for page in lines for e in page["Events"])
    assert sum("NextToken" in page for page in lines) == 4


async def test_a_pull_streams_its_pages_into_a_bounded_spool(
        sandbox: AwsSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages go into the spool as they arrive, never held as one list: with room for 10
    events (a page holds 50), the 6 pages of 241 events wait in sorted runs on disk
    and come back whole, in order, once each."""
    monkeypatch.setattr(spool, "RUN_SIZE", 10)
    since, until = _window()
    result = await pull_cloudtrail(
        _factory(sandbox, {"mode": "adaptive", "max_attempts": 10}), regions=REGIONS,
        lookup=("AccessKeyId", KEY), since=since, until=until)
    try:
        assert isinstance(result.events, SpooledEvents)
        held = result.events.merged.spool
        assert held.count == 241 and held.peak <= 10 and len(held.runs) >= 24
        uids = [e.uid for e in result.events]
        assert len(result.events) == len(uids) == len(set(uids)) == 241
        assert set(uids) == _expected(sandbox, KEY)
        times = [e.time for e in result.events]
        assert times == sorted(times)
        runs = Path(held.runs[0]).parent
    finally:
        result.close()
    assert not runs.exists()


async def test_throttling_is_retried_and_loses_nothing(sandbox: AwsSandbox) -> None:
    # The server allows half the client's pace: throttling is certain. botocore's own
    # retries are off, so rescind's backoff must carry every page through.
    sandbox.trail.rate = 1.0
    sandbox.trail.burst = 1.0
    since, until = _window()
    try:
        result = await pull_cloudtrail(
            _factory(sandbox, {"total_max_attempts": 1}), regions=REGIONS,
            lookup=("AccessKeyId", KEY), since=since, until=until)
    finally:
        sandbox.trail.burst = 2.0
    assert result.throttled > 0
    assert sum(sandbox.trail.throttled.values()) == result.throttled
    assert {e.uid for e in result.events} == _expected(sandbox, KEY)
    assert result.duplicates == 0 and result.pages == 6


async def test_role_pull_follows_its_sessions(sandbox: AwsSandbox) -> None:
    since, until = _window()
    result = await pull_cloudtrail_role(
        _factory(sandbox, {"mode": "standard", "max_attempts": 10}), regions=REGIONS,
        role="arn:aws:iam::123456789012:role/vendor-audit", since=since, until=until)
    names = [e.action for e in result.events]
    assert names == ["AssumeRole", "ListBuckets", "DescribeInstances"]
    assert ("AccessKeyId", SESSION_KEY) in result.lookups
    assert {e.region for e in result.events} == {"us-east-1", "eu-west-1"}


async def test_usage_errors() -> None:
    since, until = _window()
    with pytest.raises(UsageError):
        await pull_cloudtrail(lambda r: None, regions=REGIONS, lookup=("RoleArn", "x"),
                              since=since, until=until)
    with pytest.raises(UsageError):
        await pull_cloudtrail(lambda r: None, regions=REGIONS, lookup=("Username", "x"),
                              since=until, until=since)


async def test_permission_error_is_an_action_error(sandbox: AwsSandbox) -> None:
    from botocore.exceptions import ClientError

    class Denied:
        meta = sandbox.client("cloudtrail").meta

        def lookup_events(self, **_: Any) -> Any:
            raise ClientError({"Error": {"Code": "AccessDeniedException",
                                         "Message": "not authorized"}}, "LookupEvents")

    since, until = _window()
    with pytest.raises(ActionError) as err:
        await pull_cloudtrail(lambda r: Denied(), regions=["us-east-1"],
                              lookup=("Username", "deploy-bot"), since=since, until=until)
    assert err.value.kind == "permission" and not err.value.retryable


@pytest.mark.parametrize("code", ["SignatureDoesNotMatch", "InvalidAccessKeyId",
                                  "ExpiredToken", "RequestExpired"])
async def test_rejected_credentials_are_expired(sandbox: AwsSandbox, code: str) -> None:
    """A wrong secret key or an unknown key id asks for new credentials, not a retry."""
    from botocore.exceptions import ClientError

    class Rejected:
        meta = sandbox.client("cloudtrail").meta

        def lookup_events(self, **_: Any) -> Any:
            raise ClientError({"Error": {"Code": code, "Message": "rejected"}}, "LookupEvents")

    since, until = _window()
    with pytest.raises(ActionError) as err:
        await pull_cloudtrail(lambda r: Rejected(), regions=["us-east-1"],
                              lookup=("Username", "deploy-bot"), since=since, until=until)
    assert err.value.kind == "expired"
    assert "credentials were rejected" in err.value.message


async def test_a_pull_leaves_no_hook_on_the_cached_client(sandbox: AwsSandbox) -> None:
    client = sandbox.client("cloudtrail")
    event = "needs-retry.cloudtrail.LookupEvents"
    since, until = _window()
    for _ in range(2):
        await pull_cloudtrail(lambda r: client, regions=["us-east-1"],
                              lookup=("Username", "deploy-bot"), since=since, until=until)
    handlers = client.meta.events._emitter._handlers.prefix_search(event)
    assert not [h for h in handlers if getattr(h, "__name__", "") == "on_retry_check"]
