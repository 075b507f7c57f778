"""Pulling via Athena over an organisation trail, against moto's Athena and S3 on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from rescind.actions import registry
from rescind.actions.base import ActionContext
from rescind.errors import UsageError
from rescind.modes import Mode
from rescind.providers.aws import AwsProvider
from rescind.providers.aws_settings import AwsSettings
from rescind.sandbox.aws import AwsSandbox, start_aws_sandbox
from rescind.timeline import sources
from rescind.timeline.athena import Trail, build_query, table_ddl
from rescind.timeline.aws_source import AwsLookup
from rescind.timeline.export import export

KEY = "AKIAIOSFODNN7EXAMPLE"
ORG = "o-exampleorg1"
BUCKET = "org-trail-example"
OTHER_ACCOUNT = "111122223333"


def _record(n: int, account: str, name: str, *, read_only: bool = True) -> dict[str, Any]:
    return {"eventID": f"00000000-0000-4000-8000-{n:012d}",
            "eventTime": (datetime.now(UTC) - timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": "iam.amazonaws.com", "eventName": name, "awsRegion": "us-east-1",
            "sourceIPAddress": "203.0.113.50", "userAgent": "aws-cli/2.15",
            "requestParameters": json.dumps({"userName": "deploy-bot"}),
            "responseElements": None, "recipientAccountId": account,
            "readOnly": "true" if read_only else "false",
            "ui_type": "IAMUser", "ui_principalId": "AIDAEXAMPLE",
            "ui_arn": f"arn:aws:iam::{account}:user/deploy-bot", "ui_accountId": account,
            "ui_accessKeyId": KEY, "ui_userName": "deploy-bot"}


ROWS = [_record(60, "123456789012", "GetUser"),
        _record(120, OTHER_ACCOUNT, "CreateAccessKey", read_only=False),
        _record(180, "123456789012", "GetRole")]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[AwsSandbox]:
    with start_aws_sandbox() as running:
        s3 = running.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        today = datetime.now(UTC)
        old = today - timedelta(days=40)
        for account, region, day, size in [
                ("123456789012", "us-east-1", today, 1000),
                (OTHER_ACCOUNT, "us-east-1", today, 500),
                ("123456789012", "eu-west-1", today, 300),  # a region not asked for
                ("123456789012", "us-east-1", old, 7000)]:  # outside the window
            s3.put_object(Bucket=BUCKET, Body=b"x" * size,
                          Key=f"trail/AWSLogs/{ORG}/{account}/CloudTrail/{region}/"
                              f"{day:%Y/%m/%d}/{account}_CloudTrail_{region}.json.gz")
        yield running


@pytest.fixture
def provider(sandbox: AwsSandbox) -> Iterator[AwsProvider]:
    settings = AwsSettings.model_validate({
        **sandbox.provider_settings(), "trail_location": f"s3://{BUCKET}/trail",
        "org_id": ORG, "athena_output": f"s3://{BUCKET}/athena-results/"})
    made = AwsProvider.from_settings(settings, Mode.EXERCISE)
    yield made
    made.close()


def _queue_results(sandbox: AwsSandbox, rows: list[dict[str, Any]]) -> None:
    """What moto's Athena returns for the next query: a header row, then the rows."""
    columns = list(rows[0])
    data = [{"Data": [{"VarCharValue": c} for c in columns]}]
    data += [{"Data": [{} if r[c] is None else {"VarCharValue": str(r[c])} for c in columns]}
             for r in rows]
    reply = requests.post(f"{sandbox.endpoint_url}/moto-api/static/athena/query-results",
                          json={"account_id": sandbox.account_id, "region": "us-east-1",
                                "results": [{"rows": data, "column_info": [
                                    {"Name": c, "Label": c, "Type": "varchar"}
                                    for c in columns]}]}, timeout=10)
    assert reply.status_code == 201


async def test_athena_pull_plans_its_cost_and_maps_rows_to_events(
        sandbox: AwsSandbox, provider: AwsProvider, tmp_path: Path) -> None:
    source = sources.require("aws")
    lookup = AwsLookup(access_key_id=KEY, via="athena")
    since, until = datetime.now(UTC) - timedelta(days=1), datetime.now(UTC)
    state = await source.resolve(provider, lookup, None)
    assert state["accounts"] == sorted([OTHER_ACCOUNT, "123456789012"])  # found in S3
    cost = await source.estimate(provider, state, regions=["us-east-1"], since=since,
                                 until=until)
    # Only the asked region's in-window partitions: 1000 + 500 bytes, 2 objects.
    assert cost is not None and "1.5 KB (2 objects" in cost

    _queue_results(sandbox, ROWS)
    pulled = await source.pull(provider, state, regions=["us-east-1"], account=None,
                               since=since, until=until, progress=None,
                               evidence_dir=tmp_path / "evidence")
    assert [e.action for e in pulled.events] == ["GetRole", "CreateAccessKey",
                                                 "GetUser"]
    assert {e.account for e in pulled.events} == {"123456789012", OTHER_ACCOUNT}
    assert all(e.credential == KEY and e.actor.endswith(":user/deploy-bot")
               for e in pulled.events)
    assert [e.relevant for e in pulled.events] == [False, True, False]
    assert pulled.raw_pages_paths and pulled.raw_pages_paths[0].exists()

    # What Athena was asked, read back from it: the key only as a parameter.
    athena = sandbox.client("athena")
    qid = athena.list_query_executions()["QueryExecutionIds"][-1]
    execution = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
    assert KEY not in execution["Query"] and "?" in execution["Query"]
    assert f"'{KEY}'" in execution["ExecutionParameters"]
    assert "'us-east-1'" in execution["ExecutionParameters"]

    # Same exports as LookupEvents'.
    out = tmp_path / "t.csv"
    assert export(pulled.events, out, "csv") == 3
    assert "CreateAccessKey" in out.read_text()


