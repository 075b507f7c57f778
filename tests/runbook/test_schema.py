"""The JSON Schema: a valid draft 2020-12 schema that accepts the shipped runbooks and
completes each action's parameters."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from rescind.cli import main
from rescind.runbook.schema import runbook_json_schema
from tests.runbook.conftest import REPO, Probe

SHIPPED = sorted((REPO / "runbooks").glob("*.y*ml"))


def errors(schema: dict[str, Any], data: Any) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return sorted(f"{'/'.join(map(str, e.absolute_path))}: {e.validator}"
                  for e in validator.iter_errors(data))


def test_schema_is_valid_2020_12() -> None:
    schema = runbook_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_runbooks_match_the_schema(path: Path) -> None:
    assert errors(runbook_json_schema(), yaml.safe_load(path.read_text("utf-8"))) == []


def test_there_are_shipped_runbooks() -> None:
    assert REPO / "runbooks" / "example-tabletop.yaml" in SHIPPED


def test_schema_rejects_structural_mistakes() -> None:
    data = yaml.safe_load(textwrap.dedent("""\
        id: Bad
        title: t
        severity: urgent
        inputs:
          bad-name: {type: string}
        phases:
          contain:
            - {id: a, manual: x, note: y}
          asess: []
        """))
    assert errors(runbook_json_schema(), data) == [
        "id: pattern",
        "inputs: pattern",  # propertyNames reports at the mapping
        "phases/contain/0: oneOf",
        "phases: additionalProperties",
        "severity: enum",
    ]


def test_actions_complete_their_params(probe_action: type[Probe]) -> None:
    schema = runbook_json_schema()
    step = schema["$defs"]["ActionStep"]
    assert Probe.name in step["properties"]["action"]["enum"]
    [rule] = [r for r in step["allOf"]
              if r["if"]["properties"]["action"]["const"] == Probe.name]
    params = rule["then"]["properties"]["with"]
    assert set(params["properties"]) == {"user", "count", "tags", "target"}
    assert rule["then"]["required"] == ["with"]

    def runbook(with_: Any) -> Any:
        return {"id": "r", "title": "t", "phases": {"contain": [
            {"id": "a", "action": Probe.name, "with": with_}]}}

    assert errors(schema, runbook({"user": "alice", "count": 2, "tags": ["x"],
                                   "target": {"access_key_id": "AKIAIOSFODNN7EXAMPLE"}})) == []
    # References are accepted anywhere a value goes; they are checked by `rescind validate`.
    assert errors(schema, runbook({"user": "${{ inputs.user }}",
                                   "count": "${{ steps.x.outputs.n }}",
                                   "tags": ["${{ inputs.tag }}"],
                                   "target": {"access_key_id": "${{ inputs.key }}"}})) == []
    assert errors(schema, runbook({"user": 3, "count": "many", "colour": "red",
                                   "target": {"access_key_id": "nope"}})) == [
        "phases/contain/0: oneOf"]
    # Without the action's rule the same step is fine: the error came from its params.
    loose = runbook_json_schema()
    loose["$defs"]["ActionStep"].pop("allOf")
    loose["$defs"]["ActionStep"]["properties"]["action"].pop("enum")
    assert errors(loose, runbook({"user": 3, "colour": "red"})) == []


def test_unknown_action_is_not_in_the_enum(probe_action: type[Probe]) -> None:
    data = {"id": "r", "title": "t", "phases": {"contain": [
        {"id": "a", "action": "aws.nothing", "with": {}}]}}
    assert errors(runbook_json_schema(), data) == ["phases/contain/0: oneOf"]


def test_schema_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == runbook_json_schema()
    out = tmp_path / "runbook.schema.json"
    assert main(["schema", "--out", str(out)]) == 0
    assert json.loads(out.read_text("utf-8")) == printed
    assert capsys.readouterr().err == f"wrote {out}\n"
    assert main(["schema", "--out", str(tmp_path / "missing" / "x.json")]) == 2
    assert "cannot write" in capsys.readouterr().err
