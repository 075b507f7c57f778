"""CloudTrail Lake for the simulated account: StartQuery, DescribeQuery, GetQueryResults.

moto has no CloudTrail Lake, so the fake CloudTrail (cloudtrail.py) answers these
three operations too, on the same endpoint and JSON 1.1 protocol as the real service,
over the same records it serves through LookupEvents (every region: an event data
store is not regional in what it holds). A query is a lone SELECT over one event data
store, in the small grammar below; anything else is InvalidQueryStatementException,
an unknown store EventDataStoreNotFoundException. Each DescribeQuery or
GetQueryResults moves a query one state on, QUEUED → RUNNING → FINISHED, so a client
must poll as it must against AWS; results page with NextToken, at most
MaxQueryResults (1–1000) rows, values as text. Every request is logged, for tests
to see what reached the service.

Grammar: ``SELECT field [AS name], ... FROM <store id> [WHERE cond [AND cond]...]
[ORDER BY field[, field]]``, a cond ``field (=|<|<=|>|>=) 'text'`` or
``field IN ('text', ...)``; fields are dotted, case-insensitive.
"""

from __future__ import annotations

import json
import operator
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rescind.sandbox.page_tokens import page_token, token_offset

OPERATIONS = frozenset({"StartQuery", "DescribeQuery", "GetQueryResults"})
# AWS's documented example event data store.
EXAMPLE_STORE_ID = "EXAMPLE-f852-4e8f-8bd1-bcf6cEXAMPLE"
_STATES = ("QUEUED", "RUNNING", "FINISHED")
_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<op><=|>=|[=<>(),*])"
                    r"|(?P<word>[A-Za-z0-9_][A-Za-z0-9_.-]*))")
_COMPARE = {"=": operator.eq, "<": operator.lt, "<=": operator.le, ">": operator.gt,
            ">=": operator.ge}
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z?$")


