"""The notify provider holds to the provider contract that applies to a channel.

It is not a Case of tests/conformance: a channel has no timeline source and its
dry-run record says "would send", not "would call". What applies is checked here;
the dry-run at the server is test_delivery.test_dry_run_sends_nothing_and_journals_would_send.
"""

from __future__ import annotations

from rescind.actions import registry as actions
from rescind.modes import Mode
from rescind.providers import registry as providers
from rescind.providers.base import ProviderBase
from rescind.providers.notify import NotifyProvider
from rescind.settings.validate import provider_settings
from tests.aws.conftest import ROOT


def test_registered_with_a_strict_settings_model_as_the_notify_table() -> None:
    cls = providers.get("notify")
    assert cls is NotifyProvider and issubclass(cls, ProviderBase)
    assert cls.Settings.model_config.get("extra") == "forbid"


def test_every_notify_action_has_permissions_and_its_docs_row() -> None:
    text = (ROOT / "docs" / "notify.md").read_text()
    mine = [a for a in actions.all_actions() if a.name.startswith(("notify.", "incident."))]
    assert {a.name for a in mine} == {"notify.send", "incident.set_severity"}
    for action in mine:
        assert action.permissions  # type: ignore[attr-defined]
        row = next(line for line in text.splitlines() if line.startswith(f"| `{action.name}` |"))
        assert f"| {action.risk.value} |" in row


def test_the_guard_is_installed_at_the_transport_and_exercise_refuses_live_sending() -> None:
    provider = NotifyProvider.from_settings(provider_settings(NotifyProvider, {}), Mode.DRY_RUN)
    assert not provider.guarded
    provider.install_dry_run_guard(lambda call: None)
    assert provider.guarded and type(provider.transport).__name__ == "Guarded"
    import pytest

    from rescind.errors import UsageError

    with pytest.raises(UsageError, match="capture sink only"):
        NotifyProvider.from_settings(provider_settings(NotifyProvider, {}), Mode.EXERCISE)
