"""Cloud Audit Logs entries (LogEntry JSON) → the normalized Event, and the files they come in.

Understood without being told (``convert``): ``gcloud logging read --format=json``
arrays, one LogEntry per line (a sink to Cloud Storage), ``entries:list`` pages
(``{"entries": [...]}``) and BigQuery exports of a sink (``protopayload_auditlog``,
snake_case). Entries whose payload is not an AuditLog (``jsonPayload``,
``textPayload``) are skipped and counted; entries without ``insertId`` get a stable
id from their bytes; without ``timestamp`` they are placed by ``receiveTimestamp``
(and say so); without either they are counted as malformed with file and position.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rescind.providers import gcp_redaction  # noqa: F401  (registers GCP's secret names)
from rescind.redaction import redact
from rescind.timeline.convert import (
    DEFAULT_LIMITS,
    TOO_DEEP,
    TOO_LARGE,
    ConvertResult,
    Malformed,
    json_documents,
    read_text,
)
from rescind.timeline.event import Event
from rescind.timeline.limits import Limits

SOURCE = "gcp.audit"
AUDIT_TYPE = "type.googleapis.com/google.cloud.audit.AuditLog"
# Reads worth a responder's look: who am I, what can I reach, secrets and keys.
SENSITIVE_READS = frozenset({
    "GetIamPolicy", "ListServiceAccountKeys", "ListServiceAccounts", "AccessSecretVersion",
    "GenerateAccessToken", "GenerateIdToken", "SignBlob", "SignJwt", "ListSecrets",
    "storage.objects.get", "storage.objects.list", "InsertJob"})
# Account changes for the OCSF export: methodName's last part → (activity_id, name).
ACCOUNT_CHANGES: dict[str, tuple[int, str]] = {
    "CreateServiceAccount": (1, "Create"), "DeleteServiceAccount": (6, "Delete"),
    "DisableServiceAccount": (5, "Disable"), "EnableServiceAccount": (2, "Enable"),
    "CreateServiceAccountKey": (99, "Create Key"), "DeleteServiceAccountKey": (99, "Delete Key"),
    "DisableServiceAccountKey": (5, "Disable"), "EnableServiceAccountKey": (2, "Enable"),
    "UploadServiceAccountKey": (99, "Create Key"),
}
_STATUS = {1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED",
           5: "NOT_FOUND", 6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED",
           9: "FAILED_PRECONDITION", 10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED",
           13: "INTERNAL", 14: "UNAVAILABLE", 15: "DATA_LOSS", 16: "UNAUTHENTICATED"}


class NotAudit(ValueError):
    """A LogEntry whose payload is not an AuditLog: skipped, counted."""


class MalformedEntry(ValueError):
    """An entry that cannot become an Event (the reason is the message)."""


def short_method(method: str) -> str:
    """``google.iam.admin.v1.DisableServiceAccount`` → ``DisableServiceAccount``."""
    return method.rsplit(".", 1)[-1] if not method.startswith("storage.") else method


def _time(value: Any) -> datetime:
    if not isinstance(value, str) or not value:
        raise MalformedEntry("unreadable time")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        # Nanosecond precision (9 digits) is more than fromisoformat reads.
        head, dot, rest = value.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits):] or "Z"
        try:
            parsed = datetime.fromisoformat(f"{head}.{digits[:6]}{zone}".replace("Z", "+00:00")
                                            if dot else value)
        except ValueError:
            raise MalformedEntry(f"unreadable time {value!r}") from None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _payload(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    payload = entry.get("protoPayload")
    if payload is None:
        payload = entry.get("protopayload_auditlog")  # BigQuery export of a sink
    if not isinstance(payload, Mapping):
        kind = next((k for k in ("jsonPayload", "textPayload") if k in entry), "no payload")
        raise NotAudit(f"not an audit log entry ({kind})")
    declared = payload.get("@type")
    if declared not in (None, AUDIT_TYPE) and "protopayload_auditlog" not in entry:
        raise NotAudit(f"not an audit log entry (protoPayload is {declared})")
    return payload


def _get(payload: Mapping[str, Any], camel: str, snake: str) -> Any:
    return payload.get(camel) if camel in payload else payload.get(snake)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def deltas(payload: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """SetIamPolicy's binding changes (``serviceData`` or ``metadata``)."""
    for holder in (payload.get("serviceData"), payload.get("metadata")):
        if isinstance(holder, Mapping):
            delta = holder.get("policyDelta") or holder.get("datasetChange") or {}
            found = delta.get("bindingDeltas") if isinstance(delta, Mapping) else None
            if isinstance(found, list):
                return [d for d in found if isinstance(d, Mapping)]
    return []


