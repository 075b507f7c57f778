"""The cloud-neutral action helpers work for any provider, not only AWS."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from rescind.actions.base import ActionContext
from rescind.actions.common import TargetCall, run_targets
from rescind.errors import ActionError, ErrorKind
from rescind.modes import Mode

T = TypeVar("T")


class LoopbackRunner:
    """A provider of no cloud: runs calls in threads, one error type of its own."""

    width = 2

    def __init__(self) -> None:
        self.running = 0
        self.peak = 0

    async def run(self, fn: Callable[[], T]) -> T:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            return await asyncio.to_thread(fn)
        finally:
            self.running -= 1

    def translate_error(self, exc: BaseException) -> ActionError:
        return ActionError(f"vault said {exc}", kind=ErrorKind.PERMISSION, retryable=False)


async def test_run_targets_takes_any_runner(tmp_path: Path) -> None:
    journal: list[tuple[str, dict[str, Any]]] = []
    ctx = ActionContext(mode=Mode.LIVE, incident_dir=tmp_path, providers={},
                        journal=lambda kind, data: journal.append((kind, data)) or len(journal))
    changed: list[str] = []

    def change(target: str) -> Callable[[], None]:
        def fn() -> None:
            if target == "t3":
                raise PermissionError("denied")
            changed.append(target)
        return fn

    runner = LoopbackRunner()
    calls = [TargetCall(target=t, operation="vault:Revoke", fn=change(t))
             for t in ("t1", "t2", "t3", "t4")]
    with pytest.raises(ActionError) as failed:
        await run_targets(ctx, runner, "vault.revoke", calls, verb="revocations")
    assert sorted(changed) == ["t1", "t2", "t4"]
    assert failed.value.kind is ErrorKind.PERMISSION
    assert failed.value.message == "1 of 4 revocations failed: t3: vault said denied"
    outcomes = {d["target"]: d for k, d in journal if d["stage"] == "outcome"}
    assert outcomes["t3"] == {"action": "vault.revoke", "target": "t3",
                              "operation": "vault:Revoke", "stage": "outcome", "ok": False,
                              "kind": "permission", "error": "vault said denied"}
    assert [d["stage"] for _, d in journal].count("intent") == 4
    assert runner.peak <= runner.width


class AsyncRunner:
    """A provider whose SDK is async: ``run`` only makes the coroutine."""

    width = 2

    async def run(self, fn: Callable[[], T]) -> T:
        return fn()

    def translate_error(self, exc: BaseException) -> ActionError:
        return ActionError(f"graph said {exc}", kind=ErrorKind.NOT_FOUND, retryable=False)


async def test_run_targets_awaits_an_async_providers_calls(tmp_path: Path) -> None:
    journal: list[tuple[str, dict[str, Any]]] = []
    ctx = ActionContext(mode=Mode.LIVE, incident_dir=tmp_path, providers={},
                        journal=lambda kind, data: journal.append((kind, data)) or len(journal))
    changed: list[str] = []

    def change(target: str) -> Callable[[], Awaitable[None]]:
        async def fn() -> None:
            await asyncio.sleep(0)
            if target == "u2":
                raise LookupError("gone")
            changed.append(target)
        return fn

    calls = [TargetCall(target=t, operation="graph:PATCH /users/{id}", fn=change(t))
             for t in ("u1", "u2", "u3")]
    with pytest.raises(ActionError) as failed:
        await run_targets(ctx, AsyncRunner(), "entra.user.disable", calls, verb="disables")
    assert sorted(changed) == ["u1", "u3"]  # each coroutine ran, not merely made
    assert failed.value.kind is ErrorKind.NOT_FOUND
    assert failed.value.message == "1 of 3 disables failed: u2: graph said gone"
    oks = {d["target"]: d["ok"] for _, d in journal if d["stage"] == "outcome"}
    assert oks == {"u1": True, "u2": False, "u3": True}


def test_error_kinds_are_one_enum() -> None:
    assert ActionError("x", kind="not-found").kind is ErrorKind.NOT_FOUND
    assert ActionError("x").kind is ErrorKind.ERROR
    with pytest.raises(ValueError):
        ActionError("x", kind="not_found")  # a typo is a bug, not a new kind
