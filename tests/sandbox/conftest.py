"""Sandbox fixtures: the shipped scenario, started once per module (moto state is global)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rescind.sandbox.aws import AwsSandbox, start_aws_sandbox

SCENARIO = Path(__file__).resolve().parents[2] / "runbooks" / "scenarios" / "leaked-access-key.yaml"


@pytest.fixture(scope="module")
def leaked() -> Iterator[AwsSandbox]:
    with start_aws_sandbox(SCENARIO) as sandbox:
        yield sandbox