async def test_a_result_of_many_pages_arrives_row_by_row_once(
        sandbox: AwsSandbox, provider: AwsProvider) -> None:
    # More rows than one GetQueryResults page holds (1000; the sandbox pages as AWS does).
    kept = ("eventID", "eventTime", "eventSource", "eventName", "ui_type", "ui_accessKeyId")
    rows = [{k: v for k, v in _record(n, "123456789012", "GetUser").items() if k in kept}
            for n in range(1, 1002)]
    _queue_results(sandbox, rows)
    source = sources.require("aws")
    state = {"via": "athena", "lookup": ["AccessKeyId", KEY], "accounts": ["123456789012"]}
    pulled = await source.pull(provider, state, regions=["us-east-1"], account=None,
                               since=datetime.now(UTC) - timedelta(days=2),
                               until=datetime.now(UTC),
                               progress=None, evidence_dir=None)
    assert pulled.pages == 2  # the labels and 999 rows, then 2 rows
    assert sorted(e.uid for e in pulled.events) == sorted(r["eventID"] for r in rows)
    assert pulled.duplicates == 0 and pulled.malformed == 0


async def test_a_timeline_pull_guard_lets_selects_through_but_not_ddl(
        sandbox: AwsSandbox, provider: AwsProvider) -> None:
    blocked: list[Any] = []
    provider.install_dry_run_guard(blocked.append)
    trail = Trail.from_settings(provider.athena)
    athena = provider.client("athena", "us-east-1")
    sql, params = build_query(trail, ("AccessKeyId", KEY), accounts=["123456789012"],
                              regions=["us-east-1"], since=datetime.now(UTC) - timedelta(1),
                              until=datetime.now(UTC))
    before = len(sandbox.client("athena").list_query_executions()["QueryExecutionIds"])
    athena.start_query_execution(QueryString=sql, ExecutionParameters=params)
    athena.start_query_execution(QueryString=table_ddl(trail, datetime(2026, 1, 1).date()))
    after = sandbox.client("athena").list_query_executions()["QueryExecutionIds"]
    assert len(after) == before + 1  # the SELECT ran; the CREATE TABLE never reached Athena
    assert [c.operation for c in blocked] == ["athena:StartQueryExecution"]


def test_query_values_are_parameters_and_quotes_are_doubled() -> None:
    trail = Trail.from_settings({"trail_location": "s3://b", "org_id": ORG})
    sql, params = build_query(trail, ("Username", "o'brien"), accounts=["123456789012"],
                              regions=["us-east-1"], since=datetime(2026, 1, 1, tzinfo=UTC),
                              until=datetime(2026, 1, 2, tzinfo=UTC))
    assert "brien" not in sql and "2026" not in sql
    assert params[-1] == "'o''brien'" and params[2:4] == ["'2026/01/01'", "'2026/01/02'"]
    ddl = table_ddl(trail, datetime(2026, 1, 1).date())
    assert "'projection.enabled' = 'true'" in ddl
    assert "s3://b/AWSLogs/o-exampleorg1/${account}/CloudTrail/${region}/${day}" in ddl


def test_missing_trail_settings_name_the_fix() -> None:
    with pytest.raises(UsageError) as caught:
        Trail.from_settings({})
    assert "aws.trail_location" in (caught.value.fix or "")


async def test_the_step_plan_shows_the_scan_estimate_before_anything_runs(
        sandbox: AwsSandbox, provider: AwsProvider, tmp_path: Path) -> None:
    athena = sandbox.client("athena")
    before = len(athena.list_query_executions()["QueryExecutionIds"])
    cls = registry.get("timeline.pull")
    assert cls is not None
    action = cls()
    ctx = ActionContext(mode=Mode.LIVE, incident_dir=tmp_path, providers={"aws": provider},
                        journal=lambda kind, data: None, settings={"aws": {}})
    plan = await action.plan(ctx, action.parse_params(
        {"aws": {"access_key_id": KEY, "via": "athena"}, "since": "-1d",
         "regions": ["us-east-1"]}), "pull")
    assert plan.warnings[0].startswith("Athena will scan about 1.5 KB")
    assert plan.state["cost"] == plan.warnings[0]
    # Planning ran no query.
    assert len(athena.list_query_executions()["QueryExecutionIds"]) == before
