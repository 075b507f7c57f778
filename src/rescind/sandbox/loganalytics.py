"""A loopback Log Analytics workspace: the query API over the simulated tenant's logs.

``POST /v1/workspaces/{id}/query`` with ``{query, timespan}`` answers
``{tables: [{name, columns: [{name, type}], rows}]}``. The tables are what the
tenant's diagnostic settings and the subscription's Activity Log would have sent,
read live from the Graph and ARM fakes (``SigninLogs``, ``AADServicePrincipalSignInLogs``,
``AuditLogs``, ``AzureActivity``), columns spelled as the workspace spells them.
Queries are evaluated by ``kql`` (the subset rescind emits; anything else is a 400
SyntaxError). A result over ``max_rows`` is cut and answered with the service's
partial-error shape; ``throttle_next`` answers that many requests 429.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from rescind.sandbox.graph import token_claims
from rescind.sandbox.graph_http import JsonFake, Request
from rescind.sandbox.kql import KqlError, parse_time, run

WORKSPACE_ID = "11111111-2222-4333-8444-555555555555"
QUERY_ACTION = "Microsoft.OperationalInsights/workspaces/query/read"
ROW_LIMIT = 500_000
_TIMES = frozenset({"TimeGenerated", "CreatedDateTime", "ActivityDateTime",
                    "EventSubmissionTimestamp"})
Tables = dict[str, list[dict[str, Any]]]


def signin_row(record: dict[str, Any], tenant: str) -> tuple[str, dict[str, Any]]:
    """A Graph signIn as the row the workspace holds (its table, its columns)."""
    status = record.get("status") or {}
    common = {"TenantId": tenant, "TimeGenerated": record["createdDateTime"],
              "Id": record["id"], "CreatedDateTime": record["createdDateTime"],
              "AppId": record.get("appId"), "AppDisplayName": record.get("appDisplayName"),
              "IPAddress": record.get("ipAddress"),
              "CorrelationId": record.get("correlationId"),
              "ResourceDisplayName": record.get("resourceDisplayName"),
              "ResultType": str(status.get("errorCode", 0)),
              "ResultDescription": status.get("failureReason"),
              "LocationDetails": record.get("location") or {}}
    if record.get("userId"):
        return "SigninLogs", {
            **common, "UserId": record["userId"],
            "UserPrincipalName": record.get("userPrincipalName"),
            "UserDisplayName": record.get("userDisplayName"),
            "ClientAppUsed": record.get("clientAppUsed"), "UserAgent": record.get("userAgent"),
            "IsInteractive": record.get("isInteractive"), "Status": status,
            "Category": "SignInLogs", "OperationName": "Sign-in activity", "Type": "SigninLogs"}
    return "AADServicePrincipalSignInLogs", {
        **common, "ServicePrincipalId": record.get("servicePrincipalId"),
        "ServicePrincipalName": record.get("appDisplayName"),
        "Category": "ServicePrincipalSignInLogs", "OperationName": "Sign-in activity",
        "Type": "AADServicePrincipalSignInLogs"}


def audit_row(record: dict[str, Any], tenant: str) -> dict[str, Any]:
    return {"TenantId": tenant, "TimeGenerated": record["activityDateTime"],
            "Id": record["id"], "Category": record.get("category"),
            "CorrelationId": record.get("correlationId"), "Result": record.get("result"),
            "ResultReason": record.get("resultReason"),
            "ActivityDisplayName": record.get("activityDisplayName"),
            "ActivityDateTime": record["activityDateTime"],
            "LoggedByService": record.get("loggedByService"),
            "OperationName": record.get("activityDisplayName"),
            "OperationType": record.get("operationType"),
            "InitiatedBy": record.get("initiatedBy") or {},
            "TargetResources": record.get("targetResources") or [],
            "AdditionalDetails": record.get("additionalDetails") or [], "Type": "AuditLogs"}


def activity_row(record: dict[str, Any]) -> dict[str, Any]:
    def value(key: str) -> Any:
        found = record.get(key)
        return found.get("value") if isinstance(found, dict) else found

    return {"TimeGenerated": record["eventTimestamp"],
            "OperationNameValue": value("operationName"),
            "OperationName": (record.get("operationName") or {}).get("localizedValue"),
            "Caller": record.get("caller"),
            "CallerIpAddress": (record.get("httpRequest") or {}).get("clientIpAddress"),
            "CorrelationId": record.get("correlationId"),
            "EventDataId": record.get("eventDataId"),
            "ActivityStatusValue": value("status"),
            "ActivitySubstatusValue": value("subStatus"),
            "CategoryValue": value("category"),
            "ResourceProviderValue": value("resourceProviderName"),
            "_ResourceId": record.get("resourceId"),
            "SubscriptionId": record.get("subscriptionId"), "Level": record.get("level"),
            "Authorization_d": record.get("authorization") or {},
            "Claims_d": record.get("claims") or {},
            "HTTPRequest": json.dumps(record.get("httpRequest") or {}),
            "EventSubmissionTimestamp": record.get("submissionTimestamp"),
            "Type": "AzureActivity"}


def tenant_tables(graph: Any = None, arm: Any = None) -> Callable[[], Tables]:
    """The workspace's tables, read from the fakes at each query (so what an action
    changes shows up, as it would a few minutes later in a real workspace)."""
    def tables() -> Tables:
        found: Tables = {"SigninLogs": [], "AADServicePrincipalSignInLogs": [],
                         "AuditLogs": [], "AzureActivity": []}
        if graph is not None:
            with graph.lock:
                tenant = str(getattr(graph, "tenant_id", ""))
                for record in graph.sign_ins:
                    name, row = signin_row(record, tenant)
                    found[name].append(row)
                found["AuditLogs"] = [audit_row(r, tenant) for r in graph.audits]
        if arm is not None:
            with arm.lock:
                found["AzureActivity"] = [activity_row(r) for r in arm.activity]
        return found

    return tables


def _column_type(name: str, values: list[Any]) -> str:
    if name in _TIMES:
        return "datetime"
    present = [v for v in values if v is not None]
    if any(isinstance(v, (dict, list)) for v in present):
        return "dynamic"
    if present and all(isinstance(v, bool) for v in present):
        return "bool"
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "long"
    return "string"


def _table(rows: list[dict[str, Any]]) -> dict[str, Any]:
    names: list[str] = list(dict.fromkeys(k for r in rows for k in r))
    types = {n: _column_type(n, [r.get(n) for r in rows]) for n in names}

    def cell(name: str, value: Any) -> Any:
        # The service sends dynamic values as JSON text.
        return json.dumps(value) if types[name] == "dynamic" and value is not None else value

    return {"name": "PrimaryResult",
            "columns": [{"name": n, "type": types[n]} for n in names],
            "rows": [[cell(n, r.get(n)) for n in names] for r in rows]}


class LogAnalyticsFake(JsonFake):
    """One workspace. ``queries`` keeps every query text it was sent, for tests."""

    def __init__(self, tables: Callable[[], Tables], *,
                 workspace_id: str = WORKSPACE_ID) -> None:
        super().__init__()
        self.tables = tables
        self.workspace_id = workspace_id
        self.max_rows = ROW_LIMIT
        self.throttle_next = 0
        self.queries: list[str] = []
        self.route("POST", r"/v1/workspaces/(?P<ws>[^/]+)/query", QUERY_ACTION, self._query)

    def dispatch(self, method: str, path: str, query: dict[str, str], body: Any,
                 headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        if not token_claims(headers.get("Authorization") or headers.get("authorization")):
            return 401, {"error": {"code": "AuthorizationRequiredError",
                                   "message": "Valid authentication was not provided"}}, {}
        with self.lock:
            if self.throttle_next > 0:
                self.throttle_next -= 1
                self.throttled += 1
                self.log.append((method, path, "throttled"))
                return 429, {"error": {"code": "TooManyRequests",
                                       "message": "Too many requests"}}, {"Retry-After": "0"}
        return super().dispatch(method, path, query, body, headers)

    def _query(self, q: Request) -> tuple[int, Any]:
        if q.match.group("ws") != self.workspace_id:
            return 404, {"error": {"code": "WorkspaceNotFoundError",
                                   "message": f"Workspace {q.match.group('ws')} not found"}}
        body = q.body if isinstance(q.body, dict) else {}
        text = str(body.get("query") or "")
        self.queries.append(text)
        try:
            low, high = _timespan(body.get("timespan"))
            rows = run(text, self.tables(), within=(low, high))
        except (KqlError, ValueError) as exc:
            return 400, {"error": {"code": "BadArgumentError",
                                   "message": "The request had some invalid properties",
                                   "innererror": {"code": "SyntaxError", "message": str(exc)}}}
        answer: dict[str, Any] = {"tables": [_table(rows[:self.max_rows])]}
        if len(rows) > self.max_rows:
            answer["error"] = {
                "code": "PartialError", "message": "There were some errors when processing "
                                                   "your query.",
                "details": [{"code": "EngineError", "message": "Something went wrong "
                             "processing your query on the server.",
                             "innererror": {"code": "-2133196708", "message":
                                            "Query result set has exceeded the internal "
                                            f"record count limit {self.max_rows} records "
                                            "(E_QUERY_RESULT_SET_TOO_LARGE)"}}]}
        return 200, answer

    def provider_settings(self) -> dict[str, Any]:
        """What to add to ``[entra]``/``[azure]`` to query this workspace."""
        return {"logs_url": self.url, "workspace_id": self.workspace_id}


def _timespan(value: Any) -> tuple[datetime, datetime]:
    """``start/end`` (ISO 8601 instants); none: all time."""
    if not value:
        return datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
    start, _, end = str(value).partition("/")
    if not end or end.startswith("P"):
        raise KqlError(f"the fake reads a timespan of two instants, not {value!r}")
    return parse_time(start), parse_time(end)


def serve_workspace(host: JsonFake, *, graph: Any = None, arm: Any = None) -> LogAnalyticsFake:
    """A workspace over ``graph``'s and ``arm``'s logs, served beside ``host`` (stopped
    with it, its ``logs_url`` and ``workspace_id`` in the host's provider settings):
    how exercise mode's ``via: log-analytics`` reads the scenario's own logs."""
    fake = LogAnalyticsFake(tenant_tables(graph, arm))
    fake.start()
    host.beside.append(fake)
    return fake
