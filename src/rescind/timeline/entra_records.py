"""Entra and Azure audit records as timeline events, from the API or from whatever file a
responder exported.

Three logs: Entra directory audits (``graph.audit``), Entra sign-ins
(``graph.signin``) and the Azure Activity Log (``azure.activity``). Each record is
recognised by its fields, in every spelling found in the wild: Graph's camelCase,
the portal's CSV headers, Log Analytics/Sentinel PascalCase columns (nested values
as JSON strings, sometimes encoded twice), diagnostic-settings/Event Hub envelopes
(``{"records": [...]}`` with the record under ``properties``), and azure-mgmt-monitor's
snake_case. Keys are compared without case, ``_``, spaces or brackets. Activity Log
records that share a ``correlationId`` (Started, then Succeeded or Failed) become one
event. A record that cannot be read is counted with its file and position.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rescind.providers import entra_redaction  # noqa: F401  (registers Entra's secret names)
from rescind.redaction import redact
from rescind.timeline.convert import DEFAULT_LIMITS, ConvertResult, Malformed, read_text
from rescind.timeline.event import Event, Result
from rescind.timeline.limits import Limits

ZERO_ID = "00000000-0000-0000-0000-000000000000"
AUDIT, SIGNIN, ACTIVITY = "graph.audit", "graph.signin", "azure.activity"
_SIGNIN_CATEGORIES = ("signinlogs", "noninteractiveusersigninlogs",
                      "serviceprincipalsigninlogs", "managedidentitysigninlogs")
# Flagged for the responder: what an intruder does to keep access or widen it.
_RELEVANT_WORDS = ("add", "register", "consent", "reset", "update application", "credential",
                   "role", "delete", "disable", "listkeys", "federated", "password", "owner")


class NotARecord(ValueError):
    """The item is not an Entra or Azure audit record."""


def _norm(key: str) -> str:
    return "".join(ch for ch in key.lower() if ch.isalnum())


def _decode(value: Any) -> Any:
    """A JSON object or list held as text (twice, in some exports) as the object itself."""
    for _ in range(3):
        if isinstance(value, str) and value.strip()[:1] in ("{", "[", '"'):
            try:
                value = json.loads(value)
            except ValueError:
                return value
        else:
            return value
    return value


class Rec:
    """A record read with forgiving keys: ``rec.get("activityDateTime", "ActivityDateTime")``."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.raw = dict(data)
        props = _decode(self._find(data, "properties"))
        merged = dict(data)
        if isinstance(props, Mapping):
            merged.update(props)  # diagnostic settings: the Graph record under properties
        self.keys = {_norm(str(k)): v for k, v in merged.items()}

    @staticmethod
    def _find(data: Mapping[str, Any], name: str) -> Any:
        want = _norm(name)
        return next((v for k, v in data.items() if _norm(str(k)) == want), None)

    def get(self, *names: str) -> Any:
        for name in names:
            value = self.keys.get(_norm(name))
            if value not in (None, ""):
                return _decode(value)
        return None

    def text(self, *names: str) -> str:
        value = self.get(*names)
        if isinstance(value, Mapping):  # {value, localizedValue}
            value = value.get("value") or value.get("localizedValue")
        return "" if value is None else str(value)

    def path(self, *paths: str) -> str:
        """The first non-empty value along ``a.b.c`` paths (each step forgiving)."""
        for dotted in paths:
            head, *rest = dotted.split(".")
            value: Any = self.get(head)
            for part in rest:
                value = _decode(value)
                if not isinstance(value, Mapping):
                    value = None
                    break
                value = Rec._find(value, part)
            value = _decode(value)
            if value not in (None, "") and not isinstance(value, (Mapping, list)):
                return str(value)
        return ""


