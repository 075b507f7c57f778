"""Background jobs that fail: forwarded to the app's one handler, never left hanging.

Screens read lists, verify records and ask clouds who rescind acts as in thread
workers (``exit_on_error=False``: a failure must not end the app). Without a
handler, a job that raised left its "reading…" placeholder on screen for good.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual.worker import Worker, WorkerState

from rescind.errors import RescindError
from rescind.tui.messages import WorkFailed

if TYPE_CHECKING:
    from textual.message import Message


class ReportsFailures:
    """Mixin for screens and modals whose workers may fail.

    ``OWN_FAILURES`` names worker groups the screen handles itself (the incident's
    run); ``work_failed`` replaces a placeholder with what went wrong.
    """

    OWN_FAILURES: ClassVar[frozenset[str]] = frozenset()

    if TYPE_CHECKING:
        def post_message(self, message: Message) -> bool: ...

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.group not in self.OWN_FAILURES:
            self.post_message(WorkFailed(self, event.worker.group, event.worker.error))

    def work_failed(self, group: str, text: str) -> None:
        """Show ``text`` where the failed job's result would have appeared."""


def failure_text(error: BaseException | None) -> str:
    """What went wrong, in one message with its fix when rescind knows one."""
    if isinstance(error, RescindError):
        return f"{error.message} (fix: {error.fix})" if error.fix else error.message
    return f"{type(error).__name__}: {error}" if error is not None else "unknown error"
