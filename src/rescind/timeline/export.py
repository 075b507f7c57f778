"""Write a timeline for its consumers: OCSF, Timesketch, CSV, raw evidence, or our own JSONL.

One concern, so one module (~580 lines): every format is written from the same
redacted event stream with the same file modes and relevance marks.

- ``ocsf``: one OCSF event a line, strictly valid for OCSF_VERSION with the cloud
  profile: API Activity 6003, Authentication 3002 (ConsoleLogin, and what a source's
  hook maps there, e.g. Entra sign-ins), Account Change 3001 (IAM user/key/policy
  changes and rescind's own revocations). Events worth attention carry
  ``metadata.labels: ["relevant"]``.
- ``timesketch``: flat JSONL with message, datetime (+00:00), timestamp (µs),
  timestamp_desc; every line has the same keys and types.
- ``csv``: for people; cells that a spreadsheet would run as a formula are quoted.
- ``raw``: each event's record in its API's own shape (CloudTrail records as-is).
- ``jsonl``: rescind's Event model, one a line (the incident's timeline.jsonl).

Every format passes through :func:`rescind.redaction.redact`: no secret leaves.
"""

from __future__ import annotations

import csv
import functools
import json
import os
from _json import make_encoder
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import Any, Literal, TextIO

from pydantic_core import to_json

from rescind.errors import UsageError
from rescind.redaction import redact, redacted_json
from rescind.timeline.cloudtrail import is_ip, is_mapping
from rescind.timeline.event import Event

Format = Literal["ocsf", "timesketch", "csv", "raw", "jsonl"]
FORMATS: tuple[str, ...] = ("ocsf", "timesketch", "csv", "raw", "jsonl")
OCSF_VERSION = "1.3.0"
OCSF_PROFILES = ["cloud"]
CSV_HEADER = ("time (UTC)", "source", "actor", "action", "target", "source IP", "result",
              "description", "relevant")
TIMESKETCH_FIELDS = ("source", "cloud", "service", "action", "actor", "actor_type",
                     "credential", "target", "source_ip", "user_agent", "result", "error",
                     "region", "account", "event_uid")

API_ACTIVITY, AUTHENTICATION, ACCOUNT_CHANGE = 6003, 3002, 3001
_CATEGORY = {API_ACTIVITY: (6, "Application Activity"), AUTHENTICATION: (3, "Identity & Access "
             "Management"), ACCOUNT_CHANGE: (3, "Identity & Access Management")}
_CLASS_NAME = {API_ACTIVITY: "API Activity", AUTHENTICATION: "Authentication",
               ACCOUNT_CHANGE: "Account Change"}
_API_ACTIVITY_NAMES = {1: "Create", 2: "Read", 3: "Update", 4: "Delete", 99: "Other"}
_ACCOUNT_ACTIVITY_NAMES = {1: "Create", 2: "Enable", 3: "Password Change", 4: "Password Reset",
                           5: "Disable", 6: "Delete", 7: "Attach Policy", 8: "Detach Policy",
                           9: "Lock", 10: "MFA Factor Enable", 11: "MFA Factor Disable",
                           99: "Other"}