def parse_time(value: Any) -> datetime:
    """ISO 8601 with or without a zone (no zone: UTC), or the portal's ``M/D/YYYY, h:mm:ss AM``."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value or "").strip()
    if not text:
        raise NotARecord("no time")
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        for fmt in ("%m/%d/%Y, %I:%M:%S %p", "%m/%d/%Y %I:%M:%S %p", "%Y-%m-%d %H:%M:%S"):
            try:
                when = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        else:
            raise NotARecord(f"unreadable time {text!r}") from None
    return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)


def _uid(rec: Rec, *names: str) -> str:
    found = rec.text(*names)
    if found:
        return found
    digest = hashlib.sha256(json.dumps(rec.raw, sort_keys=True, default=str).encode())
    return "sha256-" + digest.hexdigest()[:32]


def kind_of(rec: Rec) -> str:
    """Which of the three logs a record belongs to (raises NotARecord)."""
    category = _norm(rec.text("category", "Category"))
    if category == "auditlogs" or rec.get("activityDateTime", "activityDisplayName",
                                           "initiatedBy", "Activity"):
        return AUDIT
    if category in _SIGNIN_CATEGORIES or rec.get("createdDateTime", "signInEventTypes",
                                                 "Sign-in error code", "appDisplayName",
                                                 "conditionalAccessStatus"):
        return SIGNIN
    if rec.get("eventTimestamp", "operationNameValue", "resourceProviderName",
               "eventDataId", "ActivityStatusValue") or category == "administrative":
        return ACTIVITY
    raise NotARecord("neither an Entra audit or sign-in record nor an Activity Log record")


def _relevant(action: str) -> bool:
    lowered = action.lower()
    return any(word in lowered for word in _RELEVANT_WORDS)


def _actor_id(value: str) -> str:
    return "" if value == ZERO_ID else value


def audit_event(rec: Rec) -> Event:
    action = rec.text("activityDisplayName", "Activity", "OperationName", "operationName")
    if not action:
        raise NotARecord("an audit record without an activity")
    user_upn = rec.path("initiatedBy.user.userPrincipalName", "ActorUserPrincipalName",
                        "InitiatedBy.user.userPrincipalName")
    user_id = _actor_id(rec.path("initiatedBy.user.id", "ActorObjectId"))
    app_name = rec.path("initiatedBy.app.displayName", "ActorDisplayName")
    app_id = _actor_id(rec.path("initiatedBy.app.servicePrincipalId", "initiatedBy.app.appId"))
    actor = user_upn or user_id or app_name or app_id
    targets = rec.get("targetResources", "TargetResources")
    target = ""
    if isinstance(targets, list) and targets and isinstance(targets[0], Mapping):
        first = Rec(targets[0])
        target = first.text("userPrincipalName", "displayName", "id")
    target = target or rec.text("Target1UserPrincipalName", "Target1DisplayName",
                                "Target1ObjectId")
    result_text = rec.text("result", "Result").lower()
    result: Result = ("success" if result_text == "success" else
                      "failure" if result_text in ("failure", "failed", "timeout") else "unknown")
    return Event(uid=_uid(rec, "id", "Id"), source=AUDIT, cloud="azure",
                 time=parse_time(rec.get("activityDateTime", "ActivityDateTime", "Date (UTC)",
                                         "time", "TimeGenerated")),
                 action=action, service=rec.text("loggedByService", "Service"),
                 actor=actor, actor_type="User" if (user_upn or user_id) else
                 ("ServicePrincipal" if actor else ""),
                 target=target, result=result,
                 error=rec.text("resultReason", "ResultReason") or None,
                 source_ip=rec.path("initiatedBy.user.ipAddress", "IPAddress"),
                 account=rec.text("tenantId", "TenantId"),
                 description=f"{action} ({rec.text('category', 'Category') or 'no category'})",
                 relevant=_relevant(action), raw=rec.raw)


def signin_event(rec: Rec) -> Event:
    actor = (rec.text("userPrincipalName", "UserPrincipalName", "Username")
             or rec.text("servicePrincipalName", "servicePrincipalId", "ServicePrincipalId",
                         "userId", "User ID"))
    if not actor:
        raise NotARecord("a sign-in without a user or service principal")
    code = rec.path("status.errorCode", "Status.errorCode", "ResultType", "Sign-in error code")
    failed = code not in ("", "0")
    app = rec.text("appDisplayName", "AppDisplayName", "Application")
    city = rec.path("location.city", "LocationDetails.city", "Location")
    sp = bool(rec.text("servicePrincipalId", "ServicePrincipalId")) and not rec.text(
        "userPrincipalName", "UserPrincipalName")
    return Event(uid=_uid(rec, "id", "Id", "Request ID"), source=SIGNIN, cloud="azure",
                 time=parse_time(rec.get("createdDateTime", "CreatedDateTime", "Date (UTC)",
                                         "time", "TimeGenerated")),
                 action="Sign-in", service=rec.text("resourceDisplayName", "ResourceDisplayName"),
                 actor=actor, actor_type="ServicePrincipal" if sp else "User", target=app,
                 source_ip=rec.text("ipAddress", "IPAddress", "IP address", "callerIpAddress"),
                 user_agent=rec.text("userAgent", "UserAgent", "User agent"),
                 result="failure" if failed else "success",
                 error=(rec.path("status.failureReason", "Failure reason") or code)
                 if failed else None,
                 account=rec.text("tenantId", "TenantId"),
                 description=f"sign-in to {app or 'an application'}"
                             + (f" from {city}" if city else ""),
                 relevant=failed, raw=rec.raw)


def activity_event(rec: Rec) -> Event:
    action = rec.text("operationName", "OperationNameValue", "operation_name")
    if not action:
        raise NotARecord("an Activity Log record without an operation")
    status = rec.text("status", "ActivityStatusValue", "resultType", "ActivityStatus")
    result: Result = ("success" if status.lower() in ("succeeded", "success") else
                      "failure" if status.lower() in ("failed", "failure") else "unknown")
    resource = rec.text("resourceId", "ResourceId", "_ResourceId", "resource_id")
    return Event(uid=_uid(rec, "eventDataId", "EventDataId", "event_data_id", "correlationId"),
                 source=ACTIVITY, cloud="azure",
                 time=parse_time(rec.get("eventTimestamp", "event_timestamp", "time",
                                         "TimeGenerated")),
                 action=action,
                 service=rec.text("resourceProviderName", "ResourceProviderValue",
                                  "resource_provider_name") or action.split("/", 1)[0],
                 actor=rec.text("caller", "Caller"), target=resource,
                 source_ip=rec.path("httpRequest.clientIpAddress", "http_request.client_ip_address",
                                    "callerIpAddress", "CallerIpAddress", "claims.ipaddr"),
                 result=result, error=status if result == "failure" else None,
                 account=rec.text("subscriptionId", "SubscriptionId", "subscription_id"),
                 description=f"{action} {status}".strip(), relevant=_relevant(action),
                 raw=rec.raw)


def to_event(item: Any) -> Event:
    """One record → Event, secrets redacted in ``raw`` (and so in its synthetic id)."""
    if not isinstance(item, Mapping):
        raise NotARecord(f"expected a JSON object, found {type(item).__name__}")
    rec = Rec(redact(dict(item)))
    kind = kind_of(rec)
    if kind == AUDIT:
        return audit_event(rec)
    if kind == SIGNIN:
        return signin_event(rec)
    return activity_event(rec)


def correlation_of(event: Event) -> str:
    """The operation an Activity Log event belongs to ("": not one to fold)."""
    if event.source != ACTIVITY:
        return ""
    return Rec(event.raw or {}).text("correlationId", "CorrelationId", "correlation_id")


def fold_operation(group: list[Event]) -> Event:
    """One operation's Activity Log events as one: the outcome, with when it started."""
    finals = [e for e in group if e.result != "unknown"] or group
    final = max(finals, key=lambda e: e.time)
    start = min(group, key=lambda e: e.time)
    note = f" (started {start.time.isoformat(timespec='seconds')})" if len(group) > 1 else ""
    return final.model_copy(update={"description": final.description + note})


