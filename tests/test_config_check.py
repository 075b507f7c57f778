"""`rescind config check` when a cloud cannot be reached: seconds, not minutes, per provider.

Each provider's endpoint is a loopback port: one nothing listens on (refused at once)
or a socket that takes the connection and never answers (only a timeout ends the
wait). The check must say so in one line naming the endpoint and the fix, for every
configured provider, however the one before it failed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from rescind.providers.azure_credentials import fake_token
from rescind.providers.base import CheckLimits
from tests.gcp.conftest import LEAKED_KEY, RESPONDER, key_file

ROOT = Path(__file__).resolve().parents[1]
TENANT = "22222222-2222-2222-2222-222222222222"
TOKEN = fake_token("11111111-1111-1111-1111-111111111111", "responder@example.com", TENANT)
PROVIDERS = ("aws", "azure", "entra", "gcp", "vault")


def _tables(port: int, tmp_path: Path) -> dict[str, str]:
    """Each provider's table, its endpoint on ``port`` (entra's through the environment)."""
    key = key_file(tmp_path, RESPONDER, LEAKED_KEY, token_uri=f"http://127.0.0.1:{port}/token")
    return {
        "aws": f'[aws]\nendpoint_url = "http://127.0.0.1:{port}"\n',
        "azure": f'[azure]\narm_url = "http://127.0.0.1:{port}"\ntoken = "{TOKEN}"\n'
                 'subscriptions = ["33333333-3333-3333-3333-333333333333"]\n',
        "entra": f'[entra]\ncredential = "workload"\ntenant_id = "{TENANT}"\n',
        "gcp": f'[gcp]\nkey_file = "{key}"\nprojects = ["example-project"]\n',
        "vault": f'[vault]\naddress = "http://127.0.0.1:{port}"\n',
    }


def _environment(port: int, tmp_path: Path) -> dict[str, str]:
    """Vault's token and a workload identity whose sign-in endpoint is the loopback port."""
    federated = tmp_path / "federated-token"
    federated.write_text("example-federated-token")
    return {"VAULT_TOKEN": "hvs.EXAMPLE", "AZURE_CLIENT_ID": "44444444-4444-4444-4444-444444444444",
            "AZURE_FEDERATED_TOKEN_FILE": str(federated),
            "AZURE_AUTHORITY_HOST": f"https://127.0.0.1:{port}"}


def _assert_one_line_each(err: str, port: int, names: tuple[str, ...]) -> None:
    assert "Traceback" not in err
    failures = [line for line in err.splitlines() if line.startswith("  FAILED  ")]
    fixes = [line for line in err.splitlines() if line.startswith("    fix: ")]
    assert len(failures) == len(fixes) == len(names), err
    for failure, fix in zip(failures, fixes, strict=True):
        assert f"127.0.0.1:{port}" in failure or f"port={port}" in failure, failure
        assert "proxy" in fix, fix
    assert TOKEN not in err


@pytest.fixture
def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: nothing listens there


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A socket that listens and never accepts: the kernel completes the connection,
    nobody ever answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


