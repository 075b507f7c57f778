"""Messages the engine's side of the app posts to the screens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    # Annotations only: the app imports this module before its first frame, and the
    # engine's modules load pydantic.
    from rescind.engine.responder import EngineEvent
    from rescind.tui.responder import Request
    from rescind.tui.workers import ReportsFailures


class EngineEvents(Message):
    """A burst of engine events, coalesced so a fast action repaints once, not per event."""

    def __init__(self, events: list[EngineEvent]) -> None:
        super().__init__()
        self.events = events


class RequestPending(Message):
    """The engine waits for the responder: an acknowledgement, answer, approval or choice."""

    def __init__(self, request: Request) -> None:
        super().__init__()
        self.request = request


class SessionReady(Message):
    """The incident is open (started or resumed) and its steps are known."""


class RunFinished(Message):
    """``session.run()`` returned: "completed" or "aborted"."""

    def __init__(self, outcome: str) -> None:
        super().__init__()
        self.outcome = outcome


class WorkFailed(Message):
    """A background job of a screen raised (a list, a verification, the identity check).

    Textual's ``Worker.StateChanged`` does not bubble; this does, to the app's one
    handler, which says what failed and has the screen replace its placeholder.
    """

    def __init__(self, screen: ReportsFailures, group: str, error: BaseException | None) -> None:
        super().__init__()
        self.screen = screen
        self.group = group
        self.error = error
