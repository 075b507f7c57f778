"""Issue 15's harness, held for every provider as it lands: no credential from a
provider's settings reaches the record or the responder, and every registered
timeline source survives whatever a hostile or broken export holds."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from rescind.modes import Mode
from rescind.providers import registry as providers
from rescind.redaction import is_secret_key
from rescind.timeline import sources
from tests.conformance.cases import CASES, Case
from tests.conformance.test_contract import _run


def _secret_values(case: Case, table: dict[str, Any]) -> dict[str, str]:
    """The values in the fake's settings table that the provider's model calls secret."""
    fields = providers.require(case.name).Settings.model_fields
    found: dict[str, str] = {}
    for name in fields:
        value = table.get(name)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if is_secret_key(name) and isinstance(value, str) and len(value) >= 8:
            found[name] = value
    return found


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_no_settings_secret_reaches_a_file_or_the_responder(
        case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with case.fake() as fake:
        table = fake.table()
        # A credential the provider reads from the environment (VAULT_TOKEN) counts too.
        canaries = _secret_values(case, table) | {
            name: value for name, value in fake.environ().items() if len(value) >= 8}
        for name, value in fake.environ().items():
            monkeypatch.setenv(name, value)
        if not canaries:
            pytest.skip(f"{case.name}'s fake needs no secret setting")
        session, responder = await _run(case, Mode.LIVE, tmp_path, {case.name: table})
        try:
            await session.close()
            shown = repr(responder.events) + repr(responder.plans)
            for name, value in canaries.items():
                assert value not in shown, f"{name} was shown to the responder"
                for path in session.incident_dir.rglob("*"):
                    if path.is_file():
                        assert value.encode() not in path.read_bytes(), f"{name} in {path}"
        finally:
            session.shutdown()


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["eventTime", "eventID", "eventName", "@timestamp", "timestamp",
                         "time", "id", "userIdentity", "protoPayload", "properties",
                         "records", "Records", "value", "request", "response", "auth",
                         "operationName", "resourceId", "caller", "x"]) | st.text(max_size=8),
        inner, max_size=6),
    max_leaves=25)


@pytest.mark.parametrize("name", sources.names())
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(_JSON, max_size=6), as_lines=st.booleans())
def test_every_source_converts_hostile_exports_without_raising(
        name: str, records: list[Any], as_lines: bool) -> None:
    source = sources.require(name)
    text = ("\n".join(json.dumps(r) for r in records) if as_lines
            else json.dumps({"Records": records, "value": records}))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.json"
        path.write_text(text)
        result = source.convert([path])
    assert result.files == 1
    for event in result.events:
        assert event.time.tzinfo is not None  # placed in time, comparable with the rest
