"""The blast radius of a leaked key, as a tree, from what the steps found and did.

Built from the outputs of the describe step (``aws.iam.describe_principal``: the
key's user and the policies it carries) and the persistence step
(``aws.iam.find_persistence``: what the key created, and the policies those carry);
each node says whether a finished step contained it: a key deactivated or deleted,
a user quarantined, a console login removed. A policy is contained when whoever
carries it is. Nothing is asked of the cloud: this is the record's view.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rescind.engine.responder import StepState, StepStatus

DESCRIBE = "aws.iam.describe_principal"
PERSISTENCE = "aws.iam.find_persistence"
_KEY_CONTAINERS = ("aws.iam.deactivate_access_key", "aws.iam.delete_access_key")
_USER_CONTAINERS = ("aws.iam.quarantine_user",)
_LOGIN_CONTAINERS = ("aws.iam.delete_login_profile",)


@dataclass
class Node:
    kind: str  # key | user | policy | login | group | created
    name: str
    contained: bool | None  # None: not something a step contains (a heading)
    children: list[Node] = field(default_factory=list)


@dataclass
class _Contained:
    keys: set[str] = field(default_factory=set)
    users: set[str] = field(default_factory=set)
    logins: set[str] = field(default_factory=set)


def blast_radius(steps: Iterable[StepState]) -> list[Node]:
    """The tree's roots (the leaked keys); empty until the describe step is done."""
    done = [s for s in steps if s.status is StepStatus.DONE]
    described = next((s.outputs for s in done if s.action == DESCRIBE), None)
    if not described:
        return []
    found = next((s.outputs for s in done if s.action == PERSISTENCE), {})
    contained = _contained(done)
    user = str(described.get("user") or described.get("role") or "")
    leaked = [str(k["access_key_id"]) for k in described.get("keys", [])
              if isinstance(k, dict) and k.get("leaked")] or \
        [str(k) for k in described.get("access_key_ids", [])[:1]]
    owner = Node("user", user, user in contained.users)
    owner.children += [_policy(p, owner.contained) for p in described.get("policies", [])]
    owner.children += [Node("group", str(g), owner.contained)
                       for g in described.get("groups", [])]
    if described.get("console_access"):
        owner.children.append(Node("login", "console login", _login(user, contained)))
    created = _created(found.get("findings", []), contained)
    if created:
        owner.children.append(Node("created", "created with the key", None, created))
    return [Node("key", key, key in contained.keys, [owner]) for key in leaked]


def _contained(done: list[StepState]) -> _Contained:
    found = _Contained()
    for step in done:
        outputs = step.outputs
        if step.action in _KEY_CONTAINERS:
            found.keys.update(str(k) for k in outputs.get("access_key_ids", []))
        elif step.action in _USER_CONTAINERS:
            found.users.update(str(u) for u in outputs.get("users", []))
        elif step.action in _LOGIN_CONTAINERS:
            found.logins.update(str(u) for u in outputs.get("users", []))
    return found


def _login(user: str, contained: _Contained) -> bool:
    return user in contained.logins or user in contained.users


def _policy(name: Any, carrier_contained: bool | None) -> Node:
    return Node("policy", str(name), bool(carrier_contained))


def _created(findings: list[Any], contained: _Contained) -> list[Node]:
    """Users the key created, with their keys, logins and policies; then whatever
    else it created (roles, policies, providers) on its own line."""
    findings = [f for f in findings if isinstance(f, dict)]
    users: dict[str, Node] = {}
    for f in findings:
        if f.get("kind") == "user" and f.get("user"):
            name = str(f["user"])
            users[name] = Node("user", name, name in contained.users or f.get("exists") is False)
    others: list[Node] = []
    for f in findings:
        kind, who = f.get("kind"), str(f.get("user") or "")
        parent = users.get(who)
        gone = f.get("exists") is False
        if kind == "user":
            continue
        if kind == "access_key":
            key = str(f.get("access_key_id", ""))
            node = Node("key", key, gone or key in contained.keys or f.get("status") ==
                        "Inactive")
        elif kind == "login_profile":
            node = Node("login", "console login", gone or _login(who, contained))
        elif kind in ("inline_policy", "attached_policy"):
            name = str(f.get("policy_name") or f.get("policy_arn") or "")
            node = _policy(name, gone or (parent.contained if parent else False))
        else:
            target = f.get("role") or f.get("policy_arn") or f.get("provider_arn") or who
            node = Node(str(kind), str(target), gone)
        (parent.children if parent else others).append(node)
    return [*users.values(), *others]