def from_entry(entry: Mapping[str, Any]) -> Event:
    """One LogEntry (REST/gcloud camelCase or BigQuery snake_case) → Event."""
    if not isinstance(entry, Mapping):
        raise MalformedEntry(f"expected a JSON object, found {type(entry).__name__}")
    payload = _payload(entry)
    method = str(_get(payload, "methodName", "method_name") or "")
    if not method:
        raise MalformedEntry("no methodName")
    stamp = entry.get("timestamp")
    used = "timestamp"
    if not stamp:
        stamp, used = entry.get("receiveTimestamp") or entry.get("receive_timestamp"), \
            "receiveTimestamp"
    if not stamp:
        raise MalformedEntry("neither timestamp nor receiveTimestamp")
    when = _time(stamp if isinstance(stamp, str) else str(stamp))
    raw = redact(dict(entry))
    uid = str(entry.get("insertId") or entry.get("insert_id") or "")
    if not uid:  # of the redacted entry: a hash must not let a secret be guessed
        uid = "gcp-" + hashlib.sha256(json.dumps(raw, sort_keys=True, default=str)
                                      .encode()).hexdigest()[:24]
    auth = _get(payload, "authenticationInfo", "authentication_info") or {}
    auth = auth if isinstance(auth, Mapping) else {}
    actor = str(_get(auth, "principalEmail", "principal_email")
                or _get(auth, "principalSubject", "principal_subject") or "unknown")
    key_name = str(_get(auth, "serviceAccountKeyName", "service_account_key_name") or "")
    meta = _get(payload, "requestMetadata", "request_metadata") or {}
    meta = meta if isinstance(meta, Mapping) else {}
    status = _get(payload, "status", "status") or {}
    status = status if isinstance(status, Mapping) else {}
    code = int(status.get("code") or 0)
    resource: Mapping[str, Any] = _mapping(entry.get("resource"))
    labels: Mapping[str, Any] = _mapping(resource.get("labels"))
    log_name = str(entry.get("logName") or entry.get("log_name") or "")
    project = str(labels.get("project_id") or (log_name.split("/")[1]
                                               if log_name.startswith("projects/") else ""))
    service = str(_get(payload, "serviceName", "service_name") or "")
    target = str(_get(payload, "resourceName", "resource_name") or "")
    short = short_method(method)
    error = (str(status.get("message") or _STATUS.get(code, str(code))) if code else None)
    ip = str(_get(meta, "callerIp", "caller_ip") or "")
    return Event(
        uid=uid, time=when, source=SOURCE, cloud="gcp", action=short, service=service,
        actor=actor, actor_type=("ServiceAccount" if actor.endswith(".gserviceaccount.com")
                                 else "User" if "@" in actor else "Unknown"),
        credential=key_name.rsplit("/", 1)[-1] if key_name else None, target=target,
        source_ip=ip, user_agent=str(_get(meta, "callerSuppliedUserAgent",
                                          "caller_supplied_user_agent") or ""),
        result="failure" if code else "success", error=error,
        region=str(labels.get("location") or labels.get("region") or labels.get("zone") or ""),
        account=project,
        description=_describe(actor, short, service, target, ip, payload, code, error, used),
        relevant=bool(code) or "activity" in log_name or short in SENSITIVE_READS
        or bool(deltas(payload)),
        raw=raw if isinstance(raw, dict) else dict(entry))