# CloudTrail IAM calls that change a user, a key, a login or a policy → (activity, name).
ACCOUNT_CHANGES: dict[str, tuple[int, str]] = {
    "CreateUser": (1, "Create"), "DeleteUser": (6, "Delete"),
    "CreateAccessKey": (99, "Create Access Key"), "DeleteAccessKey": (99, "Delete Access Key"),
    "CreateLoginProfile": (99, "Create Login Profile"),
    "UpdateLoginProfile": (4, "Password Reset"), "ChangePassword": (3, "Password Change"),
    "DeleteLoginProfile": (99, "Delete Login Profile"),
    "AttachUserPolicy": (7, "Attach Policy"), "PutUserPolicy": (7, "Attach Policy"),
    "AttachRolePolicy": (7, "Attach Policy"), "PutRolePolicy": (7, "Attach Policy"),
    "AttachGroupPolicy": (7, "Attach Policy"), "PutGroupPolicy": (7, "Attach Policy"),
    "AddUserToGroup": (7, "Attach Policy"),
    "DetachUserPolicy": (8, "Detach Policy"), "DeleteUserPolicy": (8, "Detach Policy"),
    "DetachRolePolicy": (8, "Detach Policy"), "DeleteRolePolicy": (8, "Detach Policy"),
    "DetachGroupPolicy": (8, "Detach Policy"), "DeleteGroupPolicy": (8, "Detach Policy"),
    "RemoveUserFromGroup": (8, "Detach Policy"),
    "EnableMFADevice": (10, "MFA Factor Enable"), "DeactivateMFADevice": (11, "MFA Factor Disable"),
    "CreateRole": (1, "Create"), "DeleteRole": (6, "Delete"),
    "UpdateAssumeRolePolicy": (99, "Update Trust Policy"),
}
# rescind's own revocations (action names) → (activity, name).
OWN_ACCOUNT_CHANGES: dict[str, tuple[int, str]] = {
    "aws.iam.deactivate_access_key": (5, "Disable"),
    "aws.iam.delete_access_key": (99, "Delete Access Key"),
    "aws.iam.revoke_sessions": (7, "Attach Policy"),
    "aws.iam.quarantine_user": (7, "Attach Policy"),
    "aws.iam.delete_login_profile": (99, "Delete Login Profile"),
    "aws.iam.delete_role_policy": (8, "Detach Policy"),
    "aws.iam.detach_role_policy": (8, "Detach Policy"),
    "aws.iam.rotate_external_id": (99, "Rotate External ID"),
    "gcp.sa.disable": (5, "Disable"), "gcp.sa_key.disable": (5, "Disable"),
    "gcp.sa_key.delete": (99, "Delete Key"),
    "gcp.project.remove_bindings": (8, "Detach Policy"),
    "gcp.sa.remove_bindings": (8, "Detach Policy"),
}
_PROVIDERS = {"aws": "AWS", "azure": "Azure", "gcp": "GCP", "vault": "HashiCorp Vault",
              "local": "local"}
_ACCOUNT_TYPES = {"aws": (10, "AWS Account"), "gcp": (5, "GCP Account")}
_AWS_USER_TYPES = {"IAMUser": (1, "User"), "Root": (2, "Admin"), "AWSService": (3, "System")}


# json.dumps(separators=(",", ":"), sort_keys=True) as its one-shot C path writes it, with
# the C encoder that json.dumps builds each call made once (a fifth of the dump's time).
# No markers: a record parsed from JSON holds no cycle.
_SORTED_JSON = make_encoder(None, json.JSONEncoder().default, encode_basestring_ascii, None,
                            ":", ",", True, False, True)


def _ms(when: datetime) -> int:
    return int(when.astimezone(UTC).timestamp() * 1000)


@functools.lru_cache(maxsize=4096)  # a trail calls a few hundred APIs, a million times
def _api_activity_id(action: str) -> int:
    for prefixes, activity in ((("Create", "Put", "Attach", "Add", "Run", "Import", "Upload",
                                 "Register", "Assume"), 1),
                               (("Get", "List", "Describe", "Lookup", "Head", "Search",
                                 "BatchGet", "Check", "Decrypt"), 2),
                               (("Update", "Modify", "Set", "Enable", "Disable", "Tag",
                                 "Untag", "Change", "Rotate", "Reset", "Start", "Stop",
                                 "Reboot", "Deactivate", "Activate", "Revoke", "Quarantine"), 3),
                               (("Delete", "Remove", "Detach", "Terminate", "Deregister"), 4)):
        if action.startswith(prefixes):
            return activity
    short = action.rsplit(".", 1)[-1]
    if short != action:
        return _api_activity_id("".join(p.capitalize() for p in short.split("_")))
    return 99


def ocsf_class(event: Event) -> tuple[int, int, str]:
    """(class_uid, activity_id, activity_name) for an event."""
    if event.source == "rescind":
        if event.action in OWN_ACCOUNT_CHANGES:
            activity, name = OWN_ACCOUNT_CHANGES[event.action]
            return ACCOUNT_CHANGE, activity, name
        activity = _api_activity_id(event.action)
        return API_ACTIVITY, activity, _API_ACTIVITY_NAMES[activity]
    if event.action == "ConsoleLogin":
        return AUTHENTICATION, 1, "Logon"
    if event.service == "iam.amazonaws.com" and event.action in ACCOUNT_CHANGES:
        activity, name = ACCOUNT_CHANGES[event.action]
        return ACCOUNT_CHANGE, activity, name
    if event.cloud == "gcp":
        from rescind.timeline.gcp_audit import account_change

        change = account_change(event)
        if change is not None:
            return ACCOUNT_CHANGE, change[0], change[1]
    activity = _api_activity_id(event.action)
    return API_ACTIVITY, activity, _API_ACTIVITY_NAMES[activity]


