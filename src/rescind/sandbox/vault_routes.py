"""The simulated Vault's routes: each path's handler, per engine, on a VaultState.

Token auth, AppRole, leases, the database and AWS secrets engines, KV v2 and the
``sys/`` endpoints rescind reads. ``vault_api`` authorises a request and wraps what
a handler returns in Vault's envelope; a handler raises ``ApiError`` for Vault's
error answers.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rescind.sandbox.vault_state import Token, VaultState, iso, random_id

if TYPE_CHECKING:
    from rescind.sandbox.vault_api import VaultApi


class ApiError(Exception):
    def __init__(self, status: int, *errors: str) -> None:
        super().__init__(status, errors)
        self.status = status
        self.errors = list(errors)


@dataclass
class Call:
    """One request as the route sees it."""

    cap: str
    path: str
    token: Token | None
    body: dict[str, Any]
    groups: dict[str, str]
    query: str = ""


Handler = Callable[["VaultApi", Call], dict[str, Any] | None]


def _need(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise ApiError(400, f"missing {name}")
    return value


def _caller(call: Call) -> Token:
    assert call.token is not None
    return call.token


def _lookup_self(api: VaultApi, call: Call) -> dict[str, Any]:
    return {"data": _caller(call).view(datetime.now(UTC), with_id=True)}


def _target(api: VaultApi, call: Call) -> Token:
    token = api.state.by_accessor(_need(call.body, "accessor"))
    if token is None:
        raise ApiError(400, "invalid accessor")
    return token


def _lookup_accessor(api: VaultApi, call: Call) -> dict[str, Any]:
    return {"data": _target(api, call).view(datetime.now(UTC), with_id=False)}


def _lookup_token(api: VaultApi, call: Call) -> dict[str, Any]:
    token = api.state.tokens.get(_need(call.body, "token"))
    if token is None:
        raise ApiError(403, "bad token")
    return {"data": token.view(datetime.now(UTC), with_id=True)}


def _revoke_accessor(api: VaultApi, call: Call) -> None:
    api.state.revoke_token(_target(api, call))


def _revoke_orphan(api: VaultApi, call: Call) -> None:
    token = api.state.tokens.get(_need(call.body, "token"))
    if token is None:
        raise ApiError(400, "invalid token")
    api.state.revoke_token(token, orphan_children=True)


def _accessors(api: VaultApi, call: Call) -> dict[str, Any]:
    return {"data": {"keys": sorted(t.accessor for t in api.state.tokens.values())}}


def _create_token(api: VaultApi, call: Call) -> dict[str, Any]:
    caller = _caller(call)
    policies = call.body.get("policies") or list(caller.policies)
    orphan = bool(call.body.get("no_parent")) or call.path.endswith("create-orphan")
    token = api.state.new_token(policies=[str(p) for p in policies],
                                parent=None if orphan else caller,
                                display_name=f"token-{call.body.get('display_name', '')}"
                                .rstrip("-"), ttl=_seconds(call.body.get("ttl"), 2764800))
    return {"auth": {"client_token": token.id, "accessor": token.accessor,
                     "policies": token.policies, "token_policies": token.policies,
                     "lease_duration": token.ttl, "renewable": True, "orphan": token.orphan}}


def _seconds(value: Any, default: int) -> int:
    if value in (None, ""):
        return default
    text = str(value)
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if text[-1:] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(text)


def _role(api: VaultApi, call: Call) -> Any:
    role = api.state.roles.get(call.groups["role"])
    if role is None:
        raise ApiError(404, f"role {call.groups['role']} does not exist")
    return role


def _list_roles(api: VaultApi, call: Call) -> dict[str, Any]:
    if not api.state.roles:
        raise ApiError(404)
    return {"data": {"keys": sorted(api.state.roles)}}


def _read_role(api: VaultApi, call: Call) -> dict[str, Any]:
    return {"data": _role(api, call).view()}


def _role_id(api: VaultApi, call: Call) -> dict[str, Any] | None:
    role = _role(api, call)
    if call.cap == "read":
        return {"data": {"role_id": role.role_id}}
    role.role_id = _need(call.body, "role_id")
    return None


def _secret_id_accessors(api: VaultApi, call: Call) -> dict[str, Any]:
    role = _role(api, call)
    if not role.secret_ids:
        raise ApiError(404)
    return {"data": {"keys": sorted(role.secret_ids)}}


def _new_secret_id(api: VaultApi, call: Call) -> dict[str, Any]:
    from rescind.sandbox.vault_state import SecretId

    role = _role(api, call)
    sid = SecretId(secret_id=str(uuid.uuid4()), accessor=str(uuid.uuid4()),
                   created=datetime.now(UTC), ttl=role.secret_id_ttl)
    role.secret_ids[sid.accessor] = sid
    return {"data": {"secret_id": sid.secret_id, "secret_id_accessor": sid.accessor,
                     "secret_id_ttl": sid.ttl, "secret_id_num_uses": 0}}


def _secret_id_by_accessor(api: VaultApi, call: Call) -> dict[str, Any] | None:
    role = _role(api, call)
    accessor = _need(call.body, "secret_id_accessor")
    sid = role.secret_ids.get(accessor)
    if sid is None:
        raise ApiError(404, f"failed to find accessor entry for secret_id_accessor: "
                            f"{accessor!r}")
    if call.groups["verb"] == "destroy":
        del role.secret_ids[accessor]
        return None
    return {"data": sid.view()}


def _secret_id_lookup(api: VaultApi, call: Call) -> dict[str, Any] | None:
    role = _role(api, call)
    wanted = _need(call.body, "secret_id")
    sid = next((s for s in role.secret_ids.values() if s.secret_id == wanted), None)
    return None if sid is None else {"data": sid.view()}


def _approle_login(api: VaultApi, call: Call) -> dict[str, Any]:
    role_id, secret_id = _need(call.body, "role_id"), _need(call.body, "secret_id")
    role = next((r for r in api.state.roles.values() if r.role_id == role_id), None)
    if role is None or not any(s.secret_id == secret_id for s in role.secret_ids.values()):
        raise ApiError(400, "invalid role or secret ID")
    token = api.state.new_token(policies=["default", *role.policies], parent=None,
                                display_name="approle", ttl=role.token_ttl,
                                meta={"role_name": role.name}, path="auth/approle/login")
    return {"auth": {"client_token": token.id, "accessor": token.accessor,
                     "policies": token.policies, "metadata": token.meta,
                     "lease_duration": token.ttl, "orphan": True}}


def _lease_lookup(api: VaultApi, call: Call) -> dict[str, Any]:
    lease = api.state.leases.get(_need(call.body, "lease_id"))
    if lease is None:
        raise ApiError(400, "invalid lease")
    return {"data": lease.view(datetime.now(UTC))}


def _lease_list(api: VaultApi, call: Call) -> dict[str, Any]:
    keys = api.state.lease_keys(call.groups["prefix"])
    if not keys:
        raise ApiError(404)
    return {"data": {"keys": keys}}


def _lease_revoke(api: VaultApi, call: Call) -> None:
    lease_id = _need(call.body, "lease_id")
    if lease_id not in api.state.leases:
        raise ApiError(400, "invalid lease")
    del api.state.leases[lease_id]


def _revoke_prefix(api: VaultApi, call: Call) -> None:
    api.state.revoke_prefix(call.groups["prefix"])


def _mint(api: VaultApi, call: Call) -> dict[str, Any]:
    """GET <mount>/creds/<role>: a read that issues a credential, and a lease for it."""
    state, mount, role = api.state, call.groups["mount"], call.groups["role"]
    known = state.aws_roles if mount == state.aws_mount else state.dynamic_roles
    if role not in known:
        raise ApiError(400, f"unknown role: {role}")
    lease = state.issue_lease(f"{mount}/creds/{role}", call.token)
    if mount == state.aws_mount:
        data: dict[str, Any] = {"access_key": "AKIA" + random_id(16).upper(),
                                "secret_key": random_id(40), "security_token": None}
    else:
        data = {"username": f"v-{role}-{random_id(8)}", "password": random_id(20)}
    return {"lease_id": lease.id, "renewable": True, "lease_duration": lease.ttl, "data": data}


def _db_config(api: VaultApi, call: Call) -> dict[str, Any]:
    conn = api.state.connections.get(call.groups["name"])
    if conn is None:
        raise ApiError(404)
    return {"data": {"plugin_name": conn.plugin, "allowed_roles": conn.allowed_roles,
                     "connection_details": {"connection_url": conn.connection_url,
                                            "username": conn.username},
                     "password_policy": "", "root_credentials_rotate_statements": [],
                     "verify_connection": True}}


def _db_list_config(api: VaultApi, call: Call) -> dict[str, Any]:
    return {"data": {"keys": sorted(api.state.connections)}}


def _rotate_root(api: VaultApi, call: Call) -> None:
    conn = api.state.connections.get(call.groups["name"])
    if conn is None:
        raise ApiError(400, f"unable to find database connection: {call.groups['name']}")
    conn.root_rotations += 1


def _static_role(api: VaultApi, call: Call) -> dict[str, Any]:
    role = api.state.static_roles.get(call.groups["name"])
    if role is None:
        raise ApiError(404)
    elapsed = (datetime.now(UTC) - role.last_rotation).total_seconds()
    return {"data": {"db_name": role.db_name, "username": role.username,
                     "rotation_period": role.rotation_period,
                     "last_vault_rotation": iso(role.last_rotation),
                     "ttl": max(0, int(role.rotation_period - elapsed)),
                     "rotation_statements": [], "credential_type": "password"}}


def _list_static_roles(api: VaultApi, call: Call) -> dict[str, Any]:
    return {"data": {"keys": sorted(api.state.static_roles)}}


def _rotate_role(api: VaultApi, call: Call) -> None:
    role = api.state.static_roles.get(call.groups["name"])
    if role is None:
        raise ApiError(400, f"unable to find static role: {call.groups['name']}")
    role.last_rotation = datetime.now(UTC)
    role.password = random_id(20)


def _kv_metadata(api: VaultApi, call: Call) -> dict[str, Any]:
    path = call.groups["path"]
    if call.cap == "list":
        prefix = path.rstrip("/") + "/" if path else ""
        keys = sorted({k[len(prefix):].split("/")[0] + ("/" if "/" in k[len(prefix):] else "")
                       for k in api.state.kv if k.startswith(prefix)})
        if not keys:
            raise ApiError(404)
        return {"data": {"keys": keys}}
    meta = api.state.kv_metadata(path)
    if meta is None:
        raise ApiError(404)
    return {"data": meta}


def _kv_data(api: VaultApi, call: Call) -> dict[str, Any]:
    path = call.groups["path"]
    if call.cap == "read":
        versions = api.state.kv.get(path)
        if not versions:
            raise ApiError(404)
        wanted = re.search(r"version=(\d+)", call.query)
        number = int(wanted.group(1)) if wanted else len(versions)
        if not 1 <= number <= len(versions) or versions[number - 1].destroyed:
            raise ApiError(404)
        version = versions[number - 1]
        return {"data": {"data": dict(version.data),
                         "metadata": {"version": number, "created_time": iso(version.created),
                                      "destroyed": False, "deletion_time": ""}}}
    data = call.body.get("data")
    if not isinstance(data, dict):
        raise ApiError(400, "no data provided")
    cas = (call.body.get("options") or {}).get("cas")
    current = len(api.state.kv.get(path, []))
    if cas is not None and int(cas) != current:
        raise ApiError(400, "check-and-set parameter did not match the current version")
    return {"data": api.state.kv_write(path, data)}


def _kv_destroy(api: VaultApi, call: Call) -> None:
    versions = api.state.kv.get(call.groups["path"])
    if not versions:
        raise ApiError(404)
    for number in call.body.get("versions") or []:
        if 1 <= int(number) <= len(versions):
            versions[int(number) - 1].destroyed = True


def _mounts(api: VaultApi, call: Call) -> dict[str, Any]:
    state = api.state
    mounts: dict[str, Any] = {
        "sys/": {"type": "system", "options": None},
        "cubbyhole/": {"type": "cubbyhole", "options": None},
        f"{state.kv_mount}/": {"type": "kv", "options": {"version": "2"}},
        f"{state.db_mount}/": {"type": "database", "options": None}}
    if state.aws_mount:
        mounts[f"{state.aws_mount}/"] = {"type": "aws", "options": None}
    return {"data": mounts}


def _auth_mounts(api: VaultApi, call: Call) -> dict[str, Any]:
    return {"data": {"token/": {"type": "token"},
                     f"{api.state.approle_mount}/": {"type": "approle"}}}


def _capabilities_self(api: VaultApi, call: Call) -> dict[str, Any]:
    paths = call.body.get("paths") or [call.body.get("path")]
    out: dict[str, Any] = {}
    for path in [str(p) for p in paths if p]:
        caps = [c for c in ("create", "read", "update", "delete", "list", "sudo")
                if api.allowed(_caller(call), c, path)]
        out[path] = caps or ["deny"]
    return {"data": {**out, "capabilities": out[next(iter(out))] if len(out) == 1 else []}}


def _audit_hash(api: VaultApi, call: Call) -> dict[str, Any]:
    if call.groups["device"].strip("/") != "file":
        raise ApiError(400, f'unknown audit backend "{call.groups["device"]}/"')
    return {"data": {"hash": api.audit.hash(_need(call.body, "input"))}}


def _write_policy(api: VaultApi, call: Call) -> dict[str, Any] | None:
    from rescind.providers.vault_policy import policy_rules

    if call.cap == "read":
        rules = api.state.policies.get(call.groups["name"])
        if rules is None:
            raise ApiError(404)
        return {"data": {"name": call.groups["name"], "policy": str(rules)}}
    api.state.policies[call.groups["name"]] = policy_rules(_need(call.body, "policy"))
    return None


def routes(state: VaultState) -> list[tuple[frozenset[str], re.Pattern[str], Handler]]:
    kv = re.escape(state.kv_mount)
    ar = re.escape(state.approle_mount)
    db = re.escape(state.db_mount)
    one = r"[^/]+"
    read, update, lst = frozenset({"read"}), frozenset({"update"}), frozenset({"list"})
    table: list[tuple[frozenset[str], str, Handler]] = [
        (read, "auth/token/lookup-self", _lookup_self),
        (update, "auth/token/lookup-accessor", _lookup_accessor),
        (update, "auth/token/lookup", _lookup_token),
        (update, "auth/token/revoke-accessor", _revoke_accessor),
        (update, "auth/token/revoke-orphan", _revoke_orphan),
        (lst, "auth/token/accessors", _accessors),
        (update, "auth/token/create(-orphan)?", _create_token),
        (lst, f"auth/{ar}/role", _list_roles),
        (read, f"auth/{ar}/role/(?P<role>{one})", _read_role),
        (read | update, f"auth/{ar}/role/(?P<role>{one})/role-id", _role_id),
        (lst, f"auth/{ar}/role/(?P<role>{one})/secret-id", _secret_id_accessors),
        (update, f"auth/{ar}/role/(?P<role>{one})/secret-id", _new_secret_id),
        (update, f"auth/{ar}/role/(?P<role>{one})/secret-id-accessor/(?P<verb>lookup|destroy)",
         _secret_id_by_accessor),
        (update, f"auth/{ar}/role/(?P<role>{one})/secret-id/lookup", _secret_id_lookup),
        (update, f"auth/{ar}/login", _approle_login),
        (update, "sys/leases/lookup", _lease_lookup),
        (lst, "sys/leases/lookup/?(?P<prefix>.*)", _lease_list),
        (update, "sys/leases/revoke", _lease_revoke),
        (update, "sys/leases/revoke-prefix/(?P<prefix>.*)", _revoke_prefix),
        (read, f"(?P<mount>{db}|{re.escape(state.aws_mount or db)})/creds/(?P<role>{one})",
         _mint),
        (lst, f"{db}/config", _db_list_config),
        (read, f"{db}/config/(?P<name>{one})", _db_config),
        (update, f"{db}/rotate-root/(?P<name>{one})", _rotate_root),
        (lst, f"{db}/static-roles", _list_static_roles),
        (read, f"{db}/static-roles/(?P<name>{one})", _static_role),
        (update, f"{db}/rotate-role/(?P<name>{one})", _rotate_role),
        (read | lst, f"{kv}/metadata/?(?P<path>.*)", _kv_metadata),
        (read | update, f"{kv}/data/(?P<path>.+)", _kv_data),
        (update, f"{kv}/destroy/(?P<path>.+)", _kv_destroy),
        (read, "sys/mounts", _mounts),
        (read, "sys/auth", _auth_mounts),
        (update, "sys/capabilities-self", _capabilities_self),
        (update, "sys/audit-hash/(?P<device>.+)", _audit_hash),
        (read | update, "sys/policies/acl/(?P<name>[^/]+)", _write_policy),
    ]
    return [(caps, re.compile(pattern), handler) for caps, pattern, handler in table]
