"""Vault file audit device logs, normalised into the timeline's events.

Vault has no API to read its audit log, so rescind reads the files its ``file`` audit
device writes: one JSON object a line, a ``request`` and a ``response`` entry per
call (joined on ``request.id``), tokens, accessors and secret values HMAC'd with the
device's salt. A responder finds a token's events with its accessor's HMAC (Vault's
``sys/audit-hash/<device>`` computes it, as ``vault.audit.find`` does), or an AppRole
role's by the role name Vault puts in the token's metadata. A line that cannot be
read is counted and reported with its file and line; it never stops the rest.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from rescind.timeline.convert import DEFAULT_LIMITS, ConvertResult, Malformed, read_text
from rescind.timeline.event import Event
from rescind.timeline.limits import Limits

SOURCE = "vault.audit"
_WRITES = ("create", "update", "delete", "patch")


class BadRecord(ValueError):
    pass


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def kv_secret(path: str) -> str | None:
    """``mount/path`` of a KV v2 data path (``secret/data/payments/db``), else None."""
    mount, _, rest = path.partition("/")
    if rest.startswith("data/") and len(rest) > len("data/"):
        return f"{mount}/{rest[len('data/'):]}"
    return None


def from_audit(record: Mapping[str, Any]) -> Event:
    """One audit entry (a request/response pair's best half) as an Event."""
    request = _mapping(record.get("request"))
    auth = _mapping(record.get("auth"))
    response = _mapping(record.get("response"))
    path, operation, when = request.get("path"), request.get("operation"), record.get("time")
    if not isinstance(path, str) or not isinstance(operation, str) or not isinstance(when, str):
        raise BadRecord("no request.path, request.operation or time: not a Vault audit entry")
    time = datetime.fromisoformat(when.replace("Z", "+00:00"))
    display = str(auth.get("display_name") or "")
    accessor = str(auth.get("accessor") or request.get("client_token_accessor") or "")
    error = str(record.get("error") or "") or None
    role = str(_mapping(auth.get("metadata")).get("role_name") or "")
    lease = str(_mapping(response.get("secret")).get("lease_id") or "")
    relevant = bool(operation in _WRITES or error or kv_secret(path) or "/creds/" in path
                    or path.startswith(("sys/", "auth/token/create")))
    what = f"{operation} {path}"
    return Event(
        uid=f"vault-{request.get('id') or hash((when, path, accessor))}", time=time,
        source=SOURCE, cloud="vault", action=what, service=path.split("/", 1)[0],
        actor=display or str(auth.get("entity_id") or "") or accessor,
        actor_type=f"approle:{role}" if role else ("token" if auth else "unauthenticated"),
        credential=accessor or None, target=path,
        source_ip=str(request.get("remote_address") or ""),
        result="failure" if error else "success", error=error,
        description=f"{display or accessor or 'unauthenticated'} {what}"
                    + (f" → lease {lease}" if lease else "") + (f" ({error})" if error else ""),
        relevant=relevant, raw=dict(record))


@dataclass
class AuditFilter:
    """Which entries are the credential's: accessor HMACs and/or AppRole role names."""

    accessor_hmacs: set[str] = field(default_factory=set)
    roles: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.accessor_hmacs or self.roles)

    def matches(self, record: Mapping[str, Any]) -> bool:
        auth = _mapping(record.get("auth"))
        request = _mapping(record.get("request"))
        if {auth.get("accessor"), request.get("client_token_accessor")} & self.accessor_hmacs:
            return True
        return _mapping(auth.get("metadata")).get("role_name") in self.roles


@dataclass
class AuditResult(ConvertResult):
    other: int = 0  # well-formed entries of other credentials (not evidence of this one)


def convert_audit_files(paths: Iterable[Path], keep: AuditFilter | None = None,
                        limits: Limits = DEFAULT_LIMITS) -> AuditResult:
    """Events of every audit entry in ``paths`` (only ``keep``'s when given), reading
    gzipped logs within ``limits``."""
    result = AuditResult()
    for path in paths:
        result.files += 1
        name = str(path)
        pairs: dict[str, tuple[str, dict[str, Any]]] = {}
        order: list[str] = []
        text, problem = read_text(path, limits)
        if problem is not None:
            result.records += 1
            result.malformed.append(Malformed(name, "file", problem))
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            result.records += 1
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                result.malformed.append(Malformed(name, f"line {number}", f"not JSON ({exc.msg})"))
                continue
            request = _mapping(record.get("request")) if isinstance(record, Mapping) else {}
            key = str(request.get("id") or f"line {number}")
            if key not in pairs:
                order.append(key)
            # The response half carries what the call returned (a lease id): prefer it.
            if key not in pairs or (isinstance(record, Mapping)
                                    and record.get("type") == "response"):
                pairs[key] = (f"line {number}", record)
        for key in order:
            position, record = pairs[key]
            if not isinstance(record, Mapping):
                result.malformed.append(Malformed(name, position, "expected a JSON object"))
                continue
            try:
                event = from_audit(record)
            except (BadRecord, TypeError, ValueError) as exc:
                result.malformed.append(Malformed(name, position, str(exc)))
                continue
            if keep and not keep.matches(record):
                result.other += 1
                continue
            result.events.append(event)
            result.by_file.setdefault(name, []).append(event)
    return result


def findings(events: Iterable[Event]) -> dict[str, list[str]]:
    """What the credential touched: KV secrets read, leases issued, paths, addresses."""
    kv: list[str] = []
    leases: list[str] = []
    paths: list[str] = []
    ips: list[str] = []
    for event in events:
        raw = event.raw or {}
        request = _mapping(raw.get("request"))
        path, operation = str(request.get("path") or ""), str(request.get("operation") or "")
        lease = str(_mapping(_mapping(raw.get("response")).get("secret")).get("lease_id") or "")
        if operation == "read" and (secret := kv_secret(path)) and event.result == "success":
            kv.append(secret)
        if lease and event.result == "success":
            leases.append(lease)
        paths.append(path)
        if event.source_ip:
            ips.append(event.source_ip)
    prefixes = [lease.rsplit("/", 1)[0] for lease in leases]

    def unique(values: list[str]) -> list[str]:
        return list(dict.fromkeys(values))

    return {"kv_secrets": unique(kv), "lease_ids": unique(leases),
            "lease_prefixes": unique(prefixes), "paths": unique(paths),
            "source_ips": unique(ips)}
