"""When no Azure credential works: one message whose fix names the provider's own setting,
and none of azure-identity's warnings printed before it (or over the app's screen)."""

from __future__ import annotations

import os
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
    "credential": "environment", "tenant_id": "00000000-0000-0000-0000-000000000000"}),
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
    done = subprocess.run([sys.executable, "-c", _CHILD, name], capture_output=True,
                          text=True, timeout=120, env=dict(env, PYTHONPATH=str(SRC)))
    assert done.returncode == 0, done.stderr
    assert "no Azure credential worked" in done.stdout
    assert f"--set {name}.credential=device-code" in done.stdout
    assert done.stderr == ""  # azure-identity's "EnvironmentCredential.get_token failed"
