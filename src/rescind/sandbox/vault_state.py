"""What the simulated Vault holds, and the semantics rescind's actions depend on.

Revoking a token revokes its children (unless they are orphaned first) and every
lease it created; destroying a secret id leaves the tokens already issued with it
alive; revoking a lease prefix revokes every lease under it; rotating a static
role moves its ``last_vault_rotation``; a KV v2 write adds a version. Ids look like
Vault's but are random (``hvs.`` tokens, 24-character accessors).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import string
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

_ALNUM = string.ascii_letters + string.digits


def random_id(n: int = 24) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Token:
    id: str
    accessor: str
    policies: list[str]
    display_name: str
    created: datetime
    ttl: int
    parent: str | None = None  # parent token id
    entity_id: str = ""
    meta: dict[str, str] = field(default_factory=dict)
    path: str = "auth/token/create"

    @property
    def orphan(self) -> bool:
        return self.parent is None

    def view(self, now: datetime, *, with_id: bool) -> dict[str, Any]:
        expire = self.created + timedelta(seconds=self.ttl) if self.ttl else None
        return {"accessor": self.accessor, "creation_time": int(self.created.timestamp()),
                "creation_ttl": self.ttl, "display_name": self.display_name,
                "entity_id": self.entity_id, "expire_time": iso(expire) if expire else None,
                "explicit_max_ttl": 0, "id": self.id if with_id else "",
                "issue_time": iso(self.created), "meta": self.meta or None, "num_uses": 0,
                "orphan": self.orphan, "path": self.path, "policies": sorted(self.policies),
                "renewable": bool(self.ttl),
                "ttl": max(0, int((expire - now).total_seconds())) if expire else 0,
                "type": "service"}


@dataclass
class SecretId:
    secret_id: str
    accessor: str
    created: datetime
    ttl: int = 0
    metadata: dict[str, str] = field(default_factory=dict)
    cidr_list: list[str] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        expire = self.created + timedelta(seconds=self.ttl) if self.ttl else None
        return {"cidr_list": self.cidr_list, "creation_time": iso(self.created),
                "expiration_time": iso(expire) if expire else "0001-01-01T00:00:00Z",
                "last_updated_time": iso(self.created), "metadata": self.metadata,
                "secret_id_accessor": self.accessor, "secret_id_num_uses": 0,
                "secret_id_ttl": self.ttl, "token_bound_cidrs": []}


@dataclass
class Role:
    name: str
    role_id: str
    policies: list[str]
    token_ttl: int = 3600
    secret_id_ttl: int = 0
    secret_ids: dict[str, SecretId] = field(default_factory=dict)  # by accessor

    def view(self) -> dict[str, Any]:
        return {"bind_secret_id": True, "local_secret_ids": False,
                "secret_id_bound_cidrs": None, "secret_id_num_uses": 0,
                "secret_id_ttl": self.secret_id_ttl, "token_bound_cidrs": [],
                "token_explicit_max_ttl": 0, "token_max_ttl": 0,
                "token_no_default_policy": False, "token_num_uses": 0, "token_period": 0,
                "token_policies": list(self.policies), "token_ttl": self.token_ttl,
                "token_type": "default"}


@dataclass
class Lease:
    id: str
    issued: datetime
    ttl: int
    token: str | None = None  # id of the token that created it

    def view(self, now: datetime) -> dict[str, Any]:
        expire = self.issued + timedelta(seconds=self.ttl)
        return {"id": self.id, "issue_time": iso(self.issued), "expire_time": iso(expire),
                "last_renewal": None, "renewable": True,
                "ttl": max(0, int((expire - now).total_seconds()))}


@dataclass
class KvVersion:
    data: dict[str, Any]
    created: datetime
    destroyed: bool = False
    deleted: datetime | None = None


@dataclass
class StaticRole:
    name: str
    db_name: str
    username: str
    rotation_period: int
    last_rotation: datetime
    password: str = field(default_factory=lambda: random_id(20))


@dataclass
class Connection:
    name: str
    plugin: str
    username: str
    connection_url: str
    allowed_roles: list[str]
    root_rotations: int = 0


class AuditLog:
    """A file audit device: one JSON object a line, values HMAC'd with the salt."""

    def __init__(self, path: Path, salt: str) -> None:
        self.path = path
        self.salt = salt  # exercise mode saves it, so a resumed Vault hashes alike
        self._lock = threading.Lock()
        path.touch(mode=0o600)

    def hash(self, value: str) -> str:
        digest = hmac.new(self.salt.encode(), value.encode(), hashlib.sha256).hexdigest()
        return f"hmac-sha256:{digest}"

    def write_pair(self, *, when: datetime, token: Token | None, operation: str, path: str,
                   remote_address: str, data: dict[str, Any] | None = None,
                   error: str = "", lease_id: str | None = None,
                   response_data: dict[str, Any] | None = None) -> None:
        auth: dict[str, Any] = {}
        if token is not None:
            auth = {"client_token": self.hash(token.id), "accessor": self.hash(token.accessor),
                    "display_name": token.display_name, "policies": sorted(token.policies),
                    "token_policies": sorted(token.policies), "entity_id": token.entity_id,
                    "metadata": token.meta or None, "token_type": "service"}
        request_id = str(uuid.uuid4())
        request: dict[str, Any] = {
            "id": request_id, "operation": operation, "path": path,
            "remote_address": remote_address, "namespace": {"id": "root"},
            "client_token": auth.get("client_token", ""),
            "client_token_accessor": auth.get("accessor", ""),
            "data": {k: self._hash_value(v) for k, v in (data or {}).items()} or None}
        response: dict[str, Any] = {}
        if lease_id:
            response["secret"] = {"lease_id": lease_id}
        if response_data:
            response["data"] = {k: self._hash_value(v) for k, v in response_data.items()}
        lines = [{"time": iso(when), "type": "request", "auth": auth, "request": request,
                  "error": error},
                 {"time": iso(when), "type": "response", "auth": auth, "request": request,
                  "response": response, "error": error}]
        with self._lock, self.path.open("a", encoding="utf-8") as fh:
            for line in lines:
                fh.write(json.dumps(line, separators=(",", ":")) + "\n")

    def since(self, offset: int) -> tuple[list[str], int]:
        """The lines written after byte ``offset``, and the offset after them (exercise
        mode saves the new lines only). Whole lines: each pair is written under the lock."""
        with self._lock, self.path.open("rb") as fh:
            fh.seek(offset)
            data = fh.read()
        return data.decode("utf-8").splitlines(), offset + len(data)

    def replace(self, lines: list[str]) -> int:
        """Hold ``lines`` instead (a resumed exercise's saved log); the offset after them."""
        data = "".join(f"{line}\n" for line in lines).encode("utf-8")
        with self._lock:
            self.path.write_bytes(data)
        return len(data)

    def _hash_value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self._hash_value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._hash_value(v) for v in value]
        if isinstance(value, bool | int | float) or value is None:
            return value
        return self.hash(str(value))


