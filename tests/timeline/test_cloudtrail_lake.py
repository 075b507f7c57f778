"""Pulling via CloudTrail Lake, against the fake CloudTrail's Lake on loopback, seeded from
the same scenario as LookupEvents: same events, same model, same exports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from rescind.actions import registry
from rescind.actions.base import ActionContext
from rescind.errors import UsageError
from rescind.modes import Mode
from rescind.providers.aws import AwsProvider
from rescind.providers.aws_settings import AwsSettings
from rescind.sandbox.aws import AwsSandbox, start_aws_sandbox
from rescind.sandbox.cloudtrail_lake import EXAMPLE_STORE_ID
from rescind.timeline import sources
from rescind.timeline.aws_source import AwsLookup
from rescind.timeline.export import export
from rescind.timeline.lake import BILLING, build_query

SCENARIO = Path(__file__).resolve().parents[2] / "runbooks" / "scenarios" / "leaked-access-key.yaml"
KEY = "AKIAIOSFODNN7EXAMPLE"
REGIONS = ["us-east-1", "eu-west-1"]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[AwsSandbox]:
    with start_aws_sandbox(SCENARIO) as running:
        running.trail.rate = running.trail.burst = 1000.0  # LookupEvents' pace is not tested here
        yield running


@pytest.fixture(scope="module")
def provider(sandbox: AwsSandbox) -> Iterator[AwsProvider]:
    made = AwsProvider.from_settings(AwsSettings.model_validate(sandbox.provider_settings()),
                                     Mode.EXERCISE)
    yield made
    made.close()


@pytest.fixture
def lake_log(sandbox: AwsSandbox) -> Iterator[list[dict[str, Any]]]:
    lake = sandbox.trail.lake
    lake.log.clear()
    yield lake.log
    lake.page_size = 1000


def _window() -> tuple[datetime, datetime]:
    return datetime.now(UTC) - timedelta(days=2), datetime.now(UTC)


def _fields(events: list[Any]) -> list[tuple[Any, ...]]:
    return [(e.uid, e.time, e.action, e.service, e.actor, e.credential, e.account, e.region,
             e.result, e.relevant) for e in events]


async def test_a_lake_pull_gives_the_events_lookup_events_gives(
        sandbox: AwsSandbox, provider: AwsProvider, lake_log: list[dict[str, Any]],
        tmp_path: Path) -> None:
    source = sources.require("aws")
    since, until = _window()
    lookup = await source.resolve(provider, AwsLookup(access_key_id=KEY), None)
    looked_up = await source.pull(provider, lookup, regions=REGIONS, account=None,
                                  since=since, until=until, progress=None, evidence_dir=None)
    sandbox.trail.lake.page_size = 4  # several pages from a handful of events
    state = await source.resolve(provider, AwsLookup(access_key_id=KEY, via="cloudtrail-lake"),
                                 None)
    pulled = await source.pull(provider, state, regions=REGIONS, account=None, since=since,
                               until=until, progress=None, evidence_dir=tmp_path / "evidence")

    assert len(looked_up.events) >= 10
    assert sorted(e.uid for e in pulled.events) == sorted(e.uid for e in looked_up.events)
    assert _fields(pulled.events) == _fields(looked_up.events)
    ours = [e for e in pulled.events if e.action == "CreateUser"]
    assert ours and ours[0].relevant
    # Paged: every page asked for with the previous page's token, each row once.
    pages = [r for r in lake_log if r["operation"] == "GetQueryResults"]
    assert pulled.pages == len(pages) > 2
    assert [("NextToken" in r) for r in pages] == [False] + [True] * (len(pages) - 1)
    assert pulled.duplicates == 0
    # The key is in the SQL only as a checked literal; the query was a lone SELECT.
    statement = next(r for r in lake_log if r["operation"] == "StartQuery")["QueryStatement"]
    assert statement.startswith("SELECT ") and f"FROM {EXAMPLE_STORE_ID} " in statement
    assert f"userIdentity.accessKeyId = '{KEY}'" in statement
    assert pulled.notes and "scanned" in pulled.notes[0] and "bytes" in pulled.notes[0]
    assert pulled.raw_pages_paths[0].name.startswith("cloudtrail-lake-")
    # Same exports as LookupEvents'.
    for fmt in ("csv", "ocsf"):
        a, b = tmp_path / f"lake.{fmt}", tmp_path / f"lookup.{fmt}"
        assert export(pulled.events, a, fmt) == export(looked_up.events, b, fmt)
        assert _export_ids(a) == _export_ids(b)


def _export_ids(path: Path) -> list[str]:
    text = path.read_text()
    if path.suffix == ".csv":
        return [line.split(",")[0] for line in text.splitlines()[1:]]
    return [json.loads(line)["metadata"]["uid"] for line in text.splitlines()]


async def test_the_plan_says_how_lake_bills_and_the_pull_reports_the_bytes(
        provider: AwsProvider, lake_log: list[dict[str, Any]], tmp_path: Path) -> None:
    cls = registry.get("timeline.pull")
    assert cls is not None
    action = cls()
    ctx = ActionContext(mode=Mode.LIVE, incident_dir=tmp_path, providers={"aws": provider},
                        journal=lambda kind, data: None, settings={"aws": {}})
    plan = await action.plan(ctx, action.parse_params(
        {"aws": {"user": "deploy-bot", "via": "cloudtrail-lake"}, "since": "-2d",
         "regions": REGIONS}), "pull")
    assert plan.warnings[0] == BILLING
    assert lake_log == []  # planning ran no query
    (tmp_path / "journal.jsonl").write_text("")
    result = await action.apply(ctx, plan)
    assert result.outputs["events"] >= 10
    assert any(d.startswith("CloudTrail Lake scanned ") for d in result.details)
    assert lake_log[0]["operation"] == "StartQuery"


def test_the_dry_run_guard_lets_a_lone_select_through_and_nothing_else(
        sandbox: AwsSandbox, lake_log: list[dict[str, Any]]) -> None:
    provider = AwsProvider.from_settings(
        AwsSettings.model_validate(sandbox.provider_settings()), Mode.EXERCISE)
    blocked: list[Any] = []
    provider.install_dry_run_guard(blocked.append)
    try:
        cloudtrail = provider.client("cloudtrail")
        since, until = _window()
        select = build_query(EXAMPLE_STORE_ID, ("AccessKeyId", KEY), regions=REGIONS,
                             since=since, until=until)
        assert cloudtrail.start_query(QueryStatement=select)["QueryId"]
        for statement in (f"{select}; SELECT eventID FROM {EXAMPLE_STORE_ID}",
                          f"CREATE TABLE x AS {select}",
                          f"SELECT eventID INTO copy FROM {EXAMPLE_STORE_ID}"):
            assert "QueryId" not in cloudtrail.start_query(QueryStatement=statement)
        # A SELECT whose results Lake would deliver into a bucket writes: blocked too.
        assert "QueryId" not in cloudtrail.start_query(
            QueryStatement=select, DeliveryS3Uri="s3://example-bucket/results")
    finally:
        provider.close()
    # The fake's own log: only the SELECT reached the service.
    assert [r.get("QueryStatement") for r in lake_log] == [select]
    assert [c.operation for c in blocked] == ["cloudtrail:StartQuery"] * 4


@pytest.mark.parametrize(("lookup", "store", "regions"), [
    (("Username", "o'brien"), EXAMPLE_STORE_ID, ["us-east-1"]),
    (("AccessKeyId", "AKIAIOSFODNN7EXAMPLE' OR '1'='1"), EXAMPLE_STORE_ID, ["us-east-1"]),
    (("role", "arn:aws:iam::123456789012:role/x' --"), EXAMPLE_STORE_ID, ["us-east-1"]),
    (("AccessKeyId", KEY), f"{EXAMPLE_STORE_ID} WHERE 1=1 --", ["us-east-1"]),
    (("AccessKeyId", KEY), EXAMPLE_STORE_ID, ["us-east-1') OR ('1'='1"]),
])
def test_values_that_could_change_the_sql_are_refused(
        lookup: tuple[str, str], store: str, regions: list[str]) -> None:
    with pytest.raises(UsageError) as caught:
        build_query(store, lookup, regions=regions, since=datetime(2026, 1, 1, tzinfo=UTC),
                    until=datetime(2026, 1, 2, tzinfo=UTC))
    assert caught.value.fix


def test_an_event_data_store_setting_is_checked_and_an_arn_becomes_its_id() -> None:
    arn = f"arn:aws:cloudtrail:us-east-1:123456789012:eventdatastore/{EXAMPLE_STORE_ID}"
    assert AwsSettings.model_validate({"event_data_store": arn}).event_data_store == arn
    with pytest.raises(ValueError, match="event_data_store"):
        AwsSettings.model_validate({"event_data_store": "x' OR 1=1"})
    sql = build_query(arn, ("AccessKeyId", KEY), regions=["us-east-1"],
                      since=datetime(2026, 1, 1, tzinfo=UTC),
                      until=datetime(2026, 1, 2, 12, 30, tzinfo=UTC), account="123456789012")
    assert f"FROM {EXAMPLE_STORE_ID} WHERE eventTime >= '2026-01-01 00:00:00' AND " \
           "eventTime <= '2026-01-02 12:30:00'" in sql
    assert "recipientAccountId = '123456789012'" in sql


def test_the_fake_speaks_lakes_errors_and_states(sandbox: AwsSandbox,
                                                 lake_log: list[dict[str, Any]]) -> None:
    cloudtrail = sandbox.client("cloudtrail")
    with pytest.raises(ClientError) as caught:
        cloudtrail.start_query(QueryStatement="SELECT eventID FROM EXAMPLE-0000-missing")
    assert caught.value.response["Error"]["Code"] == "EventDataStoreNotFoundException"
    with pytest.raises(ClientError) as caught:
        cloudtrail.start_query(QueryStatement=f"DELETE FROM {EXAMPLE_STORE_ID}")
    assert caught.value.response["Error"]["Code"] == "InvalidQueryStatementException"
    qid = cloudtrail.start_query(
        QueryStatement=f"SELECT eventID FROM {EXAMPLE_STORE_ID} WHERE "
                       "eventName = 'CreateUser'")["QueryId"]
    states = [cloudtrail.describe_query(QueryId=qid)["QueryStatus"] for _ in range(3)]
    assert states == ["RUNNING", "FINISHED", "FINISHED"]  # QUEUED when started
    rows = cloudtrail.get_query_results(QueryId=qid)["QueryResultRows"]
    assert len(rows) == 1 and set(rows[0][0]) == {"eventID"}
    with pytest.raises(ClientError) as caught:
        cloudtrail.get_query_results(QueryId=qid, NextToken="bm90LWEtdG9rZW4=")
    assert caught.value.response["Error"]["Code"] == "InvalidNextTokenException"


async def test_a_missing_event_data_store_names_the_setting(sandbox: AwsSandbox) -> None:
    settings = {**sandbox.provider_settings(), "event_data_store": None}
    provider = AwsProvider.from_settings(AwsSettings.model_validate(settings), Mode.EXERCISE)
    try:
        with pytest.raises(UsageError) as caught:
            await sources.require("aws").resolve(
                provider, AwsLookup(access_key_id=KEY, via="cloudtrail-lake"), None)
        assert "aws.event_data_store" in (caught.value.fix or "")
    finally:
        provider.close()
