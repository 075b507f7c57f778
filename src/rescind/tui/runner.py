"""One incident's life in the app: open it, run it in a worker, cancel, close, shut down.

``session.run()`` runs in an async worker on the app's loop (the engine awaits the
responder there, and moves blocking cloud calls to threads), so the UI keeps
painting while the engine works. Errors end up in the host's
``on_worker_state_changed`` (exit_on_error=False): a bad input or a locked
incident becomes a message, never a crashed app.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from textual.widget import Widget
from textual.worker import Worker, WorkerState

from rescind.engine.responder import EngineEvent
from rescind.engine.session import CloseInfo, IncidentSession, SessionConfig
from rescind.tui.messages import EngineEvents, RequestPending, RunFinished, SessionReady
from rescind.tui.responder import Request, TuiResponder

Opener = Callable[[TuiResponder], Awaitable[IncidentSession]]
Settings = dict[str, Any]
RUN_GROUP = "incident-run"


def start_opener(config: SessionConfig) -> Opener:
    async def open_session(responder: TuiResponder) -> IncidentSession:
        return await IncidentSession.start(config, responder)

    return open_session


def resume_opener(incident_dir: Path, *, key: Path | None = None,
                  inputs: dict[str, str] | None = None,
                  settings: Settings | Callable[[], Settings] | None = None) -> Opener:
    """``settings`` may be a blocking function (reading the settings file): it runs in
    a thread when the incident opens."""
    async def open_session(responder: TuiResponder) -> IncidentSession:
        given = await asyncio.to_thread(settings) if callable(settings) else settings
        return await IncidentSession.resume(incident_dir, responder, key=key,
                                            settings=given, inputs=inputs)

    return open_session


class IncidentRunner:
    def __init__(self, host: Widget, opener: Opener, *, key: Path | None = None) -> None:
        self.host = host
        self.opener = opener
        self.key = key
        self.session: IncidentSession | None = None
        self.responder: TuiResponder | None = None
        self.outcome: str | None = None
        self.close_info: CloseInfo | None = None
        self.worker: Worker[str] | None = None

    def start(self) -> None:
        self.outcome = None
        self.worker = self.host.run_worker(self._open_and_run(), name="incident",
                                           group=RUN_GROUP, exclusive=True,
                                           exit_on_error=False)

    async def _open_and_run(self) -> str:
        if self.session is None:
            self.responder = TuiResponder(self._request, self._events)
            self.session = await self.opener(self.responder)
            self.host.post_message(SessionReady())
        outcome = await self.session.run()
        self.outcome = outcome
        self.host.post_message(RunFinished(outcome))
        return outcome

    def _request(self, request: Request) -> None:
        self.host.post_message(RequestPending(request))

    def _events(self, events: list[EngineEvent]) -> None:
        self.host.post_message(EngineEvents(events))

    @property
    def running(self) -> bool:
        return self.worker is not None and self.worker.state in (WorkerState.PENDING,
                                                                 WorkerState.RUNNING)

    @property
    def in_flight(self) -> bool:
        return self.session is not None and self.session.in_flight

    @property
    def pending(self) -> Request | None:
        return self.responder.pending if self.responder is not None else None

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()

    def reopen(self) -> None:
        """After a cancel or an error: resume from the journal, as after a crash.

        The interrupted step is re-verified against the cloud before anything else.
        """
        if self.session is None:
            self.start()
            return
        session = self.session
        # Secret inputs are never journaled; this process still has them.
        secrets = {k: str(v) for k, v in session.inputs.items() if k in session.secret_inputs}
        session.shutdown()
        self.session = None
        self.opener = resume_opener(session.incident_dir, key=self.key, inputs=secrets)
        self.start()

    async def close(self) -> CloseInfo:
        assert self.session is not None
        self.close_info = await self.session.close()
        return self.close_info

    def shutdown(self) -> None:
        self.cancel()
        if self.session is not None:
            self.session.shutdown()