def test_every_provider_says_at_once_that_nothing_listens(dead_port: int,
                                                          tmp_path: Path) -> None:
    """The real command and limits, every provider in one run: a refused connection is
    reported at once, not after retries and their backoff (AWS alone took 23-46 s)."""
    (tmp_path / "rescind.toml").write_text("".join(_tables(dead_port, tmp_path).values()))
    env = {**os.environ, **_environment(dead_port, tmp_path), "RESCIND_CONFIG_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "rescind", "config", "check"], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=20)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert [line for line in done.stdout.splitlines() if line.startswith("[")] == [
        f"[{name}]" for name in PROVIDERS]
    _assert_one_line_each(done.stderr, dead_port, PROVIDERS)
    # Nothing else: no SDK's own warning about the same failure.
    assert all(line.startswith(("  FAILED  ", "    fix: ")) for line in done.stderr.splitlines())


def _check_quickly(monkeypatch: pytest.MonkeyPatch) -> int:
    """``rescind config check`` with limits shorter than the shipped ones (quick to run),
    in a thread: a check that hangs fails the test instead of holding it."""
    from rescind.cli import main

    monkeypatch.setattr("rescind.commands.config.CHECK_LIMITS",
                        CheckLimits(connect_s=1.0, read_s=1.0, attempts=1))
    codes: list[int] = []
    check = threading.Thread(target=lambda: codes.append(main(["config", "check"])),
                             daemon=True)
    check.start()
    # The limits allow 2 s, plus importing the SDK on a busy machine; the SDKs' own
    # limits take 30 s (Vault) to 15 minutes.
    check.join(timeout=20)
    assert codes, "no answer within 20 s"
    return codes[0]


@pytest.mark.parametrize("name", PROVIDERS)
def test_an_endpoint_that_never_answers_fails_within_the_checks_limits(
        name: str, silent_port: int, tmp_path: Path, _isolated_config: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Only a timeout ends this wait: the SDKs' own took 30 s (Vault), 2 minutes (Google's
    token endpoint), 12 minutes (AWS: 60 s reads, 11 tries), over 15 (Azure: 300 s reads)."""
    for var, value in _environment(silent_port, tmp_path).items():
        monkeypatch.setenv(var, value)
    (_isolated_config / "rescind.toml").write_text(_tables(silent_port, tmp_path)[name])
    assert _check_quickly(monkeypatch) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith(f"[{name}]")
    _assert_one_line_each(captured.err, silent_port, (name,))


def test_the_role_a_profile_assumes_is_asked_within_the_checks_limits(
        silent_port: int, tmp_path: Path, _isolated_config: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """botocore assumes a profile's role_arn through an STS client it makes itself,
    outside rescind's own clients: the session's default config bounds it too."""
    (tmp_path / "config").write_text(
        "[profile base]\nregion = us-east-1\n\n[profile ir]\nsource_profile = base\n"
        "role_arn = arn:aws:iam::123456789012:role/IncidentResponse\nregion = us-east-1\n")
    (tmp_path / "credentials").write_text(
        "[base]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", f"http://127.0.0.1:{silent_port}")
    (_isolated_config / "rescind.toml").write_text('[aws]\nprofile = "ir"\n')
    assert _check_quickly(monkeypatch) == 1
    _assert_one_line_each(capsys.readouterr().err, silent_port, ("aws",))


def test_the_check_before_an_incident_starts_is_bounded_too(
        silent_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """`rescind run` and the app's start form ask who rescind is before an incident: with
    the VPN down that took 12 minutes of AWS's retries before a word was said."""
    from rescind.engine.identity import check_credentials
    from rescind.modes import Mode
    from rescind.runbook.validate import load_and_validate

    runbook = load_and_validate(ROOT / "runbooks" / "aws-access-key-compromise.yaml").runbook
    monkeypatch.setattr("rescind.providers.base.CHECK_LIMITS",
                        CheckLimits(connect_s=1.0, read_s=1.0, attempts=1))
    found: list[object] = []
    check = threading.Thread(target=lambda: found.extend(check_credentials(
        runbook, Mode.DRY_RUN, {"aws": {"endpoint_url": f"http://127.0.0.1:{silent_port}"}})),
        daemon=True)
    check.start()
    check.join(timeout=20)  # the limits allow 2 s, plus the SDK's import
    assert found, "no answer within 20 s"
    problems = [getattr(who, "problem", None) for who in found]
    assert all(problems) and f"127.0.0.1:{silent_port}" in str(problems[0]), problems


def test_what_a_cloud_names_reaches_the_terminal_escaped(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A display name is anyone's to set (an Entra user's): an escape sequence in it must
    not run in the responder's terminal."""
    from pydantic import BaseModel

    from rescind.cli import main
    from rescind.providers import registry

    class NoSettings(BaseModel):
        pass

    class Named:
        name = "named"
        Settings = NoSettings

        @classmethod
        def from_settings(cls, settings: object, mode: object) -> Named:
            return cls()

        def limit_for_check(self, limits: object) -> None: ...
        def install_dry_run_guard(self, hook: object) -> None: ...
        def close(self) -> None: ...

        def identities(self) -> list[tuple[str, str]]:
            return [("tenant example.com", "user Jane\x1b]0;owned\x07 Doe")]

    monkeypatch.setattr(registry, "names", lambda: ["named"])
    monkeypatch.setattr(registry, "require", lambda name: Named)
    assert main(["config", "check"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "user Jane" in out and "Doe" in out
