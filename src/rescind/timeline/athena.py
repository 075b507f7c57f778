"""Pull a principal's CloudTrail history with Athena, over an organisation trail in S3.

LookupEvents reads one account and region at 100 events/s; an organisation trail
holds every account's records in S3 (``AWSLogs/<org>/<account>/CloudTrail/<region>/
<yyyy>/<mm>/<dd>/``) and one Athena query reads them all. The table uses partition
projection, so it needs no crawler or MSCK REPAIR: its DDL is ``table_ddl``. The
query's values (key id, window, regions, account) are execution parameters, never
text joined into the SQL; only the table's name is, and settings hold it to
``[a-z0-9_]``. Results are read page by page (GetQueryResults), written raw to the
evidence folder and mapped to the same CloudTrail records LookupEvents yields.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from rescind.errors import UsageError
from rescind.timeline.cloudtrail import MalformedRecord, from_record
from rescind.timeline.pull import PullProgress, PullResult
from rescind.timeline.query_pages import spool_pages, wait_for_query

# Athena bills $5 per TB scanned (us-east-1 list price), at least 10 MB a query.
PRICE_PER_TB = 5.0
MIN_BILLED_BYTES = 10 * 1024 * 1024
# Who to look for: the lookup kind → the column holding it.
COLUMNS = {
    "AccessKeyId": "useridentity.accesskeyid",
    "Username": "useridentity.username",
    "role": "useridentity.sessioncontext.sessionissuer.arn",
    "role_name": "useridentity.sessioncontext.sessionissuer.username",
}
# The columns read back, as (SQL expression, name in the result): enough for from_record.
_SELECT = (
    ("eventid", "eventID"), ("eventtime", "eventTime"), ("eventsource", "eventSource"),
    ("eventname", "eventName"), ("awsregion", "awsRegion"),
    ("sourceipaddress", "sourceIPAddress"), ("useragent", "userAgent"),
    ("errorcode", "errorCode"), ("errormessage", "errorMessage"),
    ("requestparameters", "requestParameters"), ("responseelements", "responseElements"),
    ("recipientaccountid", "recipientAccountId"), ("readonly", "readOnly"),
    ("useridentity.type", "ui_type"), ("useridentity.principalid", "ui_principalId"),
    ("useridentity.arn", "ui_arn"), ("useridentity.accountid", "ui_accountId"),
    ("useridentity.accesskeyid", "ui_accessKeyId"), ("useridentity.username", "ui_userName"),
)
# The result columns' names, which record_of reads (CloudTrail Lake selects the same).
SELECTED = tuple(name for _, name in _SELECT)
_JSON_COLUMNS = ("requestParameters", "responseElements")


@dataclass(frozen=True)
class Trail:
    """Where the organisation trail is and what Athena calls it (from ``[aws]``)."""

    bucket: str
    prefix: str  # "" or "path/" before AWSLogs/
    org_id: str
    database: str
    table: str
    workgroup: str
    output: str | None

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> Trail:
        location = settings.get("trail_location")
        org = settings.get("org_id")
        if not location or not org:
            raise UsageError("Athena needs the organisation trail's location and id",
                             fix="set aws.trail_location = \"s3://BUCKET/PREFIX\" and "
                                 "aws.org_id = \"o-...\" in rescind.toml (docs/scale.md)")
        bucket, _, prefix = str(location).removeprefix("s3://").partition("/")
        prefix = prefix.strip("/")
        return cls(bucket=bucket, prefix=f"{prefix}/" if prefix else "", org_id=str(org),
                   database=str(settings.get("athena_database") or "default"),
                   table=str(settings.get("athena_table") or "cloudtrail_org"),
                   workgroup=str(settings.get("athena_workgroup") or "primary"),
                   output=settings.get("athena_output"))

    @property
    def logs(self) -> str:
        """The key prefix above the account folders."""
        return f"{self.prefix}AWSLogs/{self.org_id}/"

    def partition(self, account: str, region: str, day: date) -> str:
        return f"{self.logs}{account}/CloudTrail/{region}/{day:%Y/%m/%d}/"


def table_ddl(trail: Trail, since: date) -> str:
    """CREATE EXTERNAL TABLE over the trail with partition projection (account, region,
    day): Athena computes the partitions from the query's WHERE, nothing to load."""
    location = f"s3://{trail.bucket}/{trail.logs}"
    return f"""CREATE EXTERNAL TABLE IF NOT EXISTS {trail.database}.{trail.table} (
  eventversion STRING,
  useridentity STRUCT<type:STRING, principalid:STRING, arn:STRING, accountid:STRING,
    invokedby:STRING, accesskeyid:STRING, username:STRING,
    sessioncontext:STRUCT<attributes:STRUCT<mfaauthenticated:STRING, creationdate:STRING>,
      sessionissuer:STRUCT<type:STRING, principalid:STRING, arn:STRING, accountid:STRING,
        username:STRING>>>,
  eventtime STRING, eventsource STRING, eventname STRING, awsregion STRING,
  sourceipaddress STRING, useragent STRING, errorcode STRING, errormessage STRING,
  requestparameters STRING, responseelements STRING, additionaleventdata STRING,
  requestid STRING, eventid STRING,
  resources ARRAY<STRUCT<arn:STRING, accountid:STRING, type:STRING>>,
  eventtype STRING, apiversion STRING, readonly STRING, recipientaccountid STRING,
  serviceeventdetails STRING, sharedeventid STRING, vpcendpointid STRING
)
PARTITIONED BY (account STRING, region STRING, day STRING)
ROW FORMAT SERDE 'org.apache.hive.hcatalog.data.JsonSerDe'
STORED AS INPUTFORMAT 'com.amazon.emr.cloudtrail.CloudTrailInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION '{location}'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.account.type' = 'injected',
  'projection.region.type' = 'injected',
  'projection.day.type' = 'date',
  'projection.day.format' = 'yyyy/MM/dd',
  'projection.day.range' = '{since:%Y/%m/%d},NOW',
  'projection.day.interval' = '1',
  'projection.day.interval.unit' = 'DAYS',
  'storage.location.template' = '{location}${{account}}/CloudTrail/${{region}}/${{day}}'
)"""


