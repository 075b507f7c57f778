"""Pull a principal's CloudTrail history with CloudTrail Lake (StartQuery on an event data store).

An event data store keeps an account's (or an organisation's) events for up to ten
years, every region, queried with SQL: one query instead of LookupEvents' per-account,
per-region 2 requests/s. CloudTrail Lake takes no query parameters for an ad-hoc
statement (its ``QueryParameters`` only fill a saved query alias's template), so the
values must be written into the SQL text. Every one is therefore checked against a
strict pattern first (an event data store id or ARN, a 12-digit account, a region,
an access key id, an IAM name, a role ARN; times are formatted here from datetimes),
and anything else is refused with a message naming the fix: a value that matches
cannot hold a quote, a comment or a second statement. Results are read page by page
(GetQueryResults, NextToken followed), written raw to the evidence folder and mapped
to the same CloudTrail records LookupEvents yields.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rescind.errors import UsageError
from rescind.providers.aws_names import ACCESS_KEY_PATTERN
from rescind.timeline.athena import SELECTED, record_of
from rescind.timeline.cloudtrail import MalformedRecord, from_record
from rescind.timeline.pull import PullProgress, PullResult
from rescind.timeline.query_pages import spool_pages, wait_for_query

# The one place CloudTrail Lake's price is said: billed per GB scanned (no estimate
# exists before a query runs; DescribeQuery reports BytesScanned after).
BILLING = "CloudTrail Lake bills per GB scanned; the bytes are known only after the query"
EDS_ID = re.compile(r"^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$")
EDS_ARN = re.compile(r"^arn:aws[a-z-]*:cloudtrail:[a-z]{2}(-[a-z]+)+-\d:\d{12}:"
                     r"eventdatastore/([A-Za-z0-9]+(-[A-Za-z0-9]+)*)$")
_VALUES = {
    "AccessKeyId": re.compile(ACCESS_KEY_PATTERN),
    "Username": re.compile(r"^[\w+=,.@-]{1,128}$"),
    "role": re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/([\w+=,.@-]+/)*[\w+=,.@-]{1,64}$"),
    "role_name": re.compile(r"^[\w+=,.@-]{1,64}$"),
}
# Who to look for: the lookup kind → the field holding it.
FIELDS = {
    "AccessKeyId": "userIdentity.accessKeyId",
    "Username": "userIdentity.userName",
    "role": "userIdentity.sessionContext.sessionIssuer.arn",
    "role_name": "userIdentity.sessionContext.sessionIssuer.userName",
}
_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
PAGE_ROWS = 1000  # GetQueryResults' MaxQueryResults ceiling


def event_data_store_id(value: str) -> str:
    """The id the SQL's FROM names, from an event data store's id or ARN (checked)."""
    arn = EDS_ARN.match(value)
    if arn:
        return arn.group(2)
    if EDS_ID.match(value) and 3 <= len(value) <= 128:
        return value
    raise UsageError(f"{value[:80]!r} is not an event data store id or ARN",
                     fix="set aws.event_data_store to the ARN from `aws cloudtrail "
                         "list-event-data-stores` (arn:aws:cloudtrail:REGION:ACCOUNT:"
                         "eventdatastore/ID)")


def _checked(value: str, pattern: re.Pattern[str], what: str, fix: str) -> str:
    if not pattern.match(value):
        raise UsageError(f"{value[:80]!r} is not {what}: CloudTrail Lake has no query "
                         "parameters, so rescind writes only checked values into its SQL",
                         fix=fix)
    return value


def _literal(value: str) -> str:
    return f"'{value}'"  # only ever a value that passed a pattern without quotes


def _time(when: datetime) -> str:
    return _checked(f"{when.astimezone(UTC):%Y-%m-%d %H:%M:%S}", _TIME, "a time",
                    "give the window as ISO times")


def build_query(event_data_store: str, lookup: tuple[str, str], *, regions: list[str],
                since: datetime, until: datetime, account: str | None = None) -> str:
    """The SELECT for one principal's events, every interpolated value checked first."""
    kind, value = lookup
    field = FIELDS.get(kind)
    if field is None:
        raise UsageError(f"CloudTrail Lake cannot look up {kind!r}",
                         fix=f"use one of {', '.join(FIELDS)}")
    _checked(value, _VALUES[kind], f"a valid {kind}",
             "an access key id is AKIA or ASIA and 16 capitals or digits; names are IAM "
             "names; a role is its name or arn:aws:iam::ACCOUNT:role/NAME")
    if not regions:
        raise UsageError("no region to query", fix="name the regions")
    for region in regions:
        _checked(region, _REGION, "an AWS region", "name regions like us-east-1")
    store = event_data_store_id(event_data_store)
    select = ", ".join(f"{_field(name)} AS {name}" for name in SELECTED)
    where = [f"eventTime >= {_literal(_time(since))}", f"eventTime <= {_literal(_time(until))}",
             f"awsRegion IN ({', '.join(_literal(r) for r in regions)})",
             f"{field} = {_literal(value)}"]
    if account is not None:
        where.append("recipientAccountId = "
                     + _literal(_checked(account, _ACCOUNT, "an account id",
                                         "give the 12-digit account id")))
    return (f"SELECT {select} FROM {store} WHERE {' AND '.join(where)} "
            "ORDER BY eventTime, eventID")


