"""Exercise injects in the simulated Entra tenant (graph.py): the attacker adds a client
secret to a service principal, or signs in as one.

Each move is written where Entra logs it (the directory audit, the sign-ins) at the
time the inject fires, so the team finds it in the timeline. Once the responder has
disabled the principal, or removed the secret it signs in with, the move fails as
Entra answers it: a failed sign-in (AADSTS7000112 application disabled, AADSTS7000215
invalid client secret) and nothing changed.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from rescind.sandbox.graph_scenario import EntraInjectSpec
from rescind.sandbox.scenario_exercise import Fired

if TYPE_CHECKING:
    from rescind.sandbox.graph import GraphFake

APP_DISABLED = 7000112
BAD_SECRET = 7000215


def play(fake: GraphFake, inject: EntraInjectSpec, at: datetime) -> Fired:
    """Make the inject's moves real in the tenant; what they made or touched."""
    from rescind.sandbox.graph import iso

    targets: list[str] = []
    holders: dict[str, str] = {}
    with fake.lock:
        for number, move in enumerate(inject.attacker):
            sp_id = str(move.add_secret or move.sign_in)
            sp = fake.service_principals.get(sp_id)
            error = _refusal(fake, sp, move.secret)
            # Every move starts with the principal's own sign-in (client credentials).
            fake.sign_ins.append(fake._sign_in(
                len(fake.sign_ins), iso(at), None, sp_id, move.app, move.ip, error,
                "Unknown", "python-requests/2.31"))
            if error or sp is None:
                continue
            if move.sign_in is not None:
                targets.append(sp_id)
                continue
            key_id = move.key_id or str(uuid.uuid5(uuid.NAMESPACE_URL,
                                                   f"{inject.id}/{number}"))
            sp["passwordCredentials"].append({
                "keyId": key_id, "displayName": "", "hint": key_id[:3],
                "startDateTime": iso(at), "endDateTime": iso(at + timedelta(days=730)),
                "secretText": None})
            fake.audits.append(_audit(fake, sp, at, len(fake.audits)))
            targets += [key_id, sp_id]
            holders[key_id] = sp_id  # disabling the principal ends its secrets
    return Fired(targets, holders)


def _refusal(fake: GraphFake, sp: dict[str, Any] | None, secret: str | None) -> int:
    """Entra's sign-in error for the principal now (0: it signs in)."""
    if sp is None or not sp.get("accountEnabled", True):
        return APP_DISABLED
    if secret is not None:
        app = next((a for a in fake.applications.values() if a.get("appId") == sp["appId"]),
                   {})
        held = [p.get("keyId") for p in [*sp.get("passwordCredentials", []),
                                         *app.get("passwordCredentials", [])]]
        if secret not in held:
            return BAD_SECRET
    return 0


def _audit(fake: GraphFake, sp: dict[str, Any], at: datetime, n: int) -> dict[str, Any]:
    from rescind.sandbox.graph import iso

    seed = f"{sp['id']}/{n}"
    return {"id": f"Directory_{uuid.uuid5(uuid.NAMESPACE_URL, seed)}",
            "category": "ApplicationManagement",
            "correlationId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"corr/{n}")),
            "result": "success", "resultReason": "",
            "activityDisplayName": "Add service principal credentials",
            "activityDateTime": iso(at), "loggedByService": "Core Directory",
            "operationType": "Update",
            "initiatedBy": {"app": {"servicePrincipalId": sp["id"], "appId": sp.get("appId"),
                                    "displayName": sp.get("displayName")}},
            "additionalDetails": [], "targetResources": [fake._target(sp["id"])]}