def _actor_user(event: Event, raw: Mapping[str, Any]) -> dict[str, Any]:
    identity = raw.get("userIdentity")
    if not is_mapping(identity):
        identity = {}
    user: dict[str, Any] = {}
    name = identity.get("userName")
    if not name and event.actor.startswith("arn:"):
        name = event.actor.rsplit("/", 1)[-1]
    user["name"] = str(name or event.actor or "unknown")
    user["uid"] = str(identity.get("arn") or identity.get("principalId") or event.actor
                      or user["name"])
    if identity.get("principalId") and identity.get("arn"):
        user["uid_alt"] = str(identity["principalId"])
    type_id, type_name = _AWS_USER_TYPES.get(event.actor_type, (99, event.actor_type or "Other"))
    if event.actor_type in ("", "Unknown"):
        type_id, type_name = 0, "Unknown"
    user["type_id"], user["type"] = type_id, type_name
    if event.credential:
        user["credential_uid"] = event.credential
    account = identity.get("accountId") or event.account
    if account:
        user["account"] = _account(event, str(account))
    return user


def _account(event: Event, uid: str) -> dict[str, Any]:
    """An OCSF account: an AWS account, a Google Cloud project, or just its id."""
    account: dict[str, Any] = {"uid": uid}
    kind = _ACCOUNT_TYPES.get(event.cloud)
    if kind:
        account["type_id"], account["type"] = kind
    return account


