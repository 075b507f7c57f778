"""Exercise injects in the simulated Azure subscription (arm.py): the attacker adds a
federated credential to a managed identity, or gives a principal a role.

Each write is made in the subscription and written to its Activity Log (a Start and
an End event, as ARM logs a write) at the time the inject fires, so the team finds it
in the timeline. Once the caller holds no role assignment that allows the write (the
responder removed them), ARM refuses it: the Activity Log has the failed attempt
(AuthorizationFailed) and nothing changed.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from rescind.sandbox.graph_scenario import ROLES, AzureInjectSpec
from rescind.sandbox.scenario_exercise import Fired

if TYPE_CHECKING:
    from rescind.sandbox.arm import ArmFake

FIC_WRITE = ("Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/"
             "write")
RA_WRITE = "Microsoft.Authorization/roleAssignments/write"
# The built-in roles that allow each write (of those the simulated subscription knows).
ALLOWED_BY = {FIC_WRITE: {"Owner", "Contributor"},
              RA_WRITE: {"Owner", "User Access Administrator"}}
_ROLE_NAMES = {definition: name for name, definition in ROLES.items()}


def play(fake: ArmFake, inject: AzureInjectSpec, at: datetime) -> Fired:
    """Make the inject's writes real in the subscription; what they made."""
    from rescind.sandbox.arm import MSI

    sub = f"/subscriptions/{fake.subscription}"
    targets: list[str] = []
    with fake.lock:
        for number, move in enumerate(inject.attacker):
            made = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{inject.id}/{number}"))
            if move.add_federated_credential is not None:
                group, _, name = move.add_federated_credential.partition("/")
                identity = (f"{sub}/resourceGroups/{group}/providers/{MSI}/"
                            f"userAssignedIdentities/{name}")
                operation, resource = FIC_WRITE, f"{identity}/federatedIdentityCredentials/" \
                    f"{move.name}"
                refused = _refusal(fake, move.caller, operation, identity) or (
                    None if identity.lower() in fake.identities else "ResourceNotFound")
                if refused is None:  # a PUT: one of that name is replaced
                    held = fake.federated[identity.lower()]
                    held[:] = [f for f in held if f["name"] != move.name]
                    held.append({
                        "id": resource, "name": move.name,
                        "type": f"{MSI}/userAssignedIdentities/federatedIdentityCredentials",
                        "properties": {"issuer": move.issuer, "subject": move.subject,
                                       "audiences": ["api://AzureADTokenExchange"]}})
                    targets.append(str(move.name))
            else:
                scope = move.scope or sub
                resource = (f"{scope}/providers/Microsoft.Authorization/roleAssignments/"
                            f"{move.assignment or made}")
                operation = RA_WRITE
                refused = _refusal(fake, move.caller, operation, scope)
                if refused is None:
                    fake.add_assignment(move.assignment or made, str(move.assign_role),
                                        move.role, move.scope)
                    targets += [resource, str(move.assign_role)]
            _log(fake, operation, move.caller, resource, at, move.ip, refused)
    return Fired(targets)


def _refusal(fake: ArmFake, caller: str, operation: str, resource: str) -> str | None:
    """Why ARM refuses ``caller``'s ``operation`` on ``resource`` now (None: it may)."""
    for assignment in fake.assignments.values():
        props = assignment["properties"]
        role = _ROLE_NAMES.get(props["roleDefinitionId"].rsplit("/", 1)[-1])
        if props["principalId"] == caller and role in ALLOWED_BY[operation] \
                and _within(resource, props["scope"]):
            return None
    return "AuthorizationFailed"


def _within(resource: str, scope: str) -> bool:
    """ARM scopes nest by path segment: rg1's assignment does not reach rg10."""
    resource, scope = resource.lower().rstrip("/"), scope.lower().rstrip("/")
    return resource == scope or resource.startswith(scope + "/")


def _log(fake: ArmFake, operation: str, caller: str, resource: str, at: datetime, ip: str,
         refused: str | None) -> None:
    correlation = str(uuid.uuid4())
    start = fake._event(operation, caller, resource, "Started", "Start", at, correlation, ip,
                        method="PUT")
    end = fake._event(operation, caller, resource, "Failed" if refused else "Succeeded",
                      "End", at, correlation, ip, method="PUT")
    if refused:
        end["subStatus"] = {"value": "Forbidden", "localizedValue": "Forbidden (HTTP 403)"}
        end["properties"] = {"statusCode": "Forbidden", "statusMessage": json.dumps(
            {"error": {"code": refused, "message": _message(refused, caller, operation,
                                                            resource)}})}
    fake.activity += [start, end]


def _message(code: str, caller: str, operation: str, resource: str) -> str:
    if code == "ResourceNotFound":
        return f"The Resource '{resource}' was not found."
    return (f"The client with object id '{caller}' does not have authorization to perform "
            f"action '{operation}' over scope '{resource}' or the scope is invalid.")
