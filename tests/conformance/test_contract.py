"""Every provider passes these: the contracts of docs/extending.md, proven at the fake.

Run for each Case in cases.py: AWS (moto) and the tiny cloud that lives only in
tests/ and was added without editing anything under src/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from rescind.actions import registry as actions
from rescind.engine.session import IncidentSession, SessionConfig
from rescind.modes import Mode
from rescind.providers import registry as providers
from rescind.providers.base import ProviderBase
from rescind.record.journal import read_entries
from rescind.runbook.model import ActionStep
from rescind.runbook.validate import load_and_validate
from rescind.timeline import sources
from tests.aws.test_runbooks import AutoResponder
from tests.conformance.cases import CASES, Case

pytestmark = pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])


def _actions_of(case: Case) -> list[Any]:
    return [cls for cls in actions.all_actions() if case.name in cls.providers]


async def _run(case: Case, mode: Mode, tmp_path: Path,
               settings: dict[str, Any]) -> tuple[IncidentSession, AutoResponder]:
    responder = AutoResponder()
    config = SessionConfig(runbook=case.runbook, mode=mode, inputs=dict(case.inputs),
                           out_dir=tmp_path / "incidents", settings=settings)
    session = await IncidentSession.start(config, responder)
    assert await session.run() == "completed"
    return session, responder


def _no_failures(session: IncidentSession, allowed: frozenset[str] = frozenset()) -> None:
    failed = [e.data for e in read_entries(session.journal.path)
              if e.kind == "step.failed" and e.data["step"] not in allowed]
    assert failed == []


def test_provider_is_registered_with_typed_settings_and_a_source(case: Case) -> None:
    cls = providers.get(case.name)
    assert cls is not None and issubclass(cls, ProviderBase)
    assert issubclass(cls.Settings, BaseModel)
    assert cls.Settings.model_config.get("extra") == "forbid"
    assert any(sources.require(n).provider == case.name for n in sources.names())
    for action in _actions_of(case):
        assert action.permissions, action.name  # type: ignore[attr-defined]


def test_every_action_has_its_docs_row(case: Case) -> None:
    text = case.docs.read_text()
    for action in _actions_of(case):
        row = next((line for line in text.splitlines()
                    if line.startswith(f"| `{action.name}` |")), None)
        assert row is not None, action.name
        assert f"| {action.risk.value} |" in row


async def test_dry_run_sends_no_mutating_request(case: Case, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    with case.fake() as fake:
        for name, value in fake.environ().items():
            monkeypatch.setenv(name, value)
        session, _ = await _run(case, Mode.DRY_RUN, tmp_path, {case.name: fake.table()})
        try:
            blocked = [e.data for e in read_entries(session.journal.path)
                       if e.kind == "dryrun.blocked"]
            assert fake.mutating() == []  # as the server saw it
            assert blocked and all(b["text"].startswith("would call ") for b in blocked)
            assert not fake.changed()
        finally:
            session.shutdown()


async def test_live_run_changes_the_cloud_within_declared_permissions_and_verifies(
        case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = load_and_validate(case.runbook)
    # Only this provider's actions: a runbook's notify.send declares the channels'
    # permissions, which are not this cloud's to check.
    declared = {p for _, step in loaded.runbook.steps() if isinstance(step, ActionStep)
                and case.name in actions.get(step.action).providers  # type: ignore[union-attr]
                for p in actions.get(step.action).permissions}  # type: ignore[union-attr]
    declared |= {p for n in sources.names() for p in sources.require(n).permissions
                 if sources.require(n).provider == case.name}
    with case.fake() as fake:
        for name, value in fake.environ().items():
            monkeypatch.setenv(name, value)
        session, _ = await _run(case, Mode.LIVE, tmp_path, {case.name: fake.table()})
        try:
            _no_failures(session, case.live_failures)
            assert fake.changed()  # read back from the fake
            uncovered = {op for op in fake.operations() if not case.covers(op, declared)}
            assert uncovered == set()
            await session.close()
            assert session.verify().exit_code == 0
        finally:
            session.shutdown()


async def test_exercise_run_starts_the_simulated_cloud_itself(case: Case,
                                                              tmp_path: Path) -> None:
    session, _ = await _run(case, Mode.EXERCISE, tmp_path, {})
    try:
        _no_failures(session)
        await session.close()
        assert session.verify().exit_code == 0
    finally:
        session.shutdown()
