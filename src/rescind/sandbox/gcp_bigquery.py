"""The simulated project's log sink dataset, served as BigQuery's REST API.

The dataset holds what a sink of the audit logs would have written: one table per
log (``cloudaudit_googleapis_com_activity``...), each entry flattened as the sink
flattens it (``protopayload_auditlog``, Structs as ``requestJson``...), read live
from the project's log. Served: ``jobs.insert`` (a query, or its dry run answering
``totalBytesProcessed``), ``jobs.query``, ``jobs.get`` and ``jobs.getQueryResults``
with ``pageToken`` paging.

The SQL understood is what rescind sends: ``SELECT`` of columns, ``FORMAT_TIMESTAMP``
and ``TO_JSON_STRING`` of columns ``FROM`` one (wildcard) table ``WHERE`` a
conjunction of ``BETWEEN @a AND @b``, ``= @p`` (of a column or its ``LOWER``),
``ENDS_WITH(col, @p)`` and ``IN UNNEST(@p)``, ``ORDER BY`` columns. A value written
into the SQL instead of passed as a parameter is refused, as is everything else.
Every statement received is kept in ``statements`` for tests.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from rescind.sandbox.gcp_state import FakeError, GcpState

SINK_DATASET = "audit_sink"
# The top-level columns of a sink's audit log table (LogEntry's fields).
SINK_COLUMNS = frozenset({"insertId", "logName", "severity", "timestamp", "receiveTimestamp",
                          "resource", "protopayload_auditlog", "httpRequest", "operation",
                          "trace", "spanId", "traceSampled", "sourceLocation", "split",
                          "labels"})
_TOKEN = re.compile(r"\s*(`[^`]*`|'(?:[^'\\]|\\.)*'|@\w+|>=|<=|!=|[(),=*]|[A-Za-z_][\w.]*)")
_SELECT = re.compile(r"^SELECT\s+(?P<cols>.+?)\s+FROM\s+`(?P<table>[^`]+)`\s+WHERE\s+"
                     r"(?P<where>.+?)\s+ORDER\s+BY\s+(?P<order>.+)$", re.S | re.I)
_FUNCTION_COLUMN = re.compile(
    r"^(?:(?P<fn>FORMAT_TIMESTAMP|TO_JSON_STRING)\((?:'[^']*',\s*)?(?P<inner>[\w.]+)\)"
    r"|(?P<plain>[\w.]+))(?:\s+AS\s+(?P<alias>\w+))?$", re.I)


def sink_row(entry: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(table, row): a LogEntry as a log sink writes it into BigQuery."""
    payload = {k: v for k, v in dict(entry.get("protoPayload") or {}).items() if k != "@type"}
    for key, flat in (("request", "requestJson"), ("response", "responseJson"),
                      ("metadata", "metadataJson")):
        if key in payload:
            payload[flat] = json.dumps(payload.pop(key))
    if "serviceData" in payload:
        payload["servicedata_v1_iam"] = {k: v for k, v in payload.pop("serviceData").items()
                                         if k != "@type"}
    log = str(entry.get("logName", "")).rsplit("/", 1)[-1].replace("%2F", "/")
    table = re.sub(r"[^A-Za-z0-9]", "_", log)
    row = {k: entry.get(k) for k in ("insertId", "logName", "severity", "timestamp",
                                     "receiveTimestamp", "resource")}
    row["protopayload_auditlog"] = payload
    return table, row


def _when(value: Any) -> datetime:
    text = str(value).replace(" ", "T").replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:  # BigQuery's microseconds, Logging's nanoseconds: six digits are enough
        digits = "".join(ch for ch in rest if ch.isdigit())
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest[len(digits):]}"
    when = datetime.fromisoformat(text)
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


def _known(path: str) -> str:
    """``path`` when its column exists (else the service's "Unrecognized name")."""
    if path.split(".")[0] not in SINK_COLUMNS:
        raise FakeError("INVALID_ARGUMENT", f"Unrecognized name: {path.split('.')[0]}")
    return path


def _value_at(row: dict[str, Any], path: str) -> Any:
    value: Any = row
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _sort_key(path: str, row: dict[str, Any]) -> str:
    return str(_value_at(row, path) or "")