@dataclass
class VaultState:
    """Everything the simulated Vault knows; callers hold ``lock`` while changing it."""

    kv_mount: str = "secret"
    approle_mount: str = "approle"
    db_mount: str = "database"
    aws_mount: str | None = "aws"
    tokens: dict[str, Token] = field(default_factory=dict)  # by id
    roles: dict[str, Role] = field(default_factory=dict)
    leases: dict[str, Lease] = field(default_factory=dict)
    kv: dict[str, list[KvVersion]] = field(default_factory=dict)  # path in mount → versions
    connections: dict[str, Connection] = field(default_factory=dict)
    static_roles: dict[str, StaticRole] = field(default_factory=dict)
    dynamic_roles: list[str] = field(default_factory=list)
    aws_roles: list[str] = field(default_factory=list)
    policies: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)

    # -- tokens ----------------------------------------------------------------
    def new_token(self, *, policies: list[str], parent: Token | None, display_name: str,
                  ttl: int = 2764800, created: datetime | None = None,
                  token_id: str | None = None, accessor: str | None = None,
                  entity_id: str = "", meta: dict[str, str] | None = None,
                  path: str = "auth/token/create") -> Token:
        token = Token(id=token_id or f"hvs.{random_id()}", accessor=accessor or random_id(),
                      policies=sorted(set(policies)), display_name=display_name,
                      created=created or datetime.now(UTC), ttl=ttl,
                      parent=parent.id if parent else None, entity_id=entity_id,
                      meta=dict(meta or {}), path=path)
        self.tokens[token.id] = token
        return token

    def by_accessor(self, accessor: str) -> Token | None:
        return next((t for t in self.tokens.values() if t.accessor == accessor), None)

    def revoke_token(self, token: Token, *, orphan_children: bool = False) -> None:
        """Revoke ``token``, its leases, and (unless orphaned) its children, recursively."""
        children = [t for t in self.tokens.values() if t.parent == token.id]
        for child in children:
            if orphan_children:
                child.parent = None
            else:
                self.revoke_token(child)
        for lease in [le for le in self.leases.values() if le.token == token.id]:
            del self.leases[lease.id]
        self.tokens.pop(token.id, None)

    # -- leases ----------------------------------------------------------------
    def issue_lease(self, prefix: str, token: Token | None, ttl: int = 3600) -> Lease:
        lease = Lease(id=f"{prefix.rstrip('/')}/{random_id()}", issued=datetime.now(UTC),
                      ttl=ttl, token=token.id if token else None)
        self.leases[lease.id] = lease
        return lease

    def lease_keys(self, prefix: str) -> list[str]:
        """LIST sys/leases/lookup/<prefix>: the next segment of every lease under it."""
        prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        keys: set[str] = set()
        for lease_id in self.leases:
            if lease_id.startswith(prefix):
                rest = lease_id[len(prefix):]
                head, sep, _ = rest.partition("/")
                keys.add(head + sep)
        return sorted(keys)

    def revoke_prefix(self, prefix: str) -> int:
        prefix = prefix.strip("/")
        doomed = [lid for lid in self.leases
                  if not prefix or lid == prefix or lid.startswith(prefix + "/")]
        for lease_id in doomed:
            del self.leases[lease_id]
        return len(doomed)

    # -- kv ----------------------------------------------------------------------
    def kv_metadata(self, path: str) -> dict[str, Any] | None:
        versions = self.kv.get(path)
        if not versions:
            return None
        return {"cas_required": False, "created_time": iso(versions[0].created),
                "current_version": len(versions), "custom_metadata": None,
                "delete_version_after": "0s", "max_versions": 0, "oldest_version": 1,
                "updated_time": iso(versions[-1].created),
                "versions": {str(i): {"created_time": iso(v.created),
                                      "deletion_time": iso(v.deleted) if v.deleted else "",
                                      "destroyed": v.destroyed}
                             for i, v in enumerate(versions, start=1)}}

    def kv_write(self, path: str, data: dict[str, Any]) -> dict[str, Any]:
        versions = self.kv.setdefault(path, [])
        versions.append(KvVersion(data=dict(data), created=datetime.now(UTC)))
        return {"created_time": iso(versions[-1].created), "custom_metadata": None,
                "deletion_time": "", "destroyed": False, "version": len(versions)}
