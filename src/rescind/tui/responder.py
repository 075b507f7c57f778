"""The engine's Responder, answered by screens and modals.

Each awaited call becomes a ``Request`` holding a Future; the incident screen
shows the matching modal and resolves the Future with what the responder chose.
Engine events are buffered and handed over in bursts (one repaint per burst,
the way toolong coalesces its updates); events raised on another thread (an
action's progress callback inside ``asyncio.to_thread``) hop to the app's loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from rescind.engine.responder import (
    ApprovalRequest,
    ApprovalResponse,
    EngineEvent,
    EventKind,
    FailureChoice,
    StepState,
)
from rescind.errors import ActionError

RequestKind = Literal["acknowledge", "answer", "approve", "failure"]
COALESCE_SECONDS = 0.05


@dataclass
class Request:
    """One thing the engine is waiting for. Only one is ever pending: the engine is sequential."""

    kind: RequestKind
    step: StepState
    future: asyncio.Future[Any]
    approval: ApprovalRequest | None = None
    error: ActionError | None = None
    default: str | None = None
    secret: bool = False
    refusal: str | None = None  # why the engine refused the previous answer

    def resolve(self, value: Any) -> None:
        if not self.future.done():
            self.future.set_result(value)


class TuiResponder:
    """Turns the engine's awaits into Requests and its events into bursts."""

    def __init__(self, on_request: Callable[[Request], None],
                 on_events: Callable[[list[EngineEvent]], None]) -> None:
        self._on_request = on_request
        self._on_events = on_events
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._buffer: list[EngineEvent] = []
        self._flush_scheduled = False
        self._refusal: str | None = None
        self._last_asked: tuple[str, str] | None = None
        self.pending: Request | None = None

    # -------------------------------------------------------------- requests

    async def _ask(self, request: Request) -> Any:
        # Deliver what happened before this request first, so the screen is current.
        self._flush()
        asked = (request.kind, request.step.id)
        if asked == self._last_asked:
            request.refusal = self._refusal
        self._refusal, self._last_asked = None, asked
        self.pending = request
        self._on_request(request)
        try:
            return await request.future
        finally:
            if self.pending is request:
                self.pending = None

    def _future(self) -> asyncio.Future[Any]:
        return self._loop.create_future()

    async def acknowledge(self, step: StepState) -> str | None:
        note: str | None = await self._ask(Request("acknowledge", step, self._future()))
        return note

    async def answer(self, step: StepState, default: str | None, secret: bool) -> str:
        answer: str = await self._ask(Request("answer", step, self._future(), default=default,
                                              secret=secret))
        return answer

    async def approve(self, request: ApprovalRequest) -> ApprovalResponse:
        response: ApprovalResponse = await self._ask(
            Request("approve", request.step, self._future(), approval=request))
        return response

    async def on_failure(self, step: StepState, error: ActionError) -> FailureChoice:
        choice: FailureChoice = await self._ask(Request("failure", step, self._future(),
                                                        error=error))
        return choice

    # ---------------------------------------------------------------- events

    def event(self, event: EngineEvent) -> None:
        if event.kind is EventKind.WARNING:
            # The engine warns, then asks again (a refused name, a bad answer): the
            # next modal shows why.
            self._refusal = str(event.data.get("message", ""))
        if threading.get_ident() == self._thread:
            self._enqueue(event)
        else:
            self._loop.call_soon_threadsafe(self._enqueue, event)

    def _enqueue(self, event: EngineEvent) -> None:
        self._buffer.append(event)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_later(COALESCE_SECONDS, self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._buffer:
            batch, self._buffer = self._buffer, []
            self._on_events(batch)
