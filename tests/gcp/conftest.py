"""Google Cloud test fixtures: the simulated project seeded from the shipped scenarios.

Tests assert on state read back from the fakes (``sandbox.state``) and on the
requests the fakes received (``sandbox.operations()``), never on what the actions
report about themselves.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from rescind.actions.base import ActionContext
from rescind.modes import Mode
from rescind.providers.gcp import GcpProvider
from rescind.providers.gcp_settings import GcpSettings
from rescind.sandbox.gcp import GcpSandbox, start_gcp_sandbox
from rescind.sandbox.gcp_scenario import GcpScenario

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "runbooks" / "scenarios"
LEAKED = SCENARIOS / "gcp-leaked-sa-key.yaml"
WIF = SCENARIOS / "gcp-workload-identity.yaml"
CONNECTOR = "tailpipe-connector@example-project.iam.gserviceaccount.com"
LEAKED_KEY = "1f3a0c9e5b7d2a4c6e8f0b1d3a5c7e9f0a2b4c6d"
ATTACKER_KEY = "9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b"
SYSTEM_KEY = "5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c"
RESPONDER = "rescind-responder@example-project.iam.gserviceaccount.com"
BREAK_GLASS = "breakglass-admin@example-project.iam.gserviceaccount.com"


def key_file(tmp_path: Path, email: str, key_id: str,
             token_uri: str = "https://oauth2.googleapis.com/token") -> Path:
    """A service-account key file with a fresh private key, asking ``token_uri`` for tokens."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    path = tmp_path / "key.json"
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "example-project", "private_key_id": key_id,
        "private_key": pem, "client_email": email, "client_id": "1", "token_uri": token_uri}))
    return path


@contextmanager
def running(scenario: Path | GcpScenario = LEAKED, **kwargs: Any) -> Iterator[GcpSandbox]:
    sandbox = start_gcp_sandbox(scenario, **kwargs)
    try:
        yield sandbox
    finally:
        sandbox.stop()


def provider_for(sandbox: GcpSandbox, **overrides: Any) -> GcpProvider:
    settings = GcpSettings.model_validate({**sandbox.provider_settings(), **overrides})
    provider = GcpProvider.from_settings(settings, Mode.LIVE)
    provider.backoff_s = 0.01  # tests wait for conditions, not for backoff
    return provider


@pytest.fixture
def sandbox() -> Iterator[GcpSandbox]:
    with running() as started:
        yield started


@pytest.fixture
def provider(sandbox: GcpSandbox) -> Iterator[GcpProvider]:
    made = provider_for(sandbox)
    try:
        yield made
    finally:
        made.close()


Journal = list[tuple[str, dict[str, Any]]]


def context(provider: GcpProvider, tmp_path: Path, mode: Mode = Mode.LIVE,
            settings: dict[str, Any] | None = None) -> tuple[ActionContext, Journal]:
    journal: Journal = []

    def record(kind: str, data: dict[str, Any]) -> int:
        journal.append((kind, data))
        return len(journal)

    return ActionContext(mode=mode, incident_dir=tmp_path, providers={"gcp": provider},
                         journal=record, settings=settings or {}), journal


@pytest.fixture(autouse=True)
def identity(_isolated_config: Path) -> None:
    from rescind.record.keys import init_key

    init_key("Jane Responder", "jane@example.com")
