"""Sending one delivery and journaling it: the path every notification takes.

``notify.send``, the engine's two-person approval requests and the Jira ticket's
phase comments all hand a ``Delivery`` to the provider's one transport (live,
captured, or blocked by the dry-run guard) and record the outcome as one
``notify.message`` entry, so the Messages pane and ``session.messages()`` see
them all alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from rescind.errors import ActionError
from rescind.notify.channels import Delivery
from rescind.notify.record import MESSAGE
from rescind.notify.settings import Recipient

Journal = Callable[[str, dict[str, Any]], Any]


def opens_thread(recipient: Recipient) -> bool:
    """Whether a recipient's first receipt is what later messages continue: a Jira
    ticket, or a Slack thread (bot token to a channel)."""
    return recipient.channel == "jira" or (recipient.channel == "slack" and bool(recipient.to))


async def send(provider: Any, delivery: Delivery, recipient: Recipient, journal: Journal,
               extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Deliver through the provider's transport; journal and return the message entry.

    A failed delivery raises (the caller decides whether that fails a step) and
    journals nothing: the caller records it with ``failed``.
    """
    receipt = await provider.deliver(delivery)
    entry = {**(extra or {}), **delivery.shown(), "text": delivery.text,
             "status": receipt.status, "receipt": receipt.id, "attempts": receipt.attempts,
             "thread_key": opens_thread(recipient)}
    journal(MESSAGE, entry)
    return entry


def failed(shown: Mapping[str, str], text: str, error: ActionError, journal: Journal,
           extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Journal a message that could not be delivered, with the reason and the fix."""
    entry = {**(extra or {}), **shown, "text": text, "status": "failed", "receipt": "",
             "error": error.message, "fix": error.fix or ""}
    journal(MESSAGE, entry)
    return entry
