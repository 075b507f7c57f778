"""Vault test fixtures: a simulated Vault per test, seeded from SCENARIO, and contexts.

The simulated Vault records every request it served (``sandbox.served``): tests read
that, and the state, back instead of trusting what an action says it did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rescind.actions.base import ActionContext
from rescind.modes import Mode
from rescind.providers.base import BlockedCall
from rescind.providers.vault import VaultProvider
from rescind.providers.vault_guard import is_read
from rescind.sandbox.vault import VaultSandbox, start_vault_sandbox
from rescind.sandbox.vault_scenario import VaultScenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "runbooks" / "scenarios"

SCENARIO: dict[str, Any] = {
    "tokens": [
        {"name": "ci", "accessor": "ciParentAccessorEXAMPLE1", "display_name": "token-ci",
         "policies": ["ci"]},
        {"name": "leaked", "accessor": "leakedAccessorEXAMPLE001", "parent": "ci",
         "display_name": "token-deploy", "policies": ["deploy"]},
        {"name": "child", "accessor": "childAccessorEXAMPLE0001", "parent": "leaked"},
        {"name": "bystander", "accessor": "bystanderAccessorEXAMP01"},
    ],
    "roles": [{"name": "payments", "role_id": "11111111-2222-3333-4444-EXAMPLE00001",
               "policies": ["payments"],
               "secret_ids": [{"accessor": "0a1b2c3d-0000-4000-8000-EXAMPLE00001"},
                              {"accessor": "0a1b2c3d-0000-4000-8000-EXAMPLE00002"}]}],
    "kv": [{"path": "secret/payments/db",
            "versions": [{"data": {"username": "app", "password": "example-old"}}]}],
    "database": {"connections": [{"name": "payments-db"}],
                 "static_roles": [{"name": "payments-static", "db_name": "payments-db",
                                   "username": "payments_app"}]},
    "aws_roles": ["deploy"],
    "leases": [{"id": "aws/creds/deploy/leaseEXAMPLE01", "token": "leaked"},
               {"id": "aws/creds/deploy/leaseEXAMPLE02"},
               {"id": "database/creds/readonly/leaseEXAMPLE03"}],
    "audit": [{"time": "-2h", "token": "leaked", "path": "secret/data/payments/db"},
              {"time": "-1h", "token": "leaked", "path": "aws/creds/deploy",
               "lease": "aws/creds/deploy/leaseEXAMPLE01"},
              {"time": "-1h", "token": "bystander", "path": "secret/data/other"}],
}


class Recorder:
    def __init__(self) -> None:
        self.blocked: list[BlockedCall] = []
        self.entries: list[tuple[str, dict[str, Any]]] = []

    def journal(self, kind: str, data: dict[str, Any]) -> int:
        self.entries.append((kind, data))
        return len(self.entries)


def mutating(sandbox: VaultSandbox) -> list[str]:
    """Requests that reached the simulated Vault and are not allowed reads."""
    return [f"{s.cap} {s.path}" for s in sandbox.served if not is_read(s.cap, s.path)]


@pytest.fixture
def sandbox() -> Iterator[VaultSandbox]:
    with start_vault_sandbox(VaultScenario.model_validate(SCENARIO)) as vault:
        yield vault


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def make_ctx(sandbox: VaultSandbox, recorder: Recorder, tmp_path: Path
             ) -> Iterator[Callable[..., ActionContext]]:
    made: list[VaultProvider] = []

    def make(mode: Mode = Mode.EXERCISE, token: str | None = None,
             **settings: Any) -> ActionContext:
        table = {**sandbox.provider_settings(), **settings}
        if token is not None:
            table["token"] = token
        provider = VaultProvider.from_settings(VaultProvider.Settings.model_validate(table),
                                               Mode.EXERCISE)
        if mode is Mode.DRY_RUN:
            provider.install_dry_run_guard(recorder.blocked.append)
        made.append(provider)
        return ActionContext(mode=mode, incident_dir=tmp_path, providers={"vault": provider},
                             journal=recorder.journal)

    yield make
    for provider in made:
        provider.close()


def token_with(sandbox: VaultSandbox, permissions: tuple[str, ...] | list[str]) -> str:
    """A new orphan token whose only policy grants exactly ``permissions``."""
    from rescind.providers.vault_policy import to_hcl

    name = f"p{len(sandbox.state.policies)}"
    with sandbox.state.lock:
        from rescind.providers.vault_policy import policy_rules

        sandbox.state.policies[name] = policy_rules(to_hcl(permissions))
        token = sandbox.state.new_token(policies=[name], parent=None,
                                        display_name="token-least-privilege")
    return token.id