def build_query(trail: Trail, lookup: tuple[str, str], *, accounts: list[str],
                regions: list[str], since: datetime, until: datetime) -> tuple[str, list[str]]:
    """(SQL with ``?`` placeholders, execution parameters), values never in the SQL.

    Injected projection needs account and region in the WHERE: the accounts to read
    are listed (or found in S3) and each is a parameter, as is each region.
    """
    column = COLUMNS.get(lookup[0])
    if column is None:
        raise UsageError(f"Athena cannot look up {lookup[0]!r}",
                         fix=f"use one of {', '.join(COLUMNS)}")
    if not accounts or not regions:
        raise UsageError("no account or region to query",
                         fix="name the regions, and check the trail has account folders")
    since, until = since.astimezone(UTC), until.astimezone(UTC)
    select = ", ".join(f"{expr} AS {name}" if expr != name.lower() else expr
                       for expr, name in _SELECT)
    sql = (f"SELECT {select} FROM {trail.database}.{trail.table} "
           f"WHERE account IN ({_marks(len(accounts))}) "
           f"AND region IN ({_marks(len(regions))}) "
           "AND day BETWEEN ? AND ? AND eventtime >= ? AND eventtime <= ? "
           f"AND {column} = ? ORDER BY eventtime, eventid")
    params = [*accounts, *regions, f"{since:%Y/%m/%d}", f"{until:%Y/%m/%d}",
              f"{since:%Y-%m-%dT%H:%M:%SZ}", f"{until:%Y-%m-%dT%H:%M:%SZ}", lookup[1]]
    # Athena takes execution parameters as SQL literals: quote each as a string.
    return sql, ["'" + p.replace("'", "''") + "'" for p in params]


def _marks(n: int) -> str:
    """``?, ?, ?``: placeholders for n parameters (never the values)."""
    return ", ".join("?" * n)


def days(since: datetime, until: datetime) -> list[date]:
    first, last = since.astimezone(UTC).date(), until.astimezone(UTC).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def trail_accounts(s3: Any, trail: Trail) -> list[str]:
    """The account folders under the organisation's prefix."""
    found: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=trail.bucket, Prefix=trail.logs, Delimiter="/"):
        for entry in page.get("CommonPrefixes", []):
            name = str(entry["Prefix"])[len(trail.logs):].strip("/")
            if name.isdigit() and len(name) == 12:
                found.append(name)
    return sorted(found)