@functools.lru_cache(maxsize=4096)  # one session's events share it
def _created_ms(text: str) -> int | None:
    try:
        return _ms(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return None


def _actor(event: Event, raw: Mapping[str, Any]) -> dict[str, Any]:
    if event.source == "rescind":
        actor: dict[str, Any] = {"app_name": "rescind"}
        if event.actor and event.actor != "rescind":
            actor["user"] = {"name": event.actor, "type_id": 1, "type": "User"}
        return actor
    actor = {"user": _actor_user(event, raw)}
    identity = raw.get("userIdentity")
    if is_mapping(identity):
        if identity.get("invokedBy"):  # OCSF deprecated actor.invoked_by for app_name
            actor["app_name"] = str(identity["invokedBy"])
        context = identity.get("sessionContext")
        if is_mapping(context):
            session: dict[str, Any] = {}
            attrs = context.get("attributes")
            if is_mapping(attrs):
                if attrs.get("creationDate"):
                    created = _created_ms(str(attrs["creationDate"]))
                    if created is not None:
                        session["created_time"] = created
                if attrs.get("mfaAuthenticated") is not None:
                    session["is_mfa"] = str(attrs["mfaAuthenticated"]).lower() == "true"
            issuer = context.get("sessionIssuer")
            if is_mapping(issuer) and issuer.get("arn"):
                session["issuer"] = str(issuer["arn"])
            if event.credential:
                session["credential_uid"] = event.credential
            if session:
                actor["session"] = session
    return actor


def src_endpoint(event: Event) -> dict[str, Any]:
    ip = event.source_ip
    if ip and is_ip(ip):
        return {"ip": ip}
    if ip:  # CloudTrail puts a service name here for calls AWS made on someone's behalf
        return {"svc_name": ip, "domain": ip} if "." in ip else {"name": ip}
    return {"name": "local" if event.source == "rescind" else "unknown"}


def _resources(event: Event, raw: Mapping[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for res in raw.get("resources") or ():
        if is_mapping(res) and res.get("ARN"):
            item: dict[str, Any] = {"uid": str(res["ARN"])}
            if res.get("type"):
                item["type"] = str(res["type"])
            out.append(item)
    seen = {r["uid"] for r in out}
    for target in (t.strip() for t in event.target.split(",")):
        if target and target not in seen:
            out.append({"name": target})
            seen.add(target)
    return out


def _target_user(event: Event, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The account an Account Change / Authentication event is about."""
    if event.action == "ConsoleLogin":
        return _actor_user(event, raw)
    params = raw.get("requestParameters")
    params = params if isinstance(params, Mapping) else {}
    if event.source == "rescind":
        outputs = raw.get("outputs") if isinstance(raw.get("outputs"), Mapping) else {}
        assert isinstance(outputs, Mapping)
        first = event.target.split(",")[0].strip() if event.target else ""
        name = str(outputs.get("user") or outputs.get("user_name") or first or "unknown")
        user: dict[str, Any] = {"name": name}
        if first.startswith(("AKIA", "ASIA")):
            user["credential_uid"] = first
        return user
    named = params.get("userName") or params.get("roleName") or params.get("groupName")
    user = {"name": str(named or event.target.split(",")[0].strip() or "unknown")}
    if params.get("roleName"):
        user["type_id"], user["type"] = 99, "Role"
    elif params.get("userName"):
        user["type_id"], user["type"] = 1, "User"
    key = params.get("accessKeyId")
    response = raw.get("responseElements")
    if not key and isinstance(response, Mapping) and isinstance(response.get("accessKey"),
                                                                Mapping):
        key = response["accessKey"].get("accessKeyId")
    if key:
        user["credential_uid"] = str(key)
    if event.account:
        user["account"] = _account(event, event.account)
    return user


@dataclass(frozen=True)
class OcsfShape:
    """What a source's hook decides for one of its events: the class and activity, and
    the class's own fields (an Authentication's ``user``, ``service``, ``is_mfa``...)."""

    class_uid: int
    activity_id: int
    activity_name: str
    fields: dict[str, Any]


OcsfHook = Callable[[Event, Mapping[str, Any]], OcsfShape | None]
_OCSF_HOOKS: dict[str, OcsfHook] = {}  # event source ("graph.signin") → its hook


def register_ocsf_hook(event_source: str, hook: OcsfHook) -> None:
    """Shape the OCSF export of ``event_source``'s events (a source module registers on
    import; ``hook`` returns None to leave an event to the generic mapping)."""
    _OCSF_HOOKS[event_source] = hook


def to_ocsf(event: Event, *, clean: bool = False) -> dict[str, Any]:
    """One Event → one OCSF event of class 6003, 3002 or 3001 (cloud profile); ``clean``:
    its raw record is known to hold nothing to redact (see :func:`line_writer`)."""
    raw: Mapping[str, Any] = event.raw or {}
    hook = _OCSF_HOOKS.get(event.source)
    shape = hook(event, raw) if hook else None
    class_uid, activity_id, activity_name = (
        (shape.class_uid, shape.activity_id, shape.activity_name) if shape
        else ocsf_class(event))
    category_uid, category_name = _CATEGORY[class_uid]
    product = ({"name": "rescind", "vendor_name": "rescind"} if event.source == "rescind"
               else {"name": "CloudTrail", "vendor_name": "AWS"} if event.source == "cloudtrail"
               else {"name": event.source, "vendor_name": _PROVIDERS[event.cloud]})
    metadata: dict[str, Any] = {"version": OCSF_VERSION, "profiles": list(OCSF_PROFILES),
                                "product": product, "uid": event.uid,
                                "event_code": event.action, "log_provider": event.source}
    if raw.get("sharedEventID"):
        metadata["correlation_uid"] = str(raw["sharedEventID"])
    if event.relevant:
        metadata["labels"] = ["relevant"]
    status_id = {"success": 1, "failure": 2}.get(event.result, 0)
    out: dict[str, Any] = {
        "class_uid": class_uid, "class_name": _CLASS_NAME[class_uid],
        "category_uid": category_uid, "category_name": category_name,
        "activity_id": activity_id, "activity_name": activity_name,
        "type_uid": class_uid * 100 + activity_id,
        "type_name": f"{_CLASS_NAME[class_uid]}: {activity_name}",
        "time": _ms(event.time), "severity_id": 1, "severity": "Informational",
        "status_id": status_id, "status": {1: "Success", 2: "Failure"}.get(status_id, "Unknown"),
        "message": event.description or event.action,
        "metadata": metadata,
        "cloud": _cloud(event),
        "actor": _actor(event, raw),
        "src_endpoint": src_endpoint(event),
        "raw_data": ("".join(_SORTED_JSON(raw, 0)) if clean
                     else redacted_json(raw, separators=(",", ":"), sort_keys=True))
        if raw else None,
    }
    if out["raw_data"] is None:
        del out["raw_data"]
    if event.error:
        out["status_code"] = event.error
    if isinstance(raw.get("errorMessage"), str):
        out["status_detail"] = raw["errorMessage"]
    if event.user_agent:
        out["http_request"] = {"user_agent": event.user_agent}
    api: dict[str, Any] = {"operation": event.action}
    if event.service:
        api["service"] = {"name": event.service}
    if raw.get("requestID"):
        api["request"] = {"uid": str(raw["requestID"])}
    out["api"] = api
    if shape:
        out.update(shape.fields)
    elif class_uid == API_ACTIVITY:
        resources = _resources(event, raw)
        if resources:
            out["resources"] = resources
    elif class_uid == AUTHENTICATION:
        out["user"] = _target_user(event, raw)
        out["service"] = {"name": "AWS Management Console"}
        extra = raw.get("additionalEventData")
        if isinstance(extra, Mapping) and extra.get("MFAUsed") in ("Yes", "No"):
            out["is_mfa"] = extra["MFAUsed"] == "Yes"
    else:
        out["user"] = _target_user(event, raw)
        policy = _policy(raw)
        if policy:
            out["policy"] = policy
    return out


def _policy(raw: Mapping[str, Any]) -> dict[str, Any] | None:
    params = raw.get("requestParameters")
    if not isinstance(params, Mapping):
        return None
    if params.get("policyArn"):
        arn = str(params["policyArn"])
        return {"uid": arn, "name": arn.rsplit("/", 1)[-1]}
    if params.get("policyName"):
        return {"name": str(params["policyName"])}
    return None


def _cloud(event: Event) -> dict[str, Any]:
    cloud: dict[str, Any] = {"provider": _PROVIDERS[event.cloud]}
    if event.region:
        cloud["region"] = event.region
    if event.account:
        account: dict[str, Any] = {"uid": event.account}
        if event.cloud == "aws":
            account["type_id"], account["type"] = 10, "AWS Account"
        cloud["account"] = account
    return cloud


# (Timesketch key, Event field) for TIMESKETCH_FIELDS.
_TIMESKETCH_FROM = tuple((key, "uid" if key == "event_uid" else key) for key in TIMESKETCH_FIELDS)


def to_timesketch(event: Event) -> dict[str, Any]:
    """A flat Timesketch line: the three required keys, µs timestamp, same keys every line."""
    when = event.time.astimezone(UTC)
    line: dict[str, Any] = {
        "message": event.description or f"{event.actor} {event.action} {event.target}".strip(),
        "datetime": when.isoformat(timespec="microseconds"),
        "timestamp": int(when.timestamp()) * 1_000_000 + when.microsecond,
        "timestamp_desc": "Event Time",
        "data_type": f"{event.source}:event",
    }
    values = event.__dict__  # read directly: model_dump serialised every field a line
    for key, field in _TIMESKETCH_FROM:
        value = values[field]
        line[key] = value if type(value) is str else "" if value is None else str(value)
    line["relevant"] = event.relevant
    return line


# What a spreadsheet would run as a formula when a cell starts with it.
_FORMULA_START = frozenset(("=", "+", "-", "@", "\t", "\r"))


def to_csv_row(event: Event) -> list[str]:
    """The CSV_HEADER cells; one starting as a formula would is quoted (``'``), so a
    spreadsheet does not run attacker-supplied text (user agents) as a formula."""
    values = event.__dict__  # read directly, as to_timesketch does
    when = values["time"]
    if when.tzinfo is UTC and when.year >= 1000:  # isoformat is strftime's text, 5x faster
        text = when.isoformat()[:19] + "Z"
    else:
        text = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [("'" + v if v[:1] in _FORMULA_START else v)
            for v in (text, values["source"], values["actor"], values["action"],
                      values["target"], values["source_ip"], values["result"],
                      values["description"], "yes" if values["relevant"] else "")]


def export(events: Iterable[Event], path: Path, fmt: str) -> int:
    """Write ``events`` to ``path`` in ``fmt``; returns how many records were written.

    Written to a temporary file and renamed, so a reader never sees half a file. A
    path that cannot be written (a folder, no permission, a full disk) is a UsageError.
    """
    check_destination(path, fmt)
    try:
        return _write(events, path, fmt)
    except OSError as exc:
        raise _unwritable(path, exc) from None


def check_destination(path: Path, fmt: str) -> None:
    """A UsageError unless ``fmt`` is a format and ``path`` could be a file."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown timeline format {fmt!r}", fix=f"use one of {', '.join(FORMATS)}")
    if path.is_dir():
        example = {"csv": "timeline.csv", "jsonl": "timeline.jsonl"}.get(
            fmt, f"timeline.{fmt}.jsonl")
        raise UsageError(f"{path} is a folder, not a file",
                         fix=f"give a file name, e.g. {path / example}")


def _unwritable(path: Path, exc: OSError) -> UsageError:
    return UsageError(f"cannot write {path}: {exc.strerror or exc}",
                      fix="check the path, its folder's permissions and the free space")


def open_private(path: Path, *, newline: str | None = None) -> TextIO:
    """``path`` created (or truncated) for writing text, readable by its owner only
    (0600, like the rest of the evidence, whatever the umask). A lone surrogate (a
    record's ``"\\ud800"``, which JSON allows and UTF-8 cannot hold) is written as
    that escape, in a JSON string the same value: the record is evidence too."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
    except OSError:
        os.close(fd)
        raise
    return open(fd, "w", encoding="utf-8", newline=newline, errors="backslashreplace")


def _write(events: Iterable[Event], path: Path, fmt: str) -> int:
    line = line_writer(fmt)
    return _write_lines((line(event, False) for event in events), path, fmt)


def export_lines(lines: Iterable[str], path: Path, fmt: str) -> int:
    """Write finished ``lines`` (``line_writer``'s; empty ones skipped) to ``path`` as
    :func:`export` writes events; returns how many were written."""
    check_destination(path, fmt)
    try:
        return _write_lines(lines, path, fmt)
    except OSError as exc:
        raise _unwritable(path, exc) from None


def _write_lines(lines: Iterable[str], path: Path, fmt: str) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    written = 0
    try:
        with open_private(tmp, newline="") as fh:
            if fmt == "csv":
                fh.write(_CSV_HEADER_LINE)
            for text in lines:
                if text:
                    fh.write(text)
                    written += 1
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return written


class _Echo:
    """A csv writer's file whose ``write`` hands the row's text back (to writerow)."""

    write = staticmethod(str)


_CSV_ROW: Any = csv.writer(_Echo())
_CSV_HEADER_LINE: str = _CSV_ROW.writerow(CSV_HEADER)


def line_writer(fmt: str) -> Callable[[Event, bool], str]:
    """One event → its finished line in ``fmt`` (newline included; "" when the format
    has nothing for it), redacted. ``clean`` (second argument): the event was built from
    a record whose text :func:`rescind.redaction.is_clean_json` found nothing to redact
    in, so nothing derived from it can hold a secret either (every field is the
    record's text or rescind's own words, and each format's own names are public): the
    line is written without being checked a second time."""
    if fmt == "ocsf":
        from rescind.timeline.sources import names

        names()  # loads every source, and so its OCSF hook
    if fmt == "csv":
        def csv_line(event: Event, clean: bool) -> str:
            cells = to_csv_row(event)
            return str(_CSV_ROW.writerow(cells if clean else [str(redact(c)) for c in cells]))
        return csv_line
    held = _ALREADY_REDACTED.get(fmt, "")
    # pydantic-core writes the same text as json.dumps(separators=(",", ":"),
    # ensure_ascii=False) for str, int, bool and None, four times as fast; the formats
    # built from rescind's own fields hold nothing else.
    fast = to_json if fmt in ("ocsf", "timesketch") else None

    def json_line(event: Event, clean: bool) -> str:
        line = _line(event, fmt, clean)
        if line is None:
            return ""
        if clean and fast is not None:
            return fast(line).decode() + "\n"
        if clean:
            return json.dumps(line, separators=(",", ":"), ensure_ascii=False,
                              default=str) + "\n"
        return redacted_json(line, separators=(",", ":"), ensure_ascii=False, default=str,
                             redacted=held) + "\n"
    return json_line


# A format's field already written by ``redacted_json`` (see there): not scanned twice.
_ALREADY_REDACTED = {"ocsf": "raw_data"}


def _line(event: Event, fmt: str, clean: bool = False) -> dict[str, Any] | None:
    """One event in ``fmt``, before redaction (``redacted_json`` writes it)."""
    if fmt == "ocsf":
        return to_ocsf(event, clean=clean)
    if fmt == "timesketch":
        return to_timesketch(event)
    if fmt == "raw":
        return dict(event.raw) if event.raw else None
    try:
        return event.model_dump(mode="json")
    except ValueError:  # a raw record nested past pydantic's depth: written as parsed
        dumped = event.model_dump(mode="json", exclude={"raw"})
        dumped["raw"] = event.raw
        return dumped
