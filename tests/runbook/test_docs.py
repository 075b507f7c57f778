"""docs/runbooks.md stays true: generated key tables current, examples valid."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from rescind.actions import registry
from rescind.runbook.reference import render
from rescind.runbook.validate import load_and_validate
from tests.runbook.conftest import EXAMPLE, REPO

DOC = REPO / "docs" / "runbooks.md"


def yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOC.read_text("utf-8"), re.S)


def test_generated_tables_are_current() -> None:
    text = DOC.read_text("utf-8")
    assert render(text) == text, "run: python -m rescind.runbook.reference docs/runbooks.md"


def test_tabletop_example_is_the_shipped_file() -> None:
    assert yaml_blocks()[0] == EXAMPLE.read_text("utf-8")


def test_cloud_example_validates(write: Callable[..., Path]) -> None:
    block = yaml_blocks()[1]
    if "aws.iam.deactivate_access_key" not in registry.names():
        pytest.skip("the AWS actions are not installed")
    loaded = load_and_validate(write(block))
    assert loaded.runbook.id == "aws-access-key-compromise"