@dataclass(frozen=True)
class Estimate:
    """What the query will scan: the objects in the window's partitions."""

    bytes: int
    objects: int
    partitions: int

    def describe(self) -> str:
        billed = max(self.bytes, MIN_BILLED_BYTES)
        cost = billed / 1e12 * PRICE_PER_TB
        return (f"Athena will scan about {_size(self.bytes)} ({self.objects:,} objects in "
                f"{self.partitions:,} day partitions): about ${cost:,.4f} at "
                f"${PRICE_PER_TB:g}/TB, {_size(MIN_BILLED_BYTES)} minimum")


def estimate(s3: Any, trail: Trail, *, accounts: list[str], regions: list[str],
             since: datetime, until: datetime) -> Estimate:
    """Bytes in the partitions the query reads (an upper bound: Athena reads them all)."""
    total = objects = partitions = 0
    paginator = s3.get_paginator("list_objects_v2")
    for account in accounts:
        for region in regions:
            for day in days(since, until):
                partitions += 1
                for page in paginator.paginate(Bucket=trail.bucket,
                                               Prefix=trail.partition(account, region, day)):
                    for entry in page.get("Contents", []):
                        objects += 1
                        total += int(entry.get("Size", 0))
    return Estimate(bytes=total, objects=objects, partitions=partitions)


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024:
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} TB"


def run_query(athena: Any, trail: Trail, sql: str, params: list[str],
              sleep: Callable[[float], None] = time.sleep) -> str:
    """Start the query and wait for it to finish; returns its execution id."""
    request: dict[str, Any] = {"QueryString": sql, "ExecutionParameters": params,
                               "WorkGroup": trail.workgroup,
                               "QueryExecutionContext": {"Database": trail.database}}
    if trail.output:
        request["ResultConfiguration"] = {"OutputLocation": trail.output}
    qid = str(athena.start_query_execution(**request)["QueryExecutionId"])

    def check() -> tuple[str | None, dict[str, Any]]:
        status = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]
        return status.get("State"), status

    wait_for_query(check, name=f"Athena query {qid}", done="SUCCEEDED",
                   failed={"FAILED": False, "CANCELLED": False}, reason="StateChangeReason",
                   fix="check the table exists (rescind timeline athena-table) and the "
                       "responder may read the trail bucket", sleep=sleep)
    return qid


def record_of(row: dict[str, str | None]) -> dict[str, Any]:
    """One result row (column name → text) as a CloudTrail record."""
    record: dict[str, Any] = {}
    identity: dict[str, Any] = {}
    for name, value in row.items():
        if value in (None, ""):
            continue
        if name.startswith("ui_"):
            identity[name[3:]] = value
        elif name in _JSON_COLUMNS:
            try:
                record[name] = json.loads(str(value))
            except ValueError:
                record[name] = value
        else:
            record[name] = value
    record["userIdentity"] = identity
    return record


def rows_of(page: dict[str, Any], first: bool) -> list[dict[str, str | None]]:
    """A page's rows by column name; a SELECT's first page starts with the labels."""
    columns = [c.get("Label") or c.get("Name") for c in
               page.get("ResultSet", {}).get("ResultSetMetadata", {}).get("ColumnInfo", [])]
    rows = [[d.get("VarCharValue") for d in r.get("Data", [])]
            for r in page.get("ResultSet", {}).get("Rows", [])]
    if first and rows and rows[0] == columns:
        rows = rows[1:]
    return [dict(zip(columns, values, strict=False)) for values in rows]


def pull_athena(athena: Any, trail: Trail, lookup: tuple[str, str], *, accounts: list[str],
                regions: list[str], since: datetime, until: datetime,
                progress: Callable[[PullProgress], None] | None = None,
                evidence_dir: Path | None = None) -> PullResult:
    """Run the query and read every page: the same PullResult LookupEvents gives."""
    sql, params = build_query(trail, lookup, accounts=accounts, regions=regions,
                              since=since, until=until)
    qid = run_query(athena, trail, sql, params)
    # Page by page (NextToken followed): only one page of rows is held at a time.
    paginator = athena.get_paginator("get_query_results").paginate(QueryExecutionId=qid)
    pages = ([record_of(row) for row in rows_of(page, n == 0)]
             for n, page in enumerate(paginator))
    return spool_pages(pages, from_record, (MalformedRecord,),
                       evidence=evidence_dir / f"athena-{qid}.jsonl" if evidence_dir else None,
                       shape="Records", done=list(regions), lookup=lookup, progress=progress)
