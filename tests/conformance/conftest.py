"""Conformance fixtures: the test-only tiny cloud is registered for every test here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def tiny_registered() -> Iterator[None]:
    from tests.conformance.tinycloud import register_all, unregister_all

    register_all()
    try:
        yield
    finally:
        unregister_all()


@pytest.fixture(autouse=True)
def identity(_isolated_config: Path) -> None:
    from rescind.record.keys import init_key

    init_key("Jane Responder", "jane@example.com")
