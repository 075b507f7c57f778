"""Plug-in discovery: rescind's clouds and third parties' both come from ``rescind.plugins``."""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from rescind import plugins
from rescind.actions import registry as actions
from rescind.providers import registry as providers
from rescind.timeline import sources

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def _declared() -> list[str]:
    table = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["entry-points"]
    return list(table[plugins.GROUP].values())


def _points(*pairs: tuple[str, str]) -> list[EntryPoint]:
    return [EntryPoint(name=name, value=value, group=plugins.GROUP) for name, value in pairs]


def test_every_cloud_is_found_from_pyproject_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    # The shared editable install's metadata may predate a cloud: the checkout's
    # pyproject.toml is what counts, so with no metadata at all every cloud is still found.
    monkeypatch.setattr(plugins, "entry_points", lambda group: [])
    assert plugins.own_modules() == _declared()
    plugins.load_plugins()
    assert set(providers.names()) >= {"aws", "azure", "entra", "gcp", "notify", "vault"}
    assert set(sources.names()) >= {"aws", "azure", "entra", "gcp", "vault"}
    assert {n.split(".")[0] for n in actions.names()} >= {"aws", "entra", "gcp", "vault",
                                                          "notify", "timeline"}


def test_an_installed_wheel_reads_its_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plugins, "_checkout_entry_points", lambda: None)
    monkeypatch.setattr(plugins, "entry_points", lambda group: _points(
        ("aws-provider", "rescind.providers.aws"), ("acme", "rescind_acme.plugin")))
    assert plugins.own_modules() == ["rescind.providers.aws"]


@pytest.fixture
def tiny_as_third_party(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from tests.conformance.tinycloud import unregister_all

    monkeypatch.setattr(plugins, "_loaded", False)
    monkeypatch.setattr(plugins, "entry_points", lambda group: _points(
        ("tiny", "tests.conformance.tiny_plugin")))
    sys.modules.pop("tests.conformance.tiny_plugin", None)
    try:
        yield
    finally:
        unregister_all()
        sys.modules.pop("tests.conformance.tiny_plugin", None)


def test_a_third_party_cloud_registers_through_its_entry_point(tiny_as_third_party: None) -> None:
    # Looked up first through the actions registry: every registry loads the plug-ins.
    assert actions.get("tiny.disable_user") is not None
    assert providers.get("tiny") is not None
    assert sources.get("tiny") is not None