def _field(name: str) -> str:
    """A result column's source field: ``ui_x`` is ``userIdentity.x``."""
    return f"userIdentity.{name[3:]}" if name.startswith("ui_") else name


def run_query(cloudtrail: Any, sql: str,
              sleep: Callable[[float], None] = time.sleep) -> tuple[str, dict[str, Any]]:
    """Start the query and wait for it to finish: (query id, its statistics)."""
    qid = str(cloudtrail.start_query(QueryStatement=sql)["QueryId"])

    def check() -> tuple[str | None, dict[str, Any]]:
        described: dict[str, Any] = cloudtrail.describe_query(QueryId=qid)
        return described.get("QueryStatus"), described

    described = wait_for_query(
        check, name=f"CloudTrail Lake query {qid}", done="FINISHED",
        failed={"FAILED": False, "CANCELLED": False, "TIMED_OUT": True}, reason="ErrorMessage",
        fix="check aws.event_data_store names an enabled event data store the responder "
            "may query, then pull again", sleep=sleep)
    return qid, dict(described.get("QueryStatistics") or {})


def rows_of(page: dict[str, Any]) -> list[dict[str, str | None]]:
    """A GetQueryResults page's rows: each is a list of one-entry {column: value} maps."""
    rows: list[dict[str, str | None]] = []
    for row in page.get("QueryResultRows") or []:
        values: dict[str, str | None] = {}
        for column in row:
            values.update(column)
        rows.append(values)
    return rows


def scanned(statistics: dict[str, Any]) -> str:
    """What the query read, as DescribeQuery reports it after it finished."""
    size = int(statistics.get("BytesScanned") or 0)
    return (f"CloudTrail Lake scanned {size / 1e9:,.3f} GB ({size:,} bytes; "
            f"{int(statistics.get('EventsScanned') or 0):,} events): billed per GB scanned")


def pull_lake(cloudtrail: Any, event_data_store: str, lookup: tuple[str, str], *,
              regions: list[str], since: datetime, until: datetime,
              account: str | None = None,
              progress: Callable[[PullProgress], None] | None = None,
              evidence_dir: Path | None = None) -> PullResult:
    """Run the query and read every page: the same PullResult LookupEvents gives."""
    sql = build_query(event_data_store, lookup, regions=regions, since=since, until=until,
                      account=account)
    qid, statistics = run_query(cloudtrail, sql)

    def pages() -> Iterator[list[dict[str, Any]]]:
        request: dict[str, Any] = {"QueryId": qid, "MaxQueryResults": PAGE_ROWS}
        while True:  # GetQueryResults has no botocore paginator: follow NextToken
            page = cloudtrail.get_query_results(**request)
            yield [record_of(row) for row in rows_of(page)]
            token = page.get("NextToken")
            if not token:
                return
            request["NextToken"] = token

    evidence = evidence_dir / f"cloudtrail-lake-{qid}.jsonl" if evidence_dir else None
    result = spool_pages(pages(), from_record, (MalformedRecord,), evidence=evidence,
                         shape="Records", done=list(regions), lookup=lookup, progress=progress)
    result.notes.append(scanned(statistics))
    return result
