"""Settings: the config file, the environment and flags, their errors, config show/check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rescind.cli import main
from rescind.sandbox.aws import start_aws_sandbox
from tests.aws.conftest import LEAKED

CONFIG = """\
# team settings
[aws]
profile = "ir"
regoin = "eu-west-1"
concurrency = "many"

[aws.assume_roles."111122223333"]
role_arn = "arn:aws:iam::111122223333:role/IncidentResponse"
external_id = "ext-canary-42"

[approver]
allowed_signers = "x"
"""


def test_file_problems_name_their_line_with_a_suggestion(
        _isolated_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _isolated_config / "rescind.toml"
    path.write_text(CONFIG)
    assert main(["config", "show"]) == 2
    err = capsys.readouterr().err
    assert f"{path}:4: [aws] unknown setting 'regoin'; did you mean 'region'?" in err
    assert f"{path}:5: [aws] concurrency: expected an integer" in err
    assert f"{path}:12: unknown table [approver]; did you mean 'approvers'?" in err
    assert "Traceback" not in err


def test_flags_beat_environment_beat_file_and_secrets_are_never_shown(
        _isolated_config: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    config = _isolated_config / "team.toml"
    config.write_text(CONFIG.replace('regoin = "eu-west-1"\nconcurrency = "many"\n',
                                     'region = "eu-west-1"\nconcurrency = 4\n')
                      .replace("[approver]", "[approvers]"))
    monkeypatch.setenv("RESCIND_AWS_REGION", "ap-south-1")
    monkeypatch.setenv("RESCIND_AWS_CONCURRENCY", "6")
    assert main(["config", "show", "--config", str(config), "--set", "aws.concurrency=8",
                 "--profile", "prod", "--set", "aws.regions=us-east-1,eu-west-1"]) == 0
    out = capsys.readouterr().out
    assert 'profile = "prod"    # --profile' in out
    assert 'region = "ap-south-1"    # RESCIND_AWS_REGION' in out
    assert "concurrency = 8    # --set aws.concurrency" in out
    assert 'regions = ["us-east-1", "eu-west-1"]    # --set aws.regions' in out
    assert f"role_arn = \"arn:aws:iam::111122223333:role/IncidentResponse\"    # {config}:8" in out
    assert "ext-canary-42" not in out and "external_id = (set, hidden)" in out


def test_a_bad_set_is_one_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "show", "--set", "aws.max_targets=lots"]) == 2
    err = capsys.readouterr().err
    assert "--set aws.max_targets: [aws] max_targets: expected an integer" in err


def test_config_check_says_who_rescind_is_in_each_account(
        _isolated_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with start_aws_sandbox(LEAKED) as sandbox:
        s = sandbox.provider_settings()
        (_isolated_config / "rescind.toml").write_text(
            f'[aws]\nendpoint_url = "{s["endpoint_url"]}"\n'
            f'access_key_id = "{s["access_key_id"]}"\n'
            f'secret_access_key = "{s["secret_access_key"]}"\n')
        assert main(["config", "check"]) == 0
        out = capsys.readouterr().out
        assert "ok  account 123456789012 (credential chain): " \
               "arn:aws:iam::123456789012:user/responder" in out
        assert main(["config", "check", "--set", "aws.endpoint_url=http://127.0.0.1:9"]) == 1
        captured = capsys.readouterr()
        assert "FAILED" in captured.err and "Traceback" not in captured.err
        assert s["secret_access_key"] not in captured.out + captured.err


def test_validate_reports_a_cloud_the_runbook_does_not_declare(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runbook = tmp_path / "rb.yaml"
    runbook.write_text("id: rb\ntitle: t\nclouds: [awss]\nphases:\n  contain:\n"
                       "    - id: pull\n      action: timeline.pull\n"
                       "      with: {aws: {user: root}}\n")
    assert main(["validate", str(runbook)]) == 2
    err = capsys.readouterr().err
    assert f"{runbook}:3:10: no provider for cloud 'awss'; did you mean 'aws'?" in err
    assert f"{runbook}:7:15: action timeline.pull talks to aws, which is not in the " \
           "runbook's clouds: [awss]" in err


@pytest.mark.parametrize(("name", "simulated"), [("entra", "tenant"), ("azure", "subscription")])
def test_the_microsoft_providers_take_their_shared_settings_alike(name: str,
                                                                  simulated: str) -> None:
    from rescind.errors import UsageError
    from rescind.modes import Mode
    from rescind.providers import registry

    cls: Any = registry.require(name)
    settings = cls.Settings.model_validate({"tenant_id": "example.com", "concurrency": 7,
                                            "break_glass": "breakglass@example.com",
                                            "token": "simulated"})
    provider = cls.from_settings(settings, Mode.LIVE)
    assert (provider.tenant_id, provider.width, provider.break_glass) == (
        "example.com", 7, ["breakglass@example.com"])
    with pytest.raises(UsageError, match=f"exercise mode needs the simulated {simulated}"):
        cls.from_settings(cls.Settings(), Mode.EXERCISE)
