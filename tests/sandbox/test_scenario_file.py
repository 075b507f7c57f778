"""Scenario files: clear errors naming the file and field; history applied or not as asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from rescind.errors import UsageError
from rescind.sandbox.aws import start_aws_sandbox
from rescind.sandbox.scenario import Scenario


def test_errors_name_file_and_field(tmp_path: Path) -> None:
    bad_key = tmp_path / "bad-key.yaml"
    bad_key.write_text("users:\n  - name: a\n    access_keys: [{id: AKIA-not-a-key}]\n")
    with pytest.raises(UsageError, match=r"bad-key.yaml:3: users.0.access_keys.0.id"):
        Scenario.load(bad_key)
    broken = tmp_path / "broken.yaml"
    broken.write_text("users: [\n")
    with pytest.raises(UsageError, match="not valid YAML"):
        Scenario.load(broken)
    with pytest.raises(UsageError, match="cannot read scenario"):
        Scenario.load(tmp_path / "missing.yaml")


def test_history_that_cannot_be_applied_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: broken-history\n"
        "cloudtrail:\n  events:\n"
        "    - {time: -1h, eventName: AttachUserPolicy, eventSource: iam.amazonaws.com,\n"
        "       requestParameters: {userName: nobody,\n"
        "                           policyArn: 'arn:aws:iam::123456789012:policy/x'}}\n")
    with pytest.raises(UsageError, match="cannot apply AttachUserPolicy"):
        start_aws_sandbox(path)
    # The failed start released the process's sandbox slot.
    path.write_text(path.read_text().replace("}}\n", "}, apply: false}\n"))
    with start_aws_sandbox(path) as sandbox:
        records = sandbox.trail.records("us-east-1")
        assert [r["eventName"] for r in records] == ["AttachUserPolicy"]
        assert "nobody" not in [u["UserName"] for u in sandbox.client("iam").list_users()["Users"]]
