"""Exercise injects on the simulated Google Cloud project, and its saved state.

An inject's attacker calls change the project (``create_key`` adds a user-managed
key to a service account) and are written to its Cloud Audit Logs at the time the
inject fires, so the team finds them in the timeline as they would a real
attacker's. A call made as a disabled service account, or signed with a disabled or
deleted key, fails as Google refuses it (logged with its status, nothing changed).
The state is saved and restored by ``fake_exercise.FakeExercise``.
"""

from __future__ import annotations

import copy
import hashlib
import threading
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from rescind.sandbox.gcp_scenario import EntrySpec, GcpInjectSpec, GcpScenario
from rescind.sandbox.gcp_state import Account, GcpState, Key
from rescind.sandbox.scenario_exercise import Fired

UNAUTHENTICATED = 16
FAILED_PRECONDITION = 9


class GcpFake:
    """The project as an exercise sees it (fake_exercise.Fake)."""

    def __init__(self, state: GcpState, scenario: GcpScenario) -> None:
        self.state = state
        self.scenario = scenario

    @property
    def lock(self) -> threading.RLock:
        return self.state.lock

    @property
    def on_change(self) -> Callable[[], None] | None:
        return self.state.on_change

    @on_change.setter
    def on_change(self, hook: Callable[[], None] | None) -> None:
        self.state.on_change = hook

    # -- injects ---------------------------------------------------------------------------
    def play(self, inject: GcpInjectSpec, at: datetime) -> Fired:
        state = self.state
        attacker = self.scenario.audit_log.attacker.model_dump()
        targets: list[str] = []
        holders: dict[str, str] = {}
        with state.lock:
            for number, call in enumerate(inject.attacker):
                principal = call.principal or attacker.get("principal") or state.responder
                key = call.key if call.key is not None else (
                    attacker.get("key") if call.principal is None else None)
                refused = self._refusal(principal, key)
                if call.create_key is not None:
                    made = call.new_key or _key_id(f"{inject.id}/{number}")
                    entry = EntrySpec(
                        time=at.isoformat(), method="google.iam.admin.v1.CreateServiceAccountKey",
                        resource=f"projects/-/serviceAccounts/{call.create_key}",
                        log="activity", principal=principal, key=key,
                        response=None if refused else {"name": f"projects/{state.project}/"
                                                       f"serviceAccounts/{call.create_key}/"
                                                       f"keys/{made}"})
                    if refused is None:
                        refused = self._make_key(call.create_key, made, at)
                    if refused is None:
                        targets += [made, call.create_key]
                        # Disabling the account ends every key it has.
                        holders[made] = call.create_key
                else:
                    entry = EntrySpec(time=at.isoformat(), method=str(call.method),
                                      service=call.service, resource=call.resource,
                                      log=call.log, principal=principal, key=key)
                    if refused is None:  # what the team must cut off: who made the call
                        targets.append(principal)
                if refused is not None:
                    entry.status, entry.message = refused
                state.audit(entry, attacker, at)
        return Fired(targets, holders)

    def _refusal(self, principal: str, key: str | None) -> tuple[int, str] | None:
        """Why Google refuses a call made as ``principal`` with ``key``, now."""
        account = self.state.accounts.get(principal)
        if account is not None and account.disabled:
            return (UNAUTHENTICATED, f"Service account {principal} is disabled.")
        if key:
            found = self.state.keys.get(key)
            if found is None or found.disabled:
                return (UNAUTHENTICATED, "Request had invalid authentication credentials.")
        return None

    def _make_key(self, email: str, key_id: str, at: datetime) -> tuple[int, str] | None:
        account = self.state.accounts.get(email)
        if account is None:
            return (5, f"Service account {email} does not exist.")
        if account.disabled:
            return (FAILED_PRECONDITION, f"Service account {email} is disabled.")
        self.state.keys.setdefault(key_id, Key(id=key_id, account=email, type="USER_MANAGED",
                                               created=at, expires=None))
        return None

    # -- saved state ---------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        with self.state.lock:
            return {"accounts": [asdict(a) for a in self.state.accounts.values()],
                    "keys": [asdict(k) | {"created": k.created.isoformat(),
                                          "expires": k.expires.isoformat() if k.expires
                                          else None} for k in self.state.keys.values()],
                    # Copies: the snapshot is written after the lock is let go.
                    "project_policy": copy.deepcopy(self.state.project_policy),
                    "providers": copy.deepcopy(self.state.providers),
                    "log": list(self.state.log)}

    def load(self, saved: dict[str, Any]) -> None:
        state = self.state
        with state.lock:
            state.accounts = {a["email"]: Account(**a) for a in saved["accounts"]}
            state.keys = {k["id"]: Key(**(k | {
                "created": datetime.fromisoformat(k["created"]),
                "expires": datetime.fromisoformat(k["expires"]) if k["expires"] else None}))
                for k in saved["keys"]}
            state.project_policy = saved["project_policy"]
            state.providers = saved["providers"]
            state.log = []
            for entry in saved["log"]:
                state.append_log(entry)


def _key_id(seed: str) -> str:
    """A key id fixed by the inject (40 hex), so a resumed exercise names the same key."""
    return hashlib.sha1(seed.encode()).hexdigest()
