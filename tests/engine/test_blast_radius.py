"""The blast-radius tree: built from the describe and persistence steps' outputs, each node
contained only once a finished step contained it."""

from __future__ import annotations

from typing import Any

from rescind.engine.blast_radius import Node, blast_radius
from rescind.engine.responder import StepState, StepStatus

OWNER = {"user": "deploy-bot", "keys": [
    {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "leaked": True},
    {"access_key_id": "AKIAI44QH8DHBEXAMPLE", "leaked": False}],
    "console_access": True, "groups": ["deployers"], "policies": ["inline:read-deploy-secret"]}
FOUND = {"findings": [
    {"kind": "user", "user": "backup-admin", "exists": True},
    {"kind": "access_key", "user": "backup-admin", "access_key_id": "AKIABACKUPAD1EXAMPLE",
     "exists": True, "status": "Active"},
    {"kind": "attached_policy", "user": "backup-admin", "exists": True,
     "policy_arn": "arn:aws:iam::aws:policy/AdministratorAccess"},
    {"kind": "role", "role": "ci-admin", "exists": True}]}


def _step(action: str, outputs: dict[str, Any], done: bool = True) -> StepState:
    return StepState(id=action, phase="contain", kind="action", title=action, action=action,
                     status=StepStatus.DONE if done else StepStatus.PENDING, outputs=outputs)


def _flat(nodes: list[Node], depth: int = 0) -> list[tuple[int, str, bool | None]]:
    out = []
    for node in nodes:
        out.append((depth, node.name, node.contained))
        out += _flat(node.children, depth + 1)
    return out


def test_nothing_until_the_describe_step_is_done() -> None:
    assert blast_radius([_step("aws.iam.describe_principal", OWNER, done=False)]) == []


def test_the_tree_before_and_after_containment() -> None:
    found = [_step("aws.iam.describe_principal", OWNER),
             _step("aws.iam.find_persistence", FOUND)]
    before = _flat(blast_radius(found))
    assert before == [
        (0, "AKIAIOSFODNN7EXAMPLE", False), (1, "deploy-bot", False),
        (2, "inline:read-deploy-secret", False), (2, "deployers", False),
        (2, "console login", False), (2, "created with the key", None),
        (3, "backup-admin", False), (4, "AKIABACKUPAD1EXAMPLE", False),
        (4, "arn:aws:iam::aws:policy/AdministratorAccess", False), (3, "ci-admin", False)]
    contained = [
        *found,
        _step("aws.iam.deactivate_access_key", {"access_key_ids": ["AKIAIOSFODNN7EXAMPLE"]}),
        _step("aws.iam.quarantine_user", {"users": ["deploy-bot", "backup-admin"]}),
        _step("aws.iam.delete_access_key", {"access_key_ids": ["AKIABACKUPAD1EXAMPLE"]}),
        # Not finished: contains nothing yet.
        _step("aws.iam.delete_login_profile", {"users": ["nobody"]}, done=False)]
    after = dict(((d, n), c) for d, n, c in _flat(blast_radius(contained)))
    assert after[(0, "AKIAIOSFODNN7EXAMPLE")] and after[(1, "deploy-bot")]
    assert after[(2, "console login")]  # its user is quarantined
    assert after[(4, "arn:aws:iam::aws:policy/AdministratorAccess")]
    assert after[(4, "AKIABACKUPAD1EXAMPLE")]
    assert after[(3, "ci-admin")] is False  # a role nobody removed stays uncontained
