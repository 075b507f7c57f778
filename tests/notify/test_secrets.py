"""Channel secrets: `rescind notify add-secret`, the environment, and never the config."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import keyring
import pytest

from rescind.cli import main
from rescind.errors import ActionError
from rescind.notify.secrets import SERVICE, env_var, read_secret


def test_add_secret_stores_a_line_of_stdin_in_the_keyring(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("canary-stored-9999\n"))
    assert main(["notify", "add-secret", "slack-sec"]) == 0
    assert keyring.get_password(SERVICE, "slack-sec") == "canary-stored-9999"
    out = capsys.readouterr()
    assert "canary-stored-9999" not in out.out + out.err
    assert read_secret("slack-sec", recipient="r") == "canary-stored-9999"


def test_the_environment_wins_over_the_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    keyring.set_password(SERVICE, "pd.key", "from-keyring")
    monkeypatch.setenv("RESCIND_SECRET_PD_KEY", "from-env")
    assert env_var("pd.key") == "RESCIND_SECRET_PD_KEY"
    assert read_secret("pd.key", recipient="r") == "from-env"


def test_a_missing_secret_names_the_command_that_stores_it() -> None:
    with pytest.raises(ActionError) as caught:
        read_secret("jira-token", recipient="ir-jira")
    assert caught.value.kind == "config"
    assert "rescind notify add-secret jira-token" in str(caught.value.fix)


def test_a_bad_name_or_no_value_is_one_message(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["notify", "add-secret", "no spaces"]) == 2
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["notify", "add-secret", "empty"]) == 2
    err = capsys.readouterr().err
    assert "is not a secret name" in err and "no value given" in err
    assert "Traceback" not in err


def test_a_secret_value_in_the_config_file_is_refused(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "rescind.toml"
    config.write_text('[notify.recipients.sec]\nchannel = "slack"\n'
                      'webhook_url = "https://hooks.slack.com/services/T0/B0/canary"\n')
    assert main(["config", "show", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"{config}:3: [notify] unknown setting 'recipients.sec.webhook_url'" in err
    assert "canary" not in err
