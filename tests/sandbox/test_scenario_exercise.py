"""The exercise fields every scenario may carry: compromised, responder_permissions,
debrief. Every shipped scenario loads with them, by each cloud's own model too."""

from __future__ import annotations

from pathlib import Path

import pytest

from rescind.errors import UsageError
from rescind.sandbox.gcp_scenario import GcpScenario
from rescind.sandbox.scenario import Scenario
from rescind.sandbox.scenario_exercise import load_brief

SCENARIOS = sorted((Path(__file__).resolve().parents[2] / "runbooks" / "scenarios")
                   .glob("*.yaml"))


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_every_shipped_scenario_names_what_it_compromised(path: Path) -> None:
    brief, _raw = load_brief(path)
    assert brief.name == path.stem
    if path.stem in {"leaked-access-key", "third-party-role", "root-credential-use",
                     "gcp-leaked-sa-key", "vault-token-leak", "entra-phished-user",
                     "role-session"}:
        assert brief.compromised and brief.debrief


def test_the_strict_cloud_models_accept_the_exercise_fields(tmp_path: Path) -> None:
    fields = {"compromised": ["AKIAIOSFODNN7EXAMPLE"], "debrief": ["Why  so\nlate?"],
              "responder_permissions": ["iam:*"]}
    assert Scenario.model_validate(fields).debrief == ["Why so late?"]
    assert GcpScenario.model_validate(fields).responder_permissions == ["iam:*"]


@pytest.mark.parametrize(("body", "message"), [
    ("debrief: ['', 'Why?']", r"debrief: .*a debrief question is a non-empty text"),
    (f"debrief: ['{'x' * 501}']", r"debrief: .*at most 500 characters"),
    ("debrief: 'one question'", r"debrief: Input should be a valid list"),
    ("compromised: [AKIAIOSFODNN7EXAMPLE, AKIAIOSFODNN7EXAMPLE]", r"compromised: .*listed twice"),
    ("responder_permissions: ['iam: UpdateAccessKey']",
     r"responder_permissions: .*a permission is one word"),
])
def test_a_bad_exercise_field_names_the_file_and_field(tmp_path: Path, body: str,
                                                       message: str) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(f"name: broken\n{body}\n")
    with pytest.raises(UsageError, match=r"scenario\.yaml: " + message) as caught:
        load_brief(path)
    assert caught.value.fix and "docs/exercises.md" in caught.value.fix
