"""Exercise injects in the simulated Vault: the attacker creates a child token or reads a
secret with a token the scenario leaked, written to the audit device as Vault would;
refused ("permission denied", nothing changed) once the responder revoked the token.

Unlike the other simulated clouds, Vault's state is not saved with the incident: it
holds token ids, which are secrets even in a simulation. The log beside the incident
names only the injects fired; a resumed exercise plays them again on a freshly seeded
Vault (the attacker's child token is back, under a new id) and the responder's own
changes in Vault are not replayed.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rescind.sandbox.scenario_exercise import Fired
from rescind.sandbox.vault_scenario import VaultInjectSpec

if TYPE_CHECKING:
    from rescind.sandbox.vault import VaultSandbox

DENIED = "permission denied"


class VaultExercise:
    def __init__(self, sandbox: VaultSandbox) -> None:
        self.sandbox = sandbox
        self.path: Path | None = None

    def fire(self, inject: VaultInjectSpec, at: datetime, *, log: bool = True) -> Fired:
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
        if log and self.path is not None:
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps({"op": "inject", "id": inject.id,
                                     "at": at.isoformat()}) + "\n")
        return Fired(targets)

    def save_to(self, path: Path, scenario_file: Path | None) -> None:
        self.path = path
        path.write_text(json.dumps({"op": "seeded", "file": str(scenario_file)
                                    if scenario_file else None}) + "\n", encoding="utf-8")

    def restore(self, path: Path, injects: dict[str, VaultInjectSpec]
                ) -> list[tuple[str, datetime, Fired]]:
        """Play the injects fired before the crash again; the responder's changes are lost."""
        fired: list[tuple[str, datetime, Fired]] = []
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError:
            lines = []
        for raw in lines:
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if isinstance(line, dict) and line.get("op") == "inject" \
                    and line.get("id") in injects:
                at = datetime.fromisoformat(str(line["at"]))
                fired.append((str(line["id"]), at,
                              self.fire(injects[str(line["id"])], at, log=False)))
        self.path = path
        return fired
