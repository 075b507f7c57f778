"""CloudTrail records → the normalized Event.

Accepts a full record (S3 delivery files, ``Events[].CloudTrailEvent``) or a
LookupEvents ``Events[]`` entry (its CloudTrailEvent string is used when present,
else the entry's own fields). Unknown or missing fields are tolerated. A record
without ``eventTime`` is placed by the best other time field it has (SIEM exports:
Logstash and Elastic add ``@timestamp``); one without ``eventID`` gets an id made
from its content. A record without a name or any time is rejected with
:class:`MalformedRecord`.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeGuard

from rescind.providers import aws_redaction  # noqa: F401  (registers AWS's secret names)
from rescind.redaction import redact
from rescind.timeline.event import Event, built

SOURCE = "cloudtrail"
# Read calls an attacker makes early (reconnaissance, loot) are worth a flag too.
SENSITIVE_READS = frozenset({
    "GetCallerIdentity", "GetSecretValue", "BatchGetSecretValue", "ListUsers",
    "GetAccountAuthorizationDetails", "ListAccessKeys", "ListRoles", "GetParameter",
    "GetParameters", "GetPasswordData", "ListSecrets", "GetSessionToken",
    "GetFederationToken", "Decrypt",
})
# requestParameters keys naming what a call acted on, most specific first.
TARGET_KEYS = ("userName", "roleName", "groupName", "policyArn", "policyName", "accessKeyId",
               "secretId", "name", "roleArn", "instanceProfileName", "serialNumber",
               "bucketName", "functionName", "keyId", "trailName", "instanceId")
_TARGET_KEY_SET = frozenset(TARGET_KEYS)  # most calls (reads) name none: one test in C
_EXTRA_TARGET = frozenset({"policyArn", "policyName", "accessKeyId"})
# Where a record's time may be, best first: CloudTrail's own field, then what SIEM
# exports carry (Logstash/Elastic `@timestamp`) when they drop or rename it.
TIME_FIELDS = ("eventTime", "@timestamp", "timestamp", "EventTime")
SYNTHETIC_ID_PREFIX = "rescind-sha256-"


class MalformedRecord(ValueError):
    """A record that cannot become an Event (the reason is the message)."""


def parse_time(value: Any) -> datetime:
    """CloudTrail's ``eventTime`` (ISO, Z) or LookupEvents' EventTime (epoch s or datetime)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _from_epoch(value)
    if type(value) is str and value[-1:] == "Z" and value.count("Z") == 1:
        try:  # CloudTrail's own form, read as it is (3.11 reads the Z): no copy made
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo is UTC else parsed.astimezone(UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            try:
                number = float(value)
            except ValueError:
                raise MalformedRecord(f"unreadable time {value[:40]!r}") from None
            return _from_epoch(number)
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise MalformedRecord("no event time")


def _from_epoch(value: float) -> datetime:
    """Seconds since 1970; a value no date can hold (1e400, 99999999999999999999,
    NaN) is a MalformedRecord, not a crash."""
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (OverflowError, ValueError, OSError):
        raise MalformedRecord(f"time {str(value)[:40]} is out of range") from None


def time_field(record: Mapping[str, Any]) -> str | None:
    """The field a record's time is read from: the first of TIME_FIELDS it has."""
    for name in TIME_FIELDS:  # a loop, not next(generator): called twice a record
        value = record.get(name)
        if value is not None and value != "":
            return name
    return None


def synthetic_id(record: Mapping[str, Any]) -> str:
    """A stable id for a record without ``eventID``: a hash of its content (keys in
    order, no spacing), so the same record read twice gets the same id."""
    data = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode("utf-8", "surrogatepass")
    return SYNTHETIC_ID_PREFIX + hashlib.sha256(data).hexdigest()[:32]


def actor_of(identity: Mapping[str, Any]) -> tuple[str, str]:
    """(actor, actor type) for any userIdentity shape, including unknown ones."""
    kind = str(identity.get("type") or "Unknown")
    arn = identity.get("arn")
    if kind == "AWSService":
        return str(identity.get("invokedBy") or "aws-service"), kind
    if kind == "AWSAccount":
        account = identity.get("accountId") or ""
        principal = identity.get("principalId") or ""
        who = f"{account}:{principal}" if principal else str(account)
        return who or "aws-account", kind
    if kind == "IdentityCenterUser":
        behalf = identity.get("onBehalfOf") or {}
        user = behalf.get("userId") if isinstance(behalf, Mapping) else None
        return str(user or identity.get("userName") or "identity-center-user"), kind
    if arn:
        return str(arn), kind
    if identity.get("userName"):
        return str(identity["userName"]), kind
    if identity.get("principalId"):
        return str(identity["principalId"]), kind
    if identity.get("invokedBy"):
        return str(identity["invokedBy"]), kind
    return "unknown", kind


def targets_of(record: Mapping[str, Any]) -> list[str]:
    """What the call acted on: resources' ARNs, then named request parameters."""
    found: list[str] = []
    params = record.get("requestParameters")
    if is_mapping(params) and not _TARGET_KEY_SET.isdisjoint(params):
        for name in TARGET_KEYS:  # the first named, then the extra ones after it
            value = params.get(name)
            if isinstance(value, str) and value and (not found or name in _EXTRA_TARGET):
                found.append(str(value))
    response = record.get("responseElements")
    if response and is_mapping(response):
        key = response.get("accessKey")
        if isinstance(key, Mapping) and key.get("accessKeyId"):
            found.append(str(key["accessKeyId"]))
    resources = record.get("resources")
    for res in resources if resources and isinstance(resources, list) else ():
        if isinstance(res, Mapping) and res.get("ARN") and res.get("type") != "AWS::IAM::AccessKey":
            found.append(str(res["ARN"]))
    return list(dict.fromkeys(found)) if len(found) > 1 else found


@functools.lru_cache(maxsize=4096)  # a trail has few source addresses; parsing one is slow
def is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _failed(record: Mapping[str, Any]) -> bool:
    if record.get("errorCode"):
        return True
    response = record.get("responseElements")
    return bool(response) and is_mapping(response) and response.get("ConsoleLogin") == "Failure"


def is_mapping(value: Any) -> TypeGuard[Mapping[str, Any]]:
    """isinstance(value, Mapping), the common case (a dict) without the ABC's check."""
    return type(value) is dict or isinstance(value, Mapping)


def is_relevant(record: Mapping[str, Any], failed: bool | None = None) -> bool:
    """Worth a responder's look: writes, failures, sign-ins and sensitive reads
    (``failed``: ``_failed(record)``, when the caller knows it)."""
    name = str(record.get("eventName") or "")
    read_only = record.get("readOnly")
    if isinstance(read_only, str):
        read_only = read_only.lower() == "true"
    return (read_only is False or (_failed(record) if failed is None else failed)
            or name == "ConsoleLogin" or name in SENSITIVE_READS)


def from_record(record: Mapping[str, Any], *, clean: bool = False) -> Event:
    """One full CloudTrail record → Event (secrets redacted in ``raw``); ``clean``: the
    caller knows there is nothing to redact (``redaction.is_clean_json`` of its text)."""
    if not is_mapping(record):
        raise MalformedRecord("a CloudTrail record is a JSON object")
    get = record.get  # each field read once: this runs a million times a convert
    uid = get("eventID")
    name = get("eventName")
    if not name or not isinstance(name, str):
        raise MalformedRecord("no eventName")
    when = get("eventTime")
    if when is None or when == "":  # time_field's test, for the field nearly all have
        field = time_field(record)
        when = get(field) if field else None
    when = parse_time(when)
    raw = dict(record) if clean else redact(record)  # (redact returns a new dict)
    if not uid or not isinstance(uid, str):
        uid = synthetic_id(raw)  # of the redacted record: a hash must not let a secret be guessed
    identity = get("userIdentity")
    identity = identity if is_mapping(identity) else {}
    actor, actor_type = actor_of(identity)
    source = str(get("eventSource") or "")
    ip = str(get("sourceIPAddress") or "")
    failed = _failed(record)
    error = str(get("errorCode") or "") or None
    if error is None and failed:
        error = "Failure"
    targets = targets_of(record)
    account = str(get("recipientAccountId") or identity.get("accountId") or "")
    key = identity.get("accessKeyId")
    # Every value below is already of its field's type (str(), a parsed time, a bool):
    # validating it again cost a fifth of a convert's time. Written in FIELDS' order.
    return built({
        "uid": uid, "time": when, "source": SOURCE, "cloud": "aws", "action": name,
        "service": source, "actor": actor, "actor_type": actor_type,
        "credential": str(key) if key else None,
        "target": ", ".join(targets), "source_ip": ip,
        "user_agent": str(get("userAgent") or ""),
        "result": "failure" if failed else "success", "error": error,
        "region": str(get("awsRegion") or ""), "account": account,
        "description": _describe(actor, name, source, targets, ip, record, failed),
        "relevant": is_relevant(record, failed), "raw": raw})


def _short_actor(actor: str) -> str:
    if actor.startswith("arn:") and actor.endswith(":root"):
        return "root"
    return actor.rsplit("/", 1)[-1] if actor.startswith("arn:") else actor


def _describe(actor: str, name: str, source: str, targets: list[str], ip: str,
              record: Mapping[str, Any], failed: bool) -> str:
    who = _short_actor(actor)
    where = f" from {ip}" if ip else ""
    if name == "ConsoleLogin":
        if failed:
            reason = record.get("errorMessage") or "failed"
            return f"console sign-in as {who} failed{where} ({reason})"
        extra = record.get("additionalEventData")
        mfa = isinstance(extra, Mapping) and extra.get("MFAUsed") == "Yes"
        return f"{who} signed in to the AWS console{where}" + ("" if mfa else " without MFA")
    service = source.split(".", 1)[0] if source else "?"
    text = f"{who} called {service}:{name}"
    if targets:
        text += f" on {targets[0]}"
    if ip:
        text += f" from {ip}"
    if failed:
        code = record.get("errorCode") or "Failure"
        message = record.get("errorMessage")
        text += f" — failed: {code}" + (f" ({message})" if message else "")
    return text


def from_lookup_event(entry: Mapping[str, Any], *, clean: bool = False) -> Event:
    """One LookupEvents ``Events[]`` entry → Event, preferring its full CloudTrailEvent."""
    if not isinstance(entry, Mapping):
        raise MalformedRecord("a LookupEvents entry is a JSON object")
    text = entry.get("CloudTrailEvent")
    if isinstance(text, str) and text:
        try:
            record = json.loads(text)
        except ValueError:
            raise MalformedRecord("CloudTrailEvent is not valid JSON") from None
        if not isinstance(record, Mapping):
            raise MalformedRecord("CloudTrailEvent is not a JSON object")
        return from_record(record, clean=clean)
    # No full record: build what LookupEvents itself tells.
    identity: dict[str, Any] = {"type": "Unknown"}
    if entry.get("Username"):
        identity["userName"] = entry["Username"]
    if entry.get("AccessKeyId"):
        identity["accessKeyId"] = entry["AccessKeyId"]
    resources = entry.get("Resources")
    event_time = entry.get("EventTime")
    if isinstance(event_time, datetime):
        event_time = event_time.isoformat()
    record = {
        "eventID": entry.get("EventId"), "eventName": entry.get("EventName"),
        "eventTime": event_time, "eventSource": entry.get("EventSource"),
        "readOnly": str(entry.get("ReadOnly", "")).lower() == "true",
        "userIdentity": identity,
        "resources": [{"ARN": r.get("ResourceName"), "type": r.get("ResourceType")}
                      for r in (resources if isinstance(resources, list) else [])
                      if isinstance(r, Mapping)],
    }
    return from_record(record)


def looks_like_record(obj: Any) -> bool:
    return isinstance(obj, Mapping) and "eventName" in obj and (
        "eventID" in obj or any(f in obj for f in TIME_FIELDS))


def looks_like_lookup_event(obj: Any) -> bool:
    return isinstance(obj, Mapping) and ("CloudTrailEvent" in obj or "EventId" in obj)
