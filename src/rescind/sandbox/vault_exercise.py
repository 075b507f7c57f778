"""Exercise injects in the simulated Vault, and its saved state.

The attacker creates a child token or reads a secret with a token the scenario
leaked, written to the audit device as Vault would; refused ("permission denied",
nothing changed) once the responder revoked the token.

The state is saved and restored by ``fake_exercise.FakeExercise`` like the other
fakes', but without a secret: token ids, AppRole secret ids, a static role's password
and the values of KV versions written during the exercise are never dumped. Tokens
are saved by accessor (and, for the scenario's tokens and the responder's, by a
handle: the scenario's name, ``@responder``); ``load`` runs on a freshly seeded Vault
and keeps the fresh ids of the tokens whose handle it finds, mints new ids for the
others, and drops what the saved state no longer holds (a revoked token stays
revoked). A role id the responder changed comes back as a new random one (not the
scenario's leaked one); a KV version written during the exercise comes back with its
keys and ``HIDDEN_DUE_TO_SECURITY_REASONS`` values, as the AWS replay does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rescind.redaction import REDACTED
from rescind.sandbox.scenario_exercise import Fired
from rescind.sandbox.vault_scenario import VaultInjectSpec
from rescind.sandbox.vault_state import (
    Connection,
    KvVersion,
    Lease,
    Role,
    SecretId,
    StaticRole,
    Token,
    random_id,
)

if TYPE_CHECKING:
    from rescind.sandbox.vault import VaultSandbox

DENIED = "permission denied"

RESPONDER = "@responder"
RESPONDER_PARENT = "@responder-parent"


class VaultFake:
    """The simulated Vault as an exercise sees it (fake_exercise.Fake)."""

    def __init__(self, sandbox: VaultSandbox) -> None:
        self.sandbox = sandbox

    @property
    def lock(self) -> threading.RLock:
        return self.sandbox.state.lock

    @property
    def on_change(self) -> Callable[[], None] | None:
        return self.sandbox.api.on_change

    @on_change.setter
    def on_change(self, hook: Callable[[], None] | None) -> None:
        self.sandbox.api.on_change = hook

    # -- injects ---------------------------------------------------------------------------
    def play(self, inject: VaultInjectSpec, at: datetime) -> Fired:
        state, audit = self.sandbox.state, self.sandbox.api.audit
        targets: list[str] = []
        with state.lock:
            for move in inject.attacker:
                held = self.sandbox.tokens.get(move.token)
                token = state.tokens.get(held.id) if held is not None else None
                if move.create_token is not None:
                    path, operation = "auth/token/create", "update"
                else:
                    path = f"{state.kv_mount}/data/{str(move.read_secret).strip('/')}"
                    operation = "read"
                if token is None:  # revoked: Vault answers 403 and audits the attempt
                    audit.write_pair(when=at, token=None, operation=operation, path=path,
                                     remote_address=move.ip, error=DENIED)
                    continue
                if move.create_token is not None:
                    child = state.new_token(policies=token.policies, parent=token,
                                            display_name=f"token-{move.create_token}",
                                            created=at)
                    audit.write_pair(when=at, token=token, operation=operation, path=path,
                                     remote_address=move.ip,
                                     response_data={"accessor": child.accessor})
                    targets.append(child.accessor)
                else:
                    audit.write_pair(when=at, token=token, operation=operation, path=path,
                                     remote_address=move.ip)
                    targets.append(f"{state.kv_mount}/{str(move.read_secret).strip('/')}")
        return Fired(targets)

    # -- saved state -----------------------------------------------------------------------
    def _handles(self) -> dict[str, str]:
        """Token id → the handle a fresh Vault seeded from the same scenario finds it by."""
        state = self.sandbox.state
        handles = {t.id: name for name, t in self.sandbox.tokens.items()}
        responder = state.tokens.get(self.sandbox.responder_token)
        if responder is not None:
            handles[responder.id] = RESPONDER
            if responder.parent is not None:
                handles[responder.parent] = RESPONDER_PARENT
        return handles

    def dump(self) -> dict[str, Any]:
        state = self.sandbox.state
        with state.lock:
            handles = self._handles()
            accessor = {t.id: t.accessor for t in state.tokens.values()}
            return {
                "mounts": {"kv": state.kv_mount, "approle": state.approle_mount,
                           "db": state.db_mount, "aws": state.aws_mount},
                "tokens": [{"handle": handles.get(t.id), "accessor": t.accessor,
                            "policies": list(t.policies), "display_name": t.display_name,
                            "created": t.created.isoformat(), "ttl": t.ttl,
                            "parent": accessor.get(t.parent or ""),
                            "entity_id": t.entity_id, "meta": dict(t.meta), "path": t.path}
                           for t in state.tokens.values()],
                "roles": [{"name": r.name, "policies": list(r.policies),
                           "token_ttl": r.token_ttl, "secret_id_ttl": r.secret_id_ttl,
                           "role_id_changed":
                               r.role_id != self.sandbox.seeded_role_ids.get(r.name),
                           "secret_ids": [{"accessor": s.accessor,
                                           "created": s.created.isoformat(), "ttl": s.ttl,
                                           "metadata": dict(s.metadata),
                                           "cidr_list": list(s.cidr_list)}
                                          for s in r.secret_ids.values()]}
                          for r in state.roles.values()],
                "leases": [{"id": le.id, "issued": le.issued.isoformat(), "ttl": le.ttl,
                            "token": accessor.get(le.token or "")}
                           for le in state.leases.values()],
                "kv": {path: [{"keys": sorted(v.data), "created": v.created.isoformat(),
                               "destroyed": v.destroyed,
                               "deleted": v.deleted.isoformat() if v.deleted else None}
                              for v in versions] for path, versions in state.kv.items()},
                "connections": [{"name": c.name, "plugin": c.plugin, "username": c.username,
                                 "connection_url": c.connection_url,
                                 "allowed_roles": list(c.allowed_roles),
                                 "root_rotations": c.root_rotations}
                                for c in state.connections.values()],
                "static_roles": [{"name": s.name, "db_name": s.db_name,
                                  "username": s.username, "rotation_period": s.rotation_period,
                                  "last_rotation": s.last_rotation.isoformat()}
                                 for s in state.static_roles.values()],
                "dynamic_roles": list(state.dynamic_roles),
                "aws_roles": list(state.aws_roles),
                "policies": {k: {p: list(c) for p, c in v.items()}
                             for k, v in state.policies.items()},
                # The audit device's lines are saved apart, as they come (FakeExercise's
                # log); its salt here, so a resumed Vault hashes as before the crash.
                "audit_salt": self.sandbox.api.audit.salt}

    def load(self, saved: dict[str, Any]) -> None:
        """Bring this freshly seeded Vault to ``saved`` (dumped from one seeded alike)."""
        sandbox, state = self.sandbox, self.sandbox.state
        with state.lock:
            fresh = self._handles()
            by_handle = {h: state.tokens[i] for i, h in fresh.items() if i in state.tokens}
            ids: dict[str, str] = {}  # saved accessor → the id it has now
            for t in saved["tokens"]:
                known = by_handle.get(t["handle"]) if t["handle"] else None
                ids[t["accessor"]] = known.id if known is not None else f"hvs.{random_id()}"
            tokens: dict[str, Token] = {}
            for t in saved["tokens"]:
                token = Token(id=ids[t["accessor"]], accessor=t["accessor"],
                              policies=list(t["policies"]), display_name=t["display_name"],
                              created=datetime.fromisoformat(t["created"]), ttl=t["ttl"],
                              parent=ids.get(t["parent"] or ""), entity_id=t["entity_id"],
                              meta=dict(t["meta"]), path=t["path"])
                tokens[token.id] = token
                if t["handle"] in sandbox.tokens:
                    sandbox.tokens[t["handle"]] = token
            # A scenario token the saved state lacks was revoked: the attacker's name for
            # it keeps an id no token has any more.
            state.tokens = tokens
            mounts = saved["mounts"]
            state.kv_mount, state.approle_mount = mounts["kv"], mounts["approle"]
            state.db_mount, state.aws_mount = mounts["db"], mounts["aws"]
            state.roles = {r["name"]: _role(r, state.roles.get(r["name"]))
                           for r in saved["roles"]}
            state.leases = {le["id"]: Lease(id=le["id"],
                                            issued=datetime.fromisoformat(le["issued"]),
                                            ttl=le["ttl"], token=ids.get(le["token"] or ""))
                            for le in saved["leases"]}
            state.kv = {path: [_kv_version(v, state.kv.get(path, []), n)
                               for n, v in enumerate(versions)]
                        for path, versions in saved["kv"].items()}
            state.connections = {c["name"]: Connection(**c) for c in saved["connections"]}
            state.static_roles = {s["name"]: StaticRole(
                s["name"], s["db_name"], s["username"], s["rotation_period"],
                datetime.fromisoformat(s["last_rotation"])) for s in saved["static_roles"]}
            state.dynamic_roles = list(saved["dynamic_roles"])
            state.aws_roles = list(saved["aws_roles"])
            state.policies = saved["policies"]
            if "audit" in saved:  # saved whole in each snapshot, before the salt was random
                sandbox.api.audit.salt = "rescind-exercise-audit-salt"
                sandbox.api.audit.replace(saved["audit"])
            else:
                sandbox.api.audit.salt = saved["audit_salt"]
            sandbox.api.reroute()


def _role(saved: dict[str, Any], seeded: Role | None) -> Role:
    """An AppRole role as saved: its secret ids' values are the fresh seed's where the
    scenario has them, new random ones where the exercise made them."""
    kept = seeded.secret_ids if seeded is not None else {}
    role_id = seeded.role_id if seeded is not None and not saved["role_id_changed"] \
        else random_id(36)
    role = Role(name=saved["name"], role_id=role_id, policies=list(saved["policies"]),
                token_ttl=saved["token_ttl"], secret_id_ttl=saved["secret_id_ttl"])
    for s in saved["secret_ids"]:
        old = kept.get(s["accessor"])
        role.secret_ids[s["accessor"]] = SecretId(
            secret_id=old.secret_id if old is not None else random_id(36),
            accessor=s["accessor"], created=datetime.fromisoformat(s["created"]),
            ttl=s["ttl"], metadata=dict(s["metadata"]), cidr_list=list(s["cidr_list"]))
    return role


def _kv_version(saved: dict[str, Any], seeded: list[KvVersion], number: int) -> KvVersion:
    """A KV version as saved: the scenario's data where it has the version, else its keys
    with hidden values (a value written during the exercise is never saved)."""
    data = seeded[number].data if number < len(seeded) else dict.fromkeys(saved["keys"], REDACTED)
    return KvVersion(data=dict(data), created=datetime.fromisoformat(saved["created"]),
                     destroyed=saved["destroyed"],
                     deleted=datetime.fromisoformat(saved["deleted"]) if saved["deleted"]
                     else None)
