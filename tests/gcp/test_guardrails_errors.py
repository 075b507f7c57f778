"""Guardrails (never rescind's own identity, break-glass, the cap) and error mapping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rescind.actions import registry
from rescind.errors import ActionError, UsageError
from rescind.modes import Mode
from rescind.providers.gcp import GcpProvider
from rescind.providers.gcp_guardrails import CallerIdentity, check_targets
from rescind.providers.gcp_settings import GcpSettings
from rescind.sandbox.gcp_scenario import GcpScenario
from tests.gcp.conftest import (
    BREAK_GLASS,
    CONNECTOR,
    LEAKED,
    LEAKED_KEY,
    RESPONDER,
    context,
    key_file,
    provider_for,
    running,
)

SA = f"projects/-/serviceAccounts/{CONNECTOR}"


async def _plan(provider: GcpProvider, tmp_path: Path, name: str, params: dict[str, Any]) -> Any:
    action = registry.get(name)()  # type: ignore[misc]
    ctx, _ = context(provider, tmp_path)
    return await action.plan(ctx, action.parse_params(params), "step")


@pytest.mark.parametrize(("name", "params", "says"), [
    ("gcp.sa.disable", {"service_account": RESPONDER}, "identity rescind is running as"),
    ("gcp.sa.disable", {"service_account": BREAK_GLASS}, "break-glass"),
    ("gcp.project.remove_bindings", {"member": BREAK_GLASS}, "break-glass"),
    # A role-wide removal would take the break-glass owner with it.
    ("gcp.project.remove_bindings", {"member": "user:admin@example.com", "roles": ["x"]}, None),
    ("gcp.project.remove_bindings", {"member": "user:nobody@example.com",
                                     "members": [f"serviceAccount:{BREAK_GLASS}"]}, "break-glass"),
])
async def test_refused_before_any_call(provider, sandbox, tmp_path, name: str,
                                       params: dict[str, Any], says: str | None) -> None:
    if says is None:
        plan = await _plan(provider, tmp_path, name, params)
        assert plan.changes == []  # no binding of that role: nothing, not a refusal
        return
    with pytest.raises(ActionError) as refused:
        await _plan(provider, tmp_path, name, params)
    assert refused.value.kind == "refused" and says in refused.value.message
    assert sandbox.mutating() == []


async def test_the_cap_holds_unless_the_step_raises_it(tmp_path) -> None:
    emails = [f"svc-{i:02d}@example-project.iam.gserviceaccount.com" for i in range(21)]
    scenario = GcpScenario.model_validate({"service_accounts": [{"email": e} for e in emails]})
    with running(scenario) as sandbox:
        provider = provider_for(sandbox)
        try:
            with pytest.raises(ActionError, match="more than the limit of 20"):
                await _plan(provider, tmp_path, "gcp.sa.disable", {"service_accounts": emails})
            plan = await _plan(provider, tmp_path, "gcp.sa.disable",
                               {"service_accounts": emails, "max_targets": 21})
            assert plan.risk.value == "critical"
        finally:
            provider.close()


def test_never_the_key_rescind_signs_with_nor_who_impersonates() -> None:
    caller = CallerIdentity(email="ir@example-project.iam.gserviceaccount.com",
                            key_id=LEAKED_KEY, also=("jane@example.com",))
    with pytest.raises(ActionError, match="key rescind is running with"):
        check_targets(caller, keys=[(LEAKED_KEY, CONNECTOR)])
    with pytest.raises(ActionError, match="running as"):
        check_targets(caller,
                      accounts=["serviceAccount:IR@example-project.iam.gserviceaccount.com"])
    with pytest.raises(ActionError, match="running as"):
        check_targets(caller, accounts=["jane@example.com"])


def test_key_file_and_impersonation_credentials_are_built_without_calling_google(
        tmp_path: Path) -> None:
    path = key_file(tmp_path, "ir@example-project.iam.gserviceaccount.com", LEAKED_KEY)
    settings = GcpSettings(projects=["example-project"], key_file=str(path))
    plain = GcpProvider.from_settings(settings, Mode.LIVE)
    assert plain.credentials().service_account_email == "ir@example-project.iam.gserviceaccount.com"
    caller = plain.caller_identity()
    assert (caller.email, caller.key_id) == ("ir@example-project.iam.gserviceaccount.com",
                                             LEAKED_KEY)
    settings = settings.model_copy(update={"impersonate": RESPONDER})
    impersonating = GcpProvider.from_settings(settings, Mode.LIVE)
    assert impersonating.credentials().service_account_email == RESPONDER
    caller = impersonating.caller_identity()
    assert caller.email == RESPONDER and "ir@example-project.iam.gserviceaccount.com" in caller.also


def test_no_credentials_is_one_clear_config_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))  # no gcloud ADC file
    monkeypatch.setenv("NO_GCE_CHECK", "true")
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")  # never the real metadata server
    provider = GcpProvider.from_settings(GcpSettings(projects=["example-project"]), Mode.LIVE)
    with pytest.raises(ActionError) as missing:
        provider.credentials()
    assert missing.value.kind == "config"
    assert "gcloud auth application-default login" in (missing.value.fix or "")


def test_settings_are_strict_and_exercise_needs_the_simulated_project(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        GcpSettings.model_validate({"projetcs": ["x"]})
    with pytest.raises(UsageError):
        GcpProvider.from_settings(GcpSettings(), Mode.EXERCISE)
    with pytest.raises(UsageError, match="does not exist"):
        GcpProvider.from_settings(GcpSettings(key_file=str(tmp_path / "nope.json")), Mode.LIVE)


def test_permission_denied_names_the_missing_permission(tmp_path: Path) -> None:
    scenario = GcpScenario.load(LEAKED).model_copy(
        update={"responder_permissions": ["iam.serviceAccounts.get"]})
    with running(scenario) as sandbox:
        provider = provider_for(sandbox)
        try:
            with pytest.raises(ActionError) as denied:
                provider.iam_call("disable_service_account", {"name": SA},
                                  permission="iam.serviceAccounts.disable")
        finally:
            provider.close()
    assert denied.value.kind == "permission" and not denied.value.retryable
    assert "iam.serviceAccounts.disable" in denied.value.message
    assert not sandbox.state.accounts[CONNECTOR].disabled


@pytest.mark.parametrize("status", ["RESOURCE_EXHAUSTED", "UNAVAILABLE"])
def test_rate_limits_and_outages_are_retried(sandbox, provider, status: str) -> None:
    sandbox.state.fail_next("iam.serviceAccounts.get", status, status)
    reply = provider.iam_call("get_service_account", {"name": SA},
                              permission="iam.serviceAccounts.get")
    assert reply["email"] == CONNECTOR
    assert sandbox.operations().count("iam.serviceAccounts.get") == 3


@pytest.mark.parametrize(("status", "kind", "fix"), [
    ("NOT_FOUND", "not-found", ""), ("FAILED_PRECONDITION", "conflict", ""),
    ("ABORTED", "conflict", ""), ("UNAUTHENTICATED", "expired", ""),
    ("RESOURCE_EXHAUSTED", "throttled", ""),
    # INTERNAL is Google's own failure, not the responder's network.
    ("UNAVAILABLE", "network", "check the network"),
    ("INTERNAL", "network", "Google's status page")])
def test_statuses_map_to_kinds(sandbox, status: str, kind: str, fix: str) -> None:
    provider = provider_for(sandbox)
    provider.max_attempts = 1
    try:
        sandbox.state.fail_next("iam.serviceAccounts.get", status)
        with pytest.raises(ActionError) as failed:
            provider.iam_call("get_service_account", {"name": SA},
                              permission="iam.serviceAccounts.get")
        assert failed.value.kind == kind and fix in str(failed.value.fix)
        sandbox.state.fail_next("resourcemanager.projects.getIamPolicy", status)
        with pytest.raises(ActionError) as over_rest:
            provider.project_policy("example-project")
        assert over_rest.value.kind == kind
    finally:
        provider.close()


def test_system_managed_keys_cannot_be_deleted_at_the_server(sandbox, provider) -> None:
    from tests.gcp.conftest import SYSTEM_KEY

    with pytest.raises(ActionError) as refused:
        provider.iam_call("delete_service_account_key", {"name": f"{SA}/keys/{SYSTEM_KEY}"},
                          permission="iam.serviceAccountKeys.delete")
    assert refused.value.kind == "conflict"
    assert SYSTEM_KEY in sandbox.state.keys


def test_config_check_proves_the_credentials_read_only(capsys) -> None:
    from rescind.cli import main

    with running() as sandbox:
        table = sandbox.provider_settings()
        args = ["config", "check", "--set", "gcp.projects=example-project"]
        for key in ("iam_endpoint", "rest_endpoint", "principal"):
            args += ["--set", f"gcp.{key}={table[key]}"]
        assert main(args) == 0
        assert sandbox.operations() == ["iam.serviceAccounts.get"]
    assert RESPONDER in capsys.readouterr().out
    assert main(args) != 0  # the simulated project is gone: one clear failure, no traceback
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
