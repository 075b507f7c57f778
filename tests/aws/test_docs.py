"""docs/aws.md names every AWS action and its policy grants every permission they use."""

from __future__ import annotations

import json
import re
from typing import Any

from rescind.actions import registry
from rescind.actions.base import Action
from tests.aws.conftest import ROOT

DOC = (ROOT / "docs" / "aws.md").read_text()


def _aws_actions() -> list[type[Action[Any]]]:
    return [cls for cls in registry.all_actions() if "aws" in cls.providers]


def test_every_aws_action_is_documented_with_its_outputs() -> None:
    for cls in _aws_actions():
        row = next((line for line in DOC.splitlines() if line.startswith(f"| `{cls.name}` |")),
                   None)
        assert row is not None, cls.name
        assert f"| {cls.risk.value} |" in row
        for output in cls.outputs:
            assert output in row, (cls.name, output)


def test_the_documented_policy_grants_every_permission() -> None:
    block = re.search(r"```json\n(.*?)```", DOC, re.S)
    assert block is not None
    policy = json.loads(block.group(1))
    read, revoke = (set(s["Action"]) for s in policy["Statement"])
    needed = {p for cls in _aws_actions() for p in cls.permissions}
    assert needed <= read | revoke, needed - (read | revoke)
    assert not {p for p in read if not p.split(":", 1)[1].startswith(
        ("Get", "List", "Describe", "Lookup"))}, "the dry-run statement must be read-only"


def test_every_shipped_aws_runbook_is_listed() -> None:
    for path in sorted((ROOT / "runbooks").glob("aws-*.yaml")):
        assert f"`{path.stem}`" in DOC, path.name
