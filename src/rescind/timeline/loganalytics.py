"""Pull Entra and Azure history with KQL from a Log Analytics workspace (``via: log-analytics``).

Graph's audit logs allow 5 requests per 10 s and keep 30 days; the Activity Log API
reads one subscription at a time. A workspace that receives the tenant's diagnostic
settings (SigninLogs, AuditLogs, AADServicePrincipalSignInLogs) and the
subscriptions' Activity Log (AzureActivity) answers one query per table, over as
long as the workspace retains. Rows have the Graph record's fields in PascalCase
(dynamic columns as JSON text), which ``entra_records`` already reads, so the
events are the same as Graph's and the Activity Log's.

The query API takes no parameters: each value is a KQL string literal made by
``kql_string`` (quotes and backslashes escaped, control characters refused), never
pasted. A result past the service's limits (500,000 rows, about 100 MB) comes back partial;
the window is then halved and each half queried again, so nothing is silently cut.

The pull streams like the other query engines' (``query_pages``): each answer's rows
are written to the evidence and their events go into a spool as the answer arrives,
so memory holds one answer (the API has no pages), not the pull; only identical
records are de-duplicated, by the spool's merge.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import groupby, islice
from pathlib import Path
from typing import IO, Any

from rescind.errors import ActionError, UsageError
from rescind.redaction import redact
from rescind.timeline.entra_records import correlation_of, fold_operation, to_event
from rescind.timeline.event import Event
from rescind.timeline.export import open_private
from rescind.timeline.pull import PullProgress, PullResult, _spooled, _unique
from rescind.timeline.spool import EVENTS, Spool

QUERY_ACTION = "Microsoft.OperationalInsights/workspaces/query/read"
# A window this short that still comes back partial is not split again.
MIN_WINDOW = timedelta(seconds=1)
# Rows a line of the evidence file holds: one answer may hold 500,000.
EVIDENCE_ROWS = 1_000


@dataclass(frozen=True)
class Query:
    """One table and whose rows in it: ``condition`` is KQL over that table's columns."""

    table: str
    condition: str
    id_column: str = "Id"  # AzureActivity has none: its rows are EventDataId

    def text(self, since: datetime, until: datetime, *, count: bool = False) -> str:
        return (f"{self.table}\n| where TimeGenerated between "
                f"(datetime({_stamp(since)}) .. datetime({_stamp(until)}))\n"
                f"| where {self.condition}\n"
                + ("| count" if count else
                   f"| order by TimeGenerated asc, {self.id_column} asc"))


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def kql_string(value: str) -> str:
    """``value`` as a KQL string literal: quotes and backslashes escaped; a control
    character (a line break could end the ``where``) is refused, not escaped."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise UsageError(f"{value!r} holds a control character",
                         fix="give the id or name exactly as Entra shows it")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def entra_queries(kind: str, object_id: str) -> list[Query]:
    """A user's or a service principal's sign-ins, and the audits they started or
    that touched them (Graph's three filters, as KQL)."""
    oid = kql_string(object_id)
    if kind == "user":
        return [Query("SigninLogs", f"UserId == {oid}"),
                Query("AuditLogs", f"tostring(InitiatedBy.user.id) == {oid} or "
                                   f"TargetResources has {oid}")]
    return [Query("AADServicePrincipalSignInLogs", f"ServicePrincipalId == {oid}"),
            Query("AuditLogs", f"tostring(InitiatedBy.app.servicePrincipalId) == {oid} or "
                               f"TargetResources has {oid}")]


def activity_queries(caller: str, subscription: str) -> list[Query]:
    return [Query("AzureActivity", f"Caller =~ {kql_string(caller)} and "
                                   f"SubscriptionId =~ {kql_string(subscription)}",
                  id_column="EventDataId")]


Answer = tuple[datetime, datetime, Iterator[dict[str, Any]]]


def _answers(client: Any, workspace: str, query: Query, since: datetime,
             until: datetime) -> Iterator[Answer]:
    """Each whole answer of ``query`` (its window and its rows), oldest window first,
    halving the window while the answer is partial. The query API has no pages: one
    answer (at most the service's 500,000 rows) is in memory at a time."""
    from azure.monitor.query import LogsQueryStatus

    from rescind.providers.entra_errors import translate_arm

    try:
        result = client.query_workspace(workspace, query.text(since, until),
                                        timespan=(since, until))
    except Exception as exc:
        raise translate_arm(exc, action=QUERY_ACTION,
                            resource=f"{query.table} in workspace {workspace}") from None
    if result.status == LogsQueryStatus.PARTIAL:
        if until - since <= MIN_WINDOW:
            error = result.partial_error
            raise ActionError(f"Log Analytics cut the {query.table} rows of one second short: "
                              f"{getattr(error, 'message', error)}", retryable=False,
                              fix="ask for less: a narrower principal, or export the table")
        del result  # the cut answer is not read: free it before asking for the halves
        middle = since + (until - since) / 2
        yield from _answers(client, workspace, query, since, middle)
        yield from _answers(client, workspace, query, middle, until)
        return
    yield since, until, (dict(zip(table.columns, list(row), strict=False))
                         for table in result.tables for row in table.rows)


def _chunks(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """``rows`` EVIDENCE_ROWS at a time; an empty answer is one empty chunk (the
    evidence still shows the window was asked for)."""
    chunk = list(islice(rows, EVIDENCE_ROWS))
    yield chunk
    while chunk := list(islice(rows, EVIDENCE_ROWS)):
        yield chunk


def count_rows(client: Any, workspace: str, queries: list[Query], since: datetime,
               until: datetime) -> dict[str, int]:
    """Rows each query would return (``| count``): what the plan shows before a pull."""
    from rescind.providers.entra_errors import translate_arm

    counts: dict[str, int] = {}
    for query in queries:
        try:
            result = client.query_workspace(workspace, query.text(since, until, count=True),
                                            timespan=(since, until))
        except Exception as exc:
            raise translate_arm(exc, action=QUERY_ACTION,
                                resource=f"{query.table} in workspace {workspace}") from None
        tables = getattr(result, "tables", None) or getattr(result, "partial_data", [])
        rows = [list(r) for t in tables for r in t.rows]
        counts[query.table] = counts.get(query.table, 0) + int(rows[0][0] if rows else 0)
    return counts


def describe_cost(counts: dict[str, int], since: datetime, until: datetime) -> str:
    tables = ", ".join(f"{name} {n:,}" for name, n in counts.items())
    days = max(1, round((until - since).total_seconds() / 86400))
    return (f"Log Analytics will return {sum(counts.values()):,} rows ({tables}) over "
            f"{days} days: queries of Analytics-plan tables are not billed per query "
            "(Basic and Auxiliary plan tables are, per GB scanned)")


def pull_workspace(client: Any, workspace: str, queries: list[Query], *, since: datetime,
                   until: datetime, lookup: tuple[str, str],
                   progress: Callable[[PullProgress], None] | None = None,
                   evidence_dir: Path | None = None) -> PullResult:
    """Blocking: every row of ``queries`` as Events (the Activity Log's folded per
    operation), raw rows written to ``evidence_dir`` (redacted) as each answer arrives.
    The events wait in a spool, each identical record once (two rows that share an id
    but differ are both kept): ``close()`` the result when done."""
    if since > until:
        raise UsageError("--since is after --until", fix="swap them")
    spool = Spool()
    # Activity Log rows are folded per operation (correlationId). Ordering the KQL by
    # CorrelationId would group them only within one answer, but a cut answer is asked
    # for again in halves of its window, so one operation's Started and Succeeded rows
    # can come in two answers. An external sort by correlationId groups them whatever
    # the answers, with one run and one operation in memory.
    operations = Spool(codec=replace(EVENTS, key=_by_operation))
    pages = count = malformed = 0
    path: Path | None = None
    sink: IO[str] | None = None
    try:
        if evidence_dir is not None:
            evidence_dir.mkdir(parents=True, exist_ok=True)
            path = _unique(evidence_dir / f"log-analytics-{workspace}.jsonl")
            sink = open_private(path)
        for query in queries:
            for low, high, rows in _answers(client, workspace, query, since, until):
                pages += 1
                for chunk in _chunks(rows):
                    if sink is not None:
                        page = {"table": query.table, "window": [_stamp(low), _stamp(high)],
                                "rows": chunk}
                        sink.write(json.dumps(redact(page), separators=(",", ":"),
                                              default=str) + "\n")
                    for row in chunk:
                        try:
                            event = to_event(row)
                        except ValueError:
                            malformed += 1
                            continue
                        count += 1
                        if correlation_of(event):
                            operations.add(event)
                        else:
                            _keep(spool, event)
                if progress is not None:
                    progress(PullProgress(events=count, pages=pages, regions_done=[],
                                          regions_total=1, throttled=0, region="global"))
        copies = 0
        for _, group in groupby(operations, key=correlation_of):
            distinct = _distinct(group)
            copies += distinct.copies
            _keep(spool, fold_operation(distinct.events))
        part = PullResult(events=[], pages=pages, regions_done=["global"], throttled=0,
                          raw_pages_paths=[path] if path is not None else [],
                          malformed=malformed, lookups=[lookup])
        result = _spooled(spool, [part], ["global"])
        result.duplicates += copies
        return result
    except BaseException:
        spool.close()
        raise
    finally:
        operations.close()
        if sink is not None:
            sink.close()


@dataclass
class _Distinct:
    events: list[Event]
    copies: int


def _distinct(group: Iterator[Event]) -> _Distinct:
    """One operation's rows, each identical copy once: a row at the instant where a cut
    answer was halved comes back in both halves (``between`` keeps both ends), and
    folded twice it would read as an operation that started before it ended."""
    events: list[Event] = []
    copies = 0
    for event in group:  # one operation: a few rows
        if any(event == kept for kept in events):
            copies += 1
        else:
            events.append(event)
    return _Distinct(events, copies)


def _by_operation(event: Event) -> tuple[str, datetime, str]:
    return (correlation_of(event), event.time, event.uid)


def _keep(spool: Spool, event: Event) -> None:
    event.relevant = event.relevant or event.result == "failure"
    spool.add(event)
