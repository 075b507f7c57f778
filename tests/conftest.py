"""Test-wide environment: never touch the internet or real credentials."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

_SAFE_ENV = {
    "AWS_EC2_METADATA_DISABLED": "true",
    "NO_GCE_CHECK": "true",
    "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
os.environ.update(_SAFE_ENV)
for _var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AZURE_CLIENT_ID", "AZURE_TENANT_ID",
             "AZURE_CLIENT_SECRET", "GOOGLE_APPLICATION_CREDENTIALS", "SSH_AUTH_SOCK"):
    os.environ.pop(_var, None)


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path_factory: pytest.TempPathFactory,
                     monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Each test gets its own rescind config dir and an in-memory keyring."""
    config = tmp_path_factory.mktemp("config")
    monkeypatch.setenv("RESCIND_CONFIG_DIR", str(config))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    from tests.memory_keyring import use_memory_keyring

    with use_memory_keyring():
        yield config


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Start the slow tests first: with `-n 2`, a minute-long app exercise collected
    last would leave one core idle while the other finishes it."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