class LakeError(Exception):
    """A CloudTrail error reply: HTTP 400 with ``__type``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class _Query:
    qid: str
    statement: str
    rows: list[list[dict[str, str]]]
    statistics: dict[str, Any]
    state: int = 0  # index into _STATES


@dataclass
class _Select:
    columns: list[tuple[str, str]]  # (field, result name)
    store: str
    where: list[tuple[str, str, list[str]]] = field(default_factory=list)
    order: list[str] = field(default_factory=list)


class FakeLake:
    """Event data stores over ``records`` (a callable: the account's current records)."""

    def __init__(self, account_id: str, records: Callable[[], Iterable[Mapping[str, Any]]],
                 *, region: str = "us-east-1") -> None:
        self.records = records
        self.stores = {EXAMPLE_STORE_ID: f"arn:aws:cloudtrail:{region}:{account_id}:"
                                         f"eventdatastore/{EXAMPLE_STORE_ID}"}
        self.page_size = 1000  # a test lowers it to see paging with few events
        self.log: list[dict[str, Any]] = []  # every request: operation and body
        self._queries: dict[str, _Query] = {}
        self._lock = threading.Lock()

    @property
    def arn(self) -> str:
        """The ARN of the simulated account's event data store."""
        return self.stores[EXAMPLE_STORE_ID]

    def handle(self, operation: str, body: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.log.append({"operation": operation, **body})
        if operation == "StartQuery":
            return self._start(body)
        query = self._query(body)
        with self._lock:
            query.state = min(query.state + 1, len(_STATES) - 1)
            status = _STATES[query.state]
        if operation == "DescribeQuery":
            reply: dict[str, Any] = {"QueryId": query.qid, "QueryString": query.statement,
                                     "QueryStatus": status}
            if status == "FINISHED":
                reply["QueryStatistics"] = dict(query.statistics)
            return reply
        return self._results(query, status, body)

    # -- the operations -------------------------------------------------------------
    def _start(self, body: Mapping[str, Any]) -> dict[str, Any]:
        statement = body.get("QueryStatement")
        if not isinstance(statement, str) or not statement.strip():
            raise LakeError("InvalidParameterException", "QueryStatement is required.")
        select = parse(statement)
        store = next((sid for sid, arn in self.stores.items()
                      if select.store in (sid, arn)), None)
        if store is None:
            raise LakeError("EventDataStoreNotFoundException",
                            f"The specified event data store {select.store} was not found.")
        scanned = matched = size = 0
        rows: list[tuple[list[Any], list[dict[str, str]]]] = []
        for record in self.records():
            scanned += 1
            size += len(json.dumps(record, separators=(",", ":")))
            if all(_holds(_get(record, f), op, values) for f, op, values in select.where):
                matched += 1
                key = [_text(_get(record, f)) or "" for f in select.order]
                rows.append((key, [{name: _text(_get(record, f)) or ""}
                                   for f, name in select.columns]))
        rows.sort(key=lambda pair: pair[0])
        qid = str(uuid.uuid4())
        now = datetime.now(UTC)
        with self._lock:
            self._queries[qid] = _Query(
                qid=qid, statement=statement, rows=[r for _, r in rows],
                statistics={"EventsMatched": matched, "EventsScanned": scanned,
                            "BytesScanned": size, "ExecutionTimeInMillis": 1,
                            "CreationTime": now.timestamp()})
        return {"QueryId": qid}

    def _query(self, body: Mapping[str, Any]) -> _Query:
        with self._lock:
            query = self._queries.get(str(body.get("QueryId")))
        if query is None:
            raise LakeError("QueryIdNotFoundException",
                            "The query ID does not exist or does not map to a query.")
        return query

    def _results(self, query: _Query, status: str, body: Mapping[str, Any]) -> dict[str, Any]:
        limit = body.get("MaxQueryResults", 1000)
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise LakeError("InvalidMaxResultsException",
                            "MaxQueryResults must be between 1 and 1000.")
        if status != "FINISHED":
            return {"QueryStatus": status}
        start = _offset(body.get("NextToken"), query.qid)
        end = min(start + min(limit, self.page_size), len(query.rows))
        reply: dict[str, Any] = {
            "QueryStatus": status, "QueryResultRows": query.rows[start:end],
            "QueryStatistics": {"ResultsCount": end - start,
                                "TotalResultsCount": len(query.rows),
                                "BytesScanned": query.statistics["BytesScanned"]}}
        if end < len(query.rows):
            reply["NextToken"] = page_token(query.qid, end)
        return reply


def parse(statement: str) -> _Select:
    """The fake's SQL subset; anything outside it is InvalidQueryStatementException."""
    tokens = _tokens(statement.strip().removesuffix(";"))
    at = 0

    def take(*expected: str) -> str:
        nonlocal at
        if at >= len(tokens):
            raise _invalid(f"expected {' or '.join(expected) or 'more'} at the end")
        token = tokens[at]
        if expected and token.upper() not in expected:
            raise _invalid(f"expected {' or '.join(expected)} near {token!r}")
        at += 1
        return token

    def peek(*words: str) -> bool:
        return at < len(tokens) and tokens[at].upper() in words

    take("SELECT")
    columns: list[tuple[str, str]] = []
    while True:
        name = _name(take())
        alias = name.rsplit(".", 1)[-1]
        if peek("AS"):
            take("AS")
            alias = _name(take())
        columns.append((name, alias))
        if not peek(","):
            break
        take(",")
    take("FROM")
    select = _Select(columns=columns, store=take())
    if peek("WHERE"):
        take("WHERE")
        while True:
            left = _name(take())
            op = take("=", "<", "<=", ">", ">=", "IN")
            if op.upper() == "IN":
                take("(")
                values = [_string(take())]
                while peek(","):
                    take(",")
                    values.append(_string(take()))
                take(")")
            else:
                values = [_string(take())]
            select.where.append((left, op.upper(), values))
            if not peek("AND"):
                break
            take("AND")
    if peek("ORDER"):
        take("ORDER")
        take("BY")
        select.order.append(_name(take()))
        while peek(","):
            take(",")
            select.order.append(_name(take()))
    if at != len(tokens):
        raise _invalid(f"unexpected {tokens[at]!r}")
    return select


def _tokens(text: str) -> list[str]:
    found: list[str] = []
    at = 0
    while at < len(text):
        if text[at:].strip() == "":
            break
        match = _TOKEN.match(text, at)
        if match is None:
            raise _invalid(f"unexpected {text[at:at + 20].strip()!r}")
        found.append(match.group().strip())
        at = match.end()
    return found


def _name(token: str) -> str:
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$", token):
        raise _invalid(f"{token!r} is not a field")
    return token


def _string(token: str) -> str:
    if not (len(token) >= 2 and token[0] == token[-1] == "'"):
        raise _invalid(f"{token!r} is not a quoted value")
    return token[1:-1].replace("''", "'")


def _invalid(detail: str) -> LakeError:
    return LakeError("InvalidQueryStatementException",
                     f"Query statement is invalid: {detail}.")


def _get(record: Mapping[str, Any], path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = next((v for k, v in value.items() if k.lower() == part.lower()), None)
    if path.lower() == "eventtime" and isinstance(value, str):
        return _when(value)
    return value


def _when(value: str) -> datetime:
    if not _TIME.match(value):
        raise _invalid(f"{value!r} is not a timestamp")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _text(value: Any) -> str | None:
    """A value as CloudTrail Lake returns it: text (times as ``YYYY-MM-DD HH:MM:SS.000``)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return f"{value.astimezone(UTC):%Y-%m-%d %H:%M:%S}.000"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _holds(value: Any, op: str, literals: list[str]) -> bool:
    if value is None:
        return False
    if isinstance(value, datetime):
        wanted: list[Any] = [_when(v) for v in literals]
    else:
        value, wanted = _text(value), literals
    if op == "IN":
        return value in wanted
    return bool(_COMPARE[op](value, wanted[0]))


def _offset(token: Any, qid: str) -> int:
    try:
        return token_offset(token, qid)
    except ValueError:
        raise LakeError("InvalidNextTokenException",
                        "The NextToken is not valid for this query.") from None
