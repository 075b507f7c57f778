"""Pull Cloud Audit Logs from a log sink's BigQuery dataset (``via: bigquery``).

``entries.list`` allows 60 requests a minute per project and reads what Logging
still retains; a sink to BigQuery keeps every project's audit entries as long as the
dataset does, and one query reads them all. A sink writes one table per log
(``cloudaudit_googleapis_com_activity``, ``..._data_access``, ...), partitioned by
``timestamp``, with the AuditLog under ``protopayload_auditlog`` (its Struct fields
as JSON text: ``requestJson``, ``responseJson``, ``metadataJson``; IAM's policy delta
as ``servicedata_v1_iam``). Each row is turned back into the LogEntry entries.list
returns, so ``gcp_audit.from_entry`` makes the same Event from it.

Every value (window, principal, key, projects) is a named query parameter; only the
dataset's name is SQL text, and settings hold it to letters, digits, ``_ - . :``.
Before it runs, a dry run says how many bytes the query will scan (BigQuery bills
on-demand queries by bytes processed, at least 10 MB a table).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rescind.errors import ActionError, UsageError
from rescind.timeline.gcp_audit import AUDIT_TYPE, MalformedEntry, NotAudit, from_entry
from rescind.timeline.pull import PullProgress, PullResult, _unique
from rescind.timeline.query_pages import spool_pages

# On-demand list price (US multi-region), per TiB scanned; 10 MB minimum per table read.
PRICE_PER_TIB = 6.25
PAGE_SIZE = 1000
DATASET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9:._-]*\.[A-Za-z0-9_]+$")
_STAMP = "'%Y-%m-%dT%H:%M:%E6SZ'"
_JSON_FIELDS = (("requestJson", "request"), ("responseJson", "response"),
                ("metadataJson", "metadata"))


def check_dataset(dataset: str | None) -> str:
    if not dataset or not DATASET.match(dataset):
        raise UsageError(f"{dataset!r} does not name a BigQuery dataset" if dataset else
                         "BigQuery needs the log sink's dataset",
                         fix='set gcp.bigquery_dataset = "PROJECT.DATASET" (the sink\'s '
                             "destination) in rescind.toml (docs/scale.md)")
    return dataset


def build_query(dataset: str, lookup: tuple[str, str], *, projects: list[str],
                since: datetime, until: datetime) -> tuple[str, list[Any]]:
    """(SQL with ``@name`` parameters, the parameters), values never in the SQL."""
    from google.cloud import bigquery

    kind, value = lookup
    if kind == "principal":
        match = "LOWER(protopayload_auditlog.authenticationInfo.principalEmail) = @who"
        who = bigquery.ScalarQueryParameter("who", "STRING", value.lower())
    else:
        match = ("ENDS_WITH(protopayload_auditlog.authenticationInfo.serviceAccountKeyName, "
                 "@who)")
        who = bigquery.ScalarQueryParameter("who", "STRING", f"/keys/{value}")
    sql = (f"SELECT insertId, logName, severity, "
           f"FORMAT_TIMESTAMP({_STAMP}, timestamp) AS timestamp, "
           f"FORMAT_TIMESTAMP({_STAMP}, receiveTimestamp) AS receiveTimestamp, "
           "TO_JSON_STRING(resource) AS resource, "
           "TO_JSON_STRING(protopayload_auditlog) AS protopayload_auditlog "
           f"FROM `{check_dataset(dataset)}.cloudaudit_googleapis_com_*` "
           "WHERE timestamp BETWEEN @since AND @until "
           "AND resource.labels.project_id IN UNNEST(@projects) "
           f"AND {match} ORDER BY timestamp, insertId")
    params = [bigquery.ScalarQueryParameter("since", "TIMESTAMP", since.astimezone(UTC)),
              bigquery.ScalarQueryParameter("until", "TIMESTAMP", until.astimezone(UTC)),
              bigquery.ArrayQueryParameter("projects", "STRING", projects), who]
    return sql, params


def entry_of(row: dict[str, Any]) -> dict[str, Any]:
    """A sink row as the LogEntry entries.list returns (camelCase, Structs as objects)."""
    payload = _json(row.get("protopayload_auditlog")) or {}
    for flat, key in _JSON_FIELDS:
        if payload.get(flat):
            payload[key] = _json(payload.pop(flat))
    iam = payload.pop("servicedata_v1_iam", None)
    if iam:
        payload["serviceData"] = iam
    entry = {k: row[k] for k in ("insertId", "logName", "severity", "timestamp",
                                 "receiveTimestamp") if row.get(k) is not None}
    entry["resource"] = _json(row.get("resource")) or {}
    entry["protoPayload"] = {"@type": AUDIT_TYPE, **payload}
    return entry


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _config(params: list[Any], *, dry_run: bool) -> Any:
    from google.cloud import bigquery

    return bigquery.QueryJobConfig(query_parameters=params, dry_run=dry_run,
                                   use_query_cache=not dry_run, use_legacy_sql=False)


def dry_run_bytes(client: Any, sql: str, params: list[Any]) -> int:
    """Blocking: the bytes the query will scan, from a dry run (nothing runs, free)."""
    job = client.query(sql, job_config=_config(params, dry_run=True))
    return int(job.total_bytes_processed or 0)


def describe_cost(scanned: int) -> str:
    cost = scanned / 2**40 * PRICE_PER_TIB
    return (f"BigQuery will scan {_size(scanned)} ({scanned:,} bytes, dry run): about "
            f"${cost:,.4f} on demand at ${PRICE_PER_TIB:g}/TiB, 10 MB minimum per table")


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} TB"


def pull_bigquery(client: Any, dataset: str, lookup: tuple[str, str], *, projects: list[str],
                  since: datetime, until: datetime,
                  progress: Callable[[PullProgress], None] | None = None,
                  evidence_dir: Path | None = None) -> PullResult:
    """Blocking: run the query, read it page by page (pageToken), one Event per row."""
    from rescind.providers.gcp_errors import translate_error

    if since > until:
        raise UsageError("--since is after --until", fix="swap them")
    sql, params = build_query(dataset, lookup, projects=projects, since=since, until=until)
    evidence = _unique(evidence_dir / f"gcp-bigquery-{lookup[0]}.jsonl") if evidence_dir else None
    try:
        rows = client.query_and_wait(sql, job_config=_config(params, dry_run=False),
                                     page_size=PAGE_SIZE)
        # Each page in entries.list's shape, which `timeline convert` reads back.
        pages = ([entry_of(dict(row.items())) for row in page] for page in rows.pages)
        return spool_pages(pages, from_entry, (NotAudit, MalformedEntry, ValueError),
                           evidence=evidence, shape="entries", done=list(projects),
                           lookup=lookup, progress=progress)
    except (ActionError, UsageError):
        raise
    except Exception as exc:
        raise translate_error(exc, permission="bigquery.jobs.create",
                              resource=f"dataset {dataset}") from None
