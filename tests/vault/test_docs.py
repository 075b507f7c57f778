"""docs/vault.md names every Vault action with its risk and outputs, prints the policy
each declares, and lists the shipped Vault runbooks."""

from __future__ import annotations

from rescind.actions import registry
from rescind.providers.vault_policy import to_hcl
from tests.vault.conftest import ROOT

DOC = (ROOT / "docs" / "vault.md").read_text()


def _vault_actions() -> list[type]:
    return [cls for cls in registry.all_actions() if "vault" in cls.providers]


def test_every_vault_action_is_documented_with_its_policy() -> None:
    assert len(_vault_actions()) == 11
    for cls in _vault_actions():
        row = next((line for line in DOC.splitlines() if line.startswith(f"| `{cls.name}` |")),
                   None)
        assert row is not None, cls.name
        assert f"| {cls.risk.value} |" in row
        for output in cls.outputs:
            assert output in row, (cls.name, output)
        assert f"### `{cls.name}`\n\n```hcl\n{to_hcl(cls.permissions)}```" in DOC, cls.name  # type: ignore[attr-defined]


def test_every_shipped_vault_runbook_is_listed() -> None:
    for path in sorted((ROOT / "runbooks").glob("vault-*.yaml")):
        assert f"`{path.stem}`" in DOC, path.name