def _describe(actor: str, method: str, service: str, target: str, ip: str,
              payload: Mapping[str, Any], code: int, error: str | None, used: str) -> str:
    who = actor.split("@", 1)[0] if actor.endswith(".gserviceaccount.com") else actor
    text = f"{who} called {service.split('.', 1)[0] or '?'}:{method}"
    changes = deltas(payload)
    if changes:
        text += " (" + "; ".join(f"{d.get('action', '?')} {d.get('member', '?')} "
                                 f"{d.get('role', '?')}" for d in changes[:3]) + ")"
    if target:
        text += f" on {target}"
    if ip:
        text += f" from {ip}"
    if code:
        text += f" — failed: {error}"
    if used != "timestamp":
        text += f" [time: {used}]"
    return text


def account_change(event: Event) -> tuple[int, str] | None:
    """(OCSF Account Change activity, name) when ``event`` changes an account or a binding."""
    if event.source != SOURCE:
        return None
    if event.action in ACCOUNT_CHANGES:
        return ACCOUNT_CHANGES[event.action]
    if event.action == "SetIamPolicy":
        changes = deltas(_payload(event.raw or {})) if event.raw else []
        actions = {str(d.get("action", "")).upper() for d in changes}
        if "REMOVE" in actions and "ADD" not in actions:
            return 8, "Detach Policy"
        if actions:
            return 7, "Attach Policy"
    return None


# -- files -----------------------------------------------------------------------------
def looks_like_entry(obj: Any) -> bool:
    return isinstance(obj, Mapping) and any(
        k in obj for k in ("protoPayload", "protopayload_auditlog", "jsonPayload",
                           "textPayload", "logName", "insertId"))


def _items(doc: Any, where: str) -> Iterator[tuple[str, Any]]:
    if isinstance(doc, Mapping) and isinstance(doc.get("entries"), list):
        for i, item in enumerate(doc["entries"]):
            yield f"{where}entries[{i}]", item
    elif isinstance(doc, list):
        for i, item in enumerate(doc):
            yield f"{where}[{i}]", item
    else:
        yield where.rstrip() or "document", doc


def convert_files(paths: list[Path], limits: Limits = DEFAULT_LIMITS) -> ConvertResult:
    """Every audit entry in ``paths``; non-audit and unreadable entries counted by position.

    As for CloudTrail files: a gzip file is read only as far as ``limits`` allow (the
    rest counted as one malformed record), and no entry can stop the others.
    """
    result = ConvertResult()
    for path in paths:
        result.files += 1
        name = str(path)
        try:
            text, problem = read_text(path, limits)
            documents = json_documents(text, name, result)
        except MemoryError:
            result.records += 1
            result.malformed.append(Malformed(name, "file", TOO_LARGE))
            continue
        if problem is not None:
            result.records += 1
            result.malformed.append(Malformed(name, "file", problem))
        for where, doc in documents:
            for position, item in _items(doc, where):
                result.records += 1
                reason = _convert_one(item, name, result)
                if reason is not None:
                    result.malformed.append(Malformed(name, position, reason))
    return result


def _convert_one(item: Any, name: str, result: ConvertResult) -> str | None:
    """Add one entry's event to ``result``; else why it was skipped."""
    try:
        event = from_entry(item)
    except (NotAudit, MalformedEntry) as exc:
        return str(exc)
    except RecursionError:
        return TOO_DEEP
    except MemoryError:
        return TOO_LARGE
    except (TypeError, ValueError, OverflowError) as exc:  # a field of an impossible type
        return f"unreadable: {str(exc)[:200]}"
    result.events.append(event)
    result.by_file.setdefault(name, []).append(event)
    return None
