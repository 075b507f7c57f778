"""Routing: the seed's escalation table, owners from account metadata, what stays unrouted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rescind.errors import ActionError, UsageError
from rescind.modes import Mode
from rescind.providers.notify import NotifyProvider, account_of
from rescind.settings.validate import provider_settings

# The vendor's table of seed 000: Severity 1 security + phone, 2 security, 3 support.
SEED_TABLE = {
    "recipients": {
        "vendor-security": {"channel": "email", "to": "security@tailpipe.example.com"},
        "vendor-phone": {"channel": "pagerduty", "secret": "pd-vendor"},
        "vendor-support": {"channel": "email", "to": "support@tailpipe.example.com"},
        "platform": {"channel": "slack", "to": "#platform", "secret": "slack-bot"},
    },
    "routes": {"vendor": {"critical": ["vendor-security", "vendor-phone"],
                          "high": ["vendor-security"], "medium": ["vendor-support"]}},
    "email": {"host": "smtp.example.com"},
}


def _provider(table: dict[str, object]) -> NotifyProvider:
    settings = provider_settings(NotifyProvider, table)
    provider = NotifyProvider.from_settings(settings, Mode.LIVE)
    assert isinstance(provider, NotifyProvider)
    return provider


@pytest.mark.parametrize(("severity", "expected"), [
    ("critical", ["vendor-security", "vendor-phone"]),
    ("high", ["vendor-security"]),
    ("medium", ["vendor-support"]),
])
def test_the_seed_escalation_table_routes_by_severity(severity: str,
                                                      expected: list[str]) -> None:
    routing = _provider(SEED_TABLE).route(["vendor"], severity, [])
    assert [r.name for r in routing.recipients] == expected
    assert routing.unrouted == []


def test_a_severity_below_every_listed_one_is_unrouted_and_says_why() -> None:
    routing = _provider(SEED_TABLE).route(["vendor", "security"], "low", [])
    assert routing.recipients == []
    assert routing.unrouted == [
        "vendor: its route lists nobody at low or below",
        "security: no [notify.routes.security] or recipient of that name"]


def test_owner_resolves_per_account_from_a_cspf_metadata_folder(tmp_path: Path) -> None:
    folder = tmp_path / "accounts" / "aws"
    folder.mkdir(parents=True)
    (folder / "security-sandbox.json").write_text(json.dumps({
        "accountid": "123456789012", "name": "security-operations",
        "contact": "security-ops@example.com", "team": "security",
        "escalation": "https://example.pagerduty.com/escalation_policies#P1",
        "description": "Extended Description Here", "security": "green"}))
    (folder / "payments.json").write_text(json.dumps([
        {"accountid": "111122223333", "contact": "platform", "escalation": "vendor-phone"}]))
    table = SEED_TABLE | {"accounts_file": str(tmp_path / "accounts")}
    provider = _provider(table)
    routing = provider.route(["owner"], "critical", [
        "arn:aws:iam::123456789012:user/deploy-bot", "111122223333", "444455556666"])
    assert [(r.name, r.recipient.channel, r.recipient.to) for r in routing.recipients] == [
        ("owner-123456789012", "email", "security-ops@example.com"),
        ("platform", "slack", "#platform"),
        ("vendor-phone", "pagerduty", "")]  # its escalation is a recipient, paged at critical
    assert routing.unrouted == ["owner of 444455556666: no contact in the account metadata "
                                "(add [notify.accounts.\"444455556666\"] contact = ...)"]
    # At medium the escalation is not paged.
    medium = provider.route(["owner"], "medium", ["111122223333"])
    assert [r.name for r in medium.recipients] == ["platform"]


def test_a_config_table_wins_over_the_metadata_file(tmp_path: Path) -> None:
    file = tmp_path / "accounts.json"
    file.write_text('{"accountid": "123456789012", "contact": "old@example.com"}\n')
    provider = _provider(SEED_TABLE | {"accounts_file": str(file), "accounts": {
        "123456789012": {"contact": "new@example.com"}}})
    routing = provider.route(["owner"], "high", ["123456789012"])
    assert routing.recipients[0].recipient.to == "new@example.com"


def test_a_metadata_record_without_an_account_id_is_one_clear_error(tmp_path: Path) -> None:
    file = tmp_path / "accounts.json"
    file.write_text('{"name": "no id"}')
    with pytest.raises(UsageError, match="has no accountid"):
        _provider({"accounts_file": str(file)})


def test_a_route_naming_an_undefined_recipient_fails_the_plan_with_the_fix() -> None:
    table = {"routes": {"security": {"high": ["nobody"]}}}
    with pytest.raises(ActionError) as caught:
        _provider(table).route(["security"], "high", [])
    assert caught.value.kind == "config" and "[notify.recipients.nobody]" in str(caught.value)


@pytest.mark.parametrize(("given", "account"), [
    ("arn:aws:iam::123456789012:user/deploy-bot", "123456789012"),
    ("/subscriptions/0b1f6471-1bf0-4dda-aec3-111122223333/resourceGroups/rg", 
     "0b1f6471-1bf0-4dda-aec3-111122223333"),
    ("projects/example-project/serviceAccounts/x@example.iam.gserviceaccount.com",
     "example-project"),
    ("123456789012", "123456789012"),
])
def test_the_account_is_read_from_ids_and_arns(given: str, account: str) -> None:
    assert account_of(given) == account
