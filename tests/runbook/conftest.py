"""Fixtures for runbook tests: a registered test action and helpers to check problems."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, ConfigDict, Field

from rescind.actions import registry
from rescind.actions.base import Action, ActionContext, Plan, Risk
from rescind.runbook.loader import RunbookError
from rescind.runbook.validate import load_and_validate

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "runbooks" / "example-tabletop.yaml"


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid")
    access_key_id: str = Field(pattern=r"^(AKIA|ASIA)[A-Z0-9]{16}$")
    region: str = "us-east-1"


class ProbeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: str
    count: int = 1
    tags: list[str] = Field(default_factory=list)
    target: Target | None = None


class Probe(Action[ProbeParams]):
    """A read-only test action with outputs, one of them secret."""

    name: ClassVar[str] = "test.iam.probe_user"
    description: ClassVar[str] = "Look a user up (test)"
    params_model: ClassVar[type[BaseModel]] = ProbeParams
    risk: ClassVar[Risk] = Risk.LOW
    reversible: ClassVar[bool] = True
    mutating: ClassVar[bool] = False
    outputs: ClassVar[tuple[str, ...]] = ("user_arn", "key_count")
    secret_outputs: ClassVar[tuple[str, ...]] = ("token",)

    async def plan(self, ctx: ActionContext, params: ProbeParams, step_id: str) -> Plan:
        return Plan(action=self.name, step_id=step_id, params=params.model_dump(),
                    risk=self.risk, reversible=self.reversible, mutating=self.mutating)


class LooseParams(BaseModel):
    """Ignores unknown keys (pydantic's default): validation must still flag typos."""

    bucket: str


class Loose(Probe):
    name: ClassVar[str] = "test.s3.loose"
    params_model: ClassVar[type[BaseModel]] = LooseParams
    outputs: ClassVar[tuple[str, ...]] = ()
    secret_outputs: ClassVar[tuple[str, ...]] = ()


@pytest.fixture
def probe_action() -> Iterator[type[Probe]]:
    registry.register(Probe)
    registry.register(Loose)
    yield Probe
    registry.unregister(Probe.name)
    registry.unregister(Loose.name)


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    def _write(text: str | bytes, name: str = "rb.yaml") -> Path:
        path = tmp_path / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path
    return _write


@pytest.fixture
def problems(write: Callable[..., Path]) -> Callable[[str], list[str]]:
    """Validate a runbook text; return its problems as 'LINE:COL: message' strings."""
    def _problems(text: str) -> list[str]:
        path = write(text)
        try:
            load_and_validate(path)
        except RunbookError as exc:
            prefix = f"{path}:"
            assert all(str(p).startswith(prefix) for p in exc.problems)
            return [str(p).removeprefix(prefix) for p in exc.problems]
        return []
    return _problems


@contextmanager
def deadline(seconds: float = 1.0) -> Iterator[None]:
    """Fail if the block uses more than ``seconds`` of this thread's CPU (a blow-up:
    quadratic parsing, an alias bomb), and stop it if it hangs.

    The thread's CPU, not wall time or the process's: a busy machine stretches the
    wall clock, and other threads of an xdist worker (a test's server still stopping)
    add process CPU; neither may fail the test.
    """
    def _hung(signum: int, frame: Any) -> None:
        raise TimeoutError(f"still running after {seconds * 60:.0f}s")

    previous = signal.signal(signal.SIGALRM, _hung)
    signal.setitimer(signal.ITIMER_REAL, seconds * 60)
    started = time.thread_time()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    used = time.thread_time() - started
    assert used <= seconds, f"took {used:.2f}s of CPU (limit {seconds}s)"