def group_activity(events: list[Event]) -> tuple[list[Event], int]:
    """One Activity Log event per correlationId: the outcome, with when it started.

    Returns the events and how many Started records were folded into their outcome.
    """
    by_correlation: dict[str, list[Event]] = {}
    out: list[Event] = []
    for event in events:
        correlation = correlation_of(event)
        if not correlation:
            out.append(event)
            continue
        by_correlation.setdefault(correlation, []).append(event)
    folded = 0
    for group in by_correlation.values():
        folded += len(group) - 1
        out.append(fold_operation(group))
    return out, folded


def _items(doc: Any, where: str) -> Iterator[tuple[str, Any]]:
    if isinstance(doc, Mapping):
        for key in ("value", "records", "Records", "rows", "Rows"):
            if isinstance(doc.get(key), list):
                for i, item in enumerate(doc[key]):
                    yield f"{where}{key}[{i}]", item
                return
        yield where.rstrip() or "document", doc
        return
    if isinstance(doc, list):
        for i, item in enumerate(doc):
            yield f"{where}[{i}]", item
        return
    yield where.rstrip() or "document", doc


def _documents(text: str, name: str, result: ConvertResult) -> list[tuple[str, Any]]:
    stripped = text.lstrip("\ufeff").strip()
    if not stripped:
        return []
    if stripped[0] in "{[":
        try:
            return [("", json.loads(stripped))]
        except (ValueError, RecursionError):  # JSON Lines, or nested past Python's limit
            pass
        docs: list[tuple[str, Any]] = []
        for number, line in enumerate(stripped.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                docs.append((f"line {number} ", json.loads(line)))
            except (ValueError, RecursionError) as exc:
                result.records += 1
                reason = "nested too deeply" if isinstance(exc, RecursionError) else \
                    f"not JSON ({exc})"
                result.malformed.append(Malformed(name, f"line {number}", reason))
        return docs
    # CSV: the portal's downloads and Log Analytics exports.
    reader = csv.DictReader(io.StringIO(stripped))
    return [(f"row {n} ", {k: v for k, v in row.items() if k is not None})
            for n, row in enumerate(reader, start=2)]


def convert_files(paths: list[Path], limits: Limits = DEFAULT_LIMITS) -> ConvertResult:
    """Every Entra/Azure record in ``paths``; the unreadable counted with file and position,
    a gzip file read only as far as ``limits`` allow (what was read is kept, the rest
    counted as one skipped record naming why)."""
    result = ConvertResult()
    for path in paths:
        result.files += 1
        name = str(path)
        file_events: list[Event] = []
        try:
            text, problem = read_text(path, limits)
            documents = _documents(text, name, result)
        except MemoryError:
            result.records += 1
            result.malformed.append(Malformed(name, "file", "too large to hold in memory"))
            continue
        if problem is not None:
            result.records += 1
            result.malformed.append(Malformed(name, "file", problem))
        for where, doc in documents:
            for position, item in _items(doc, where):
                result.records += 1
                try:
                    file_events.append(to_event(item))
                except (NotARecord, TypeError, ValueError, RecursionError) as exc:
                    result.malformed.append(Malformed(name, position, str(exc)))
        grouped, _ = group_activity(file_events)
        result.events.extend(grouped)
        if grouped:
            result.by_file[name] = grouped
    return result
