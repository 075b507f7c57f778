"""When no Azure credential works: one message whose fix names the provider's own setting,
and none of azure-identity's warnings printed before it (or over the app's screen)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

_CHILD = """
import sys
from rescind.errors import ActionError
from rescind.modes import Mode
from rescind.providers import registry
from rescind.settings.validate import provider_settings

cls = registry.require(sys.argv[1])
provider = cls.from_settings(provider_settings(cls, {
    "credential": sys.argv[2], "tenant_id": "00000000-0000-0000-0000-000000000000"}),
    Mode.DRY_RUN)
try:
    provider.caller()
except ActionError as exc:
    print(exc.message)
    print(exc.fix)
"""


@pytest.mark.parametrize("name", ["entra", "azure"])
def test_no_credential_is_one_message_naming_the_providers_setting(name: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_")}
    # No logging configured, as in `rescind run`: Python itself prints library warnings.
    done = subprocess.run([sys.executable, "-c", _CHILD, name, "environment"],
                          capture_output=True, text=True, timeout=120,
                          env=dict(env, PYTHONPATH=str(SRC)))
    assert done.returncode == 0, done.stderr
    assert "no Azure credential worked" in done.stdout
    assert f"--set {name}.credential=device-code" in done.stdout
    assert done.stderr == ""  # azure-identity's "EnvironmentCredential.get_token failed"


def test_the_default_chain_says_why_each_credential_failed(tmp_path: Path) -> None:
    """``auto`` tries several credentials; with the SDK's warnings not printed, its message
    is where a responder learns why each failed. A sign-in endpoint that does not answer
    is the network, not a login to redo."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_")}
    env.update(PYTHONPATH=str(SRC), PATH="/usr/bin:/bin",  # no `az` on it
               AZURE_CLIENT_ID="44444444-4444-4444-4444-444444444444")
    done = subprocess.run([sys.executable, "-c", _CHILD, "entra", "auto"], capture_output=True,
                          text=True, timeout=120, env=env)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    message, fix = done.stdout.splitlines()[:2]
    assert message.startswith("no Azure credential worked: EnvironmentCredential: ")
    assert "AzureCliCredential: " in message and "az login" in fix
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token = tmp_path / "federated-token"
    token.write_text("example-federated-token")
    env.update(AZURE_FEDERATED_TOKEN_FILE=str(token),
               AZURE_AUTHORITY_HOST=f"https://127.0.0.1:{port}")
    done = subprocess.run([sys.executable, "-c", _CHILD, "entra", "auto"], capture_output=True,
                          text=True, timeout=120, env=env)
    message, fix = done.stdout.splitlines()[:2]
    assert message.startswith("cannot reach the Microsoft sign-in endpoint: "), message
    assert "WorkloadIdentityCredential: " in message and "proxy" in fix