def _params(body: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for param in body.get("queryParameters") or []:
        kind = param.get("parameterType", {}).get("type")
        value = param.get("parameterValue", {})
        if kind == "ARRAY":
            found[param["name"]] = [v.get("value") for v in value.get("arrayValues") or []]
        elif kind == "TIMESTAMP":
            found[param["name"]] = _when(value.get("value"))
        else:
            found[param["name"]] = value.get("value")
    return found


class _Where:
    """A conjunction of the terms rescind writes, over parameters only."""

    def __init__(self, text: str, params: dict[str, Any]) -> None:
        self.tokens = [m.group(1) for m in _TOKEN.finditer(text)]
        if "".join(self.tokens).replace(" ", "") != re.sub(r"\s+", "", text):
            raise FakeError("INVALID_ARGUMENT", f"Syntax error in WHERE: {text}")
        self.pos, self.params = 0, params
        self.window: tuple[datetime, datetime] | None = None
        self.tests = [self.term()]
        while self.word("AND"):
            self.tests.append(self.term())
        if self.pos != len(self.tokens):
            raise FakeError("INVALID_ARGUMENT", f"Syntax error at {self.tokens[self.pos]!r}")

    def word(self, value: str) -> bool:
        if self.pos < len(self.tokens) and self.tokens[self.pos].upper() == value:
            self.pos += 1
            return True
        return False

    def next(self) -> str:
        if self.pos >= len(self.tokens):
            raise FakeError("INVALID_ARGUMENT", "Syntax error: unexpected end of WHERE")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def param(self) -> Any:
        name = self.next()
        if name.startswith("'"):
            raise FakeError("INVALID_ARGUMENT", "the simulated dataset takes values only as "
                                                f"query parameters, not {name}")
        if not name.startswith("@") or name[1:] not in self.params:
            raise FakeError("INVALID_ARGUMENT", f"Query parameter {name} not found")
        return self.params[name[1:]]

    def expect(self, token: str) -> None:
        if self.next().upper() != token:
            raise FakeError("INVALID_ARGUMENT", f"Syntax error: expected {token}")

    def term(self) -> Any:
        first = self.next()
        if first.upper() in ("LOWER", "ENDS_WITH"):
            self.expect("(")
            path = _known(self.next())
            if first.upper() == "ENDS_WITH":
                self.expect(",")
                suffix = str(self.param())
                self.expect(")")
                return lambda r: str(_value_at(r, path) or "").endswith(suffix)
            self.expect(")")
            self.expect("=")
            wanted = str(self.param())
            return lambda r: str(_value_at(r, path) or "").lower() == wanted
        path = _known(first)
        if self.word("BETWEEN"):
            low = self.param()
            self.expect("AND")
            high = self.param()
            if path == "timestamp":
                self.window = (low, high)
            return lambda r: r.get(path) is not None and low <= _when(_value_at(r, path)) <= high
        if self.word("IN"):
            self.expect("UNNEST")
            self.expect("(")
            values = list(self.param())
            self.expect(")")
            return lambda r: _value_at(r, path) in values
        self.expect("=")
        wanted = self.param()
        return lambda r: _value_at(r, path) == wanted


class BigQueryFake:
    """jobs.* of BigQuery's REST API over the project's sink dataset."""

    def __init__(self, state: GcpState, dataset: str = SINK_DATASET) -> None:
        self.state = state
        self.dataset = dataset
        self.statements: list[dict[str, Any]] = []
        self.jobs: dict[str, dict[str, Any]] = {}

    def tables(self) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        for entry in self.state.sorted_log():
            name, row = sink_row(entry)
            found.setdefault(name, []).append(row)
        return found

    def handle(self, method: str, path: str, query: dict[str, list[str]],
               body: dict[str, Any]) -> Any:
        match = re.match(r"^/bigquery/v2/projects/(?P<p>[^/]+)/(?P<kind>jobs|queries)"
                         r"(?:/(?P<job>[^/]+))?$", path)
        if match is None:
            raise FakeError("NOT_FOUND", f"{method} {path} is not part of the simulated dataset")
        project, kind, job = match.group("p"), match.group("kind"), match.group("job")
        if method == "POST" and job is None:
            self.state.admit("bigquery.jobs.create")
            if kind == "queries":
                return self._run(project, str(body.get("query") or ""), body,
                                 dry=bool(body.get("dryRun")), size=body.get("maxResults"))
            config = body.get("configuration") or {}
            if "query" not in config:
                raise FakeError("INVALID_ARGUMENT", "the simulated dataset runs query jobs only")
            ran = self._run(project, str(config["query"].get("query") or ""), config["query"],
                            dry=bool(config.get("dryRun")), size=0)
            return self._job(ran["jobReference"]["jobId"], project, config)
        if method == "GET" and job is not None:
            self.state.admit("bigquery.jobs.get")
            if job not in self.jobs:
                raise FakeError("NOT_FOUND", f"Not found: Job {project}:{job}")
            if kind == "jobs":
                return self._job(job, project, self.jobs[job]["config"])
            size = int((query.get("maxResults") or ["0"])[0] or 0) or None
            token = (query.get("pageToken") or [""])[0]
            return self._page(job, project, token, size)
        raise FakeError("NOT_FOUND", f"{method} {path} is not part of the simulated dataset")

    def _run(self, project: str, sql: str, params_body: dict[str, Any], *, dry: bool,
             size: Any) -> dict[str, Any]:
        self.statements.append({"query": sql, "dryRun": dry})
        match = _SELECT.match(sql.strip())
        if match is None:
            raise FakeError("INVALID_ARGUMENT", "the simulated dataset answers one SELECT ... "
                                                "FROM ... WHERE ... ORDER BY ...")
        columns = [self._column(c.strip()) for c in _split(match.group("cols"))]
        names = match.group("table").split(".")
        if len(names) != 3 or names[1] != self.dataset:
            raise FakeError("NOT_FOUND", f"Not found: Dataset {'.'.join(names[:2])}")
        prefix = names[2].rstrip("*")
        tables = {n: rows for n, rows in self.tables().items()
                  if (n.startswith(prefix) if names[2].endswith("*") else n == prefix)}
        where = _Where(match.group("where"), _params(params_body))
        rows = [r for rows in tables.values() for r in rows if all(t(r) for t in where.tests)]
        for key in reversed([_known(k.strip()) for k in match.group("order").split(",")]):
            rows.sort(key=functools.partial(_sort_key, key))
        scanned = self._scanned(tables, {c[1].split(".")[0] for c in columns}, where.window)
        job_id = f"job_{uuid.uuid4().hex[:16]}"
        self.jobs[job_id] = {"rows": [[fn(_value_at(r, col)) for _, col, fn in columns]
                                      for r in rows],
                             "schema": {"fields": [{"name": a, "type": "STRING",
                                                    "mode": "NULLABLE"} for a, _, _ in columns]},
                             "bytes": scanned, "dry": dry,
                             "config": {"query": params_body, "dryRun": dry}}
        if dry:
            return {"jobReference": {"projectId": project, "jobId": job_id}}
        return self._page(job_id, project, "", int(size) if size else None)

    @staticmethod
    def _column(text: str) -> tuple[str, str, Any]:
        match = _FUNCTION_COLUMN.match(text)
        if match is None:
            raise FakeError("INVALID_ARGUMENT", f"the simulated dataset cannot select {text}")
        column = _known(match.group("inner") or match.group("plain"))
        fn = (match.group("fn") or "").upper()
        alias = match.group("alias") or column.rsplit(".", 1)[-1]
        if fn == "TO_JSON_STRING":
            return alias, column, lambda v: json.dumps(v, separators=(",", ":"))
        if fn == "FORMAT_TIMESTAMP":
            return alias, column, lambda v: None if v is None else \
                _when(v).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return alias, column, lambda v: None if v is None else str(v)

    @staticmethod
    def _scanned(tables: dict[str, list[dict[str, Any]]], columns: set[str],
                 window: tuple[datetime, datetime] | None) -> int:
        """Bytes of the columns read, in the day partitions of the window (what the
        service bills; the real service counts its own storage sizes)."""
        total = 0
        for rows in tables.values():
            for row in rows:
                day = _when(row["timestamp"]).date()
                if window is not None and not window[0].date() <= day <= window[1].date():
                    continue
                total += sum(len(json.dumps(row.get(c), default=str)) for c in
                             columns | {"timestamp"})
        return total

    def _job(self, job_id: str, project: str, config: dict[str, Any]) -> dict[str, Any]:
        job = self.jobs[job_id]
        scanned = str(job["bytes"])
        return {"kind": "bigquery#job", "id": f"{project}:US.{job_id}",
                "jobReference": {"projectId": project, "jobId": job_id, "location": "US"},
                "configuration": config, "status": {"state": "DONE"},
                "statistics": {"totalBytesProcessed": scanned,
                               "query": {"totalBytesProcessed": scanned,
                                         "totalBytesBilled": "0" if job["dry"] else scanned,
                                         "cacheHit": False, "statementType": "SELECT"}}}

    def _page(self, job_id: str, project: str, token: str, size: int | None) -> dict[str, Any]:
        job = self.jobs[job_id]
        start = int(base64.urlsafe_b64decode(token).decode()) if token else 0
        end = len(job["rows"]) if size is None else start + size
        answer: dict[str, Any] = {
            "kind": "bigquery#queryResponse", "schema": job["schema"],
            "jobReference": {"projectId": project, "jobId": job_id, "location": "US"},
            "totalRows": str(len(job["rows"])), "jobComplete": True, "cacheHit": False,
            "totalBytesProcessed": str(job["bytes"]),
            "rows": [{"f": [{"v": v} for v in row]} for row in job["rows"][start:end]]}
        if end < len(job["rows"]):
            answer["pageToken"] = base64.urlsafe_b64encode(str(end).encode()).decode()
        return answer


def _split(text: str) -> list[str]:
    """Comma-separated items at the top level (not inside parentheses or quotes)."""
    items, depth, quoted, current = [], 0, False, ""
    for ch in text:
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch in "()":
            depth += 1 if ch == "(" else -1
        if ch == "," and depth == 0 and not quoted:
            items.append(current)
            current = ""
        else:
            current += ch
    return [*items, current]
