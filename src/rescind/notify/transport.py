"""Where a delivery goes: the service (live), nowhere (dry-run), or the capture sink.

The provider holds exactly one transport. Installing the dry-run guard swaps it for
``Guarded``, which turns every delivery into a ``BlockedMessage`` ("would send ...")
without a byte on the network; exercise mode uses ``Capture``. Only ``Live`` imports
httpx and smtplib, so the other two cannot send even by mistake.
"""

from __future__ import annotations

import asyncio
import email.utils
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from rescind.errors import ActionError
from rescind.notify.channels import Delivery, HttpCall, MailCall
from rescind.providers.base import BlockedCall

_RETRY_AFTER_CAP = 30.0


@dataclass
class Receipt:
    status: str  # sent | would-send | captured
    id: str = ""
    attempts: int = 0


class BlockedMessage(BlockedCall):
    """A message the dry-run guard stopped; journaled as "would send ..."."""

    def describe(self) -> str:
        p = self.params
        return (f"would send {p.get('channel')} message to {p.get('target')} "
                f"({p.get('recipient')}): {p.get('subject')}")


class Transport(Protocol):
    async def deliver(self, delivery: Delivery) -> Receipt: ...


class Guarded:
    def __init__(self, on_blocked: Callable[[BlockedCall], None]) -> None:
        self.on_blocked = on_blocked

    async def deliver(self, delivery: Delivery) -> Receipt:
        self.on_blocked(BlockedMessage("notify", f"{delivery.channel}:send", delivery.shown()))
        return Receipt("would-send")


@dataclass
class Captured:
    """A message exercise mode delivered to the capture sink instead of the service."""

    recipient: str
    channel: str
    target: str
    subject: str
    text: str
    time: str


@dataclass
class CaptureSink:
    messages: list[Captured] = field(default_factory=list)


class Capture:
    def __init__(self, sink: CaptureSink) -> None:
        self.sink = sink

    async def deliver(self, delivery: Delivery) -> Receipt:
        self.sink.messages.append(Captured(**delivery.shown(), text=delivery.text,
                                           time=datetime.now(UTC).isoformat()))
        return Receipt("captured", f"captured-{len(self.sink.messages)}", 1)


def _kind(status: int) -> str:
    if status in (401, 403):
        return "permission"
    if status == 429:
        return "throttled"
    if status >= 500:
        return "network"
    return "config"


def _refused(body: bytes) -> bool:
    """Slack's Web API answers HTTP 200 with ``{"ok": false, "error": ...}``."""
    import json

    try:
        data = json.loads(body or b"null")
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("ok") is False


def _reason(body: bytes) -> str:
    """The service's own short error code (Slack ``error``, Jira ``errorMessages``)."""
    import json

    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    for key in ("error", "errorMessages", "errors", "message"):
        if data.get(key):
            text = str(data[key])
            return f" ({text[:120]})"
    return ""


class Live:
    """Sends for real, retrying 429 and 5xx with backoff (Retry-After when given)."""

    def __init__(self, *, retries: int = 4, backoff: float = 1.0, timeout: float = 15.0,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.retries, self.backoff, self.timeout, self.sleep = retries, backoff, timeout, sleep

    async def deliver(self, delivery: Delivery) -> Receipt:
        if isinstance(delivery.call, MailCall):
            return await self._mail(delivery, delivery.call)
        import httpx

        # A client per delivery: nothing to close when the session ends.
        async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as client:
            status, headers, body, attempts = await self._http(client, delivery, delivery.call)
            if delivery.channel == "slack" and _refused(body):
                raise ActionError(f"Slack refused the message to {delivery.recipient}"
                                  f"{_reason(body)}", kind="config", retryable=False,
                                  fix="check the channel name and that the bot is in it")
            receipt = delivery.receipt(status, headers, body)
            for follow in delivery.then(receipt) if delivery.then else []:
                await self._http(client, delivery, follow)
        return Receipt("sent", receipt, attempts)

    async def _http(self, client: Any, delivery: Delivery,
                    call: HttpCall) -> tuple[int, Mapping[str, str], bytes, int]:
        import httpx

        attempt = 0
        while True:
            attempt += 1
            try:
                response = await client.request(call.method, call.url, content=call.body,
                                                headers=call.headers)
            except httpx.HTTPError as exc:
                # Never str(exc): it can quote the URL, and webhook URLs are secrets.
                if attempt <= self.retries:
                    await self.sleep(self.backoff * 2 ** (attempt - 1))
                    continue
                raise ActionError(f"could not reach {delivery.channel} for "
                                  f"{delivery.recipient} ({type(exc).__name__})",
                                  kind="network", fix="check the network, then retry") from None
            status = response.status_code
            if (status == 429 or status >= 500) and attempt <= self.retries:
                await self.sleep(self._delay(response.headers.get("retry-after"), attempt))
                continue
            if status >= 400:
                raise ActionError(
                    f"{delivery.channel} answered HTTP {status} for {delivery.recipient}"
                    f"{_reason(response.content)}", kind=_kind(status),
                    fix="check the recipient's secret (`rescind notify add-secret NAME`)"
                    if status in (401, 403, 404) else "retry later")
            return status, response.headers, response.content, attempt

    def _delay(self, retry_after: str | None, attempt: int) -> float:
        if retry_after:
            try:
                return min(max(float(retry_after), 0.0), _RETRY_AFTER_CAP)
            except ValueError:
                when = email.utils.parsedate_to_datetime(retry_after)
                if when is not None:
                    wait = (when - datetime.now(UTC)).total_seconds()
                    return min(max(wait, 0.0), _RETRY_AFTER_CAP)
        return float(self.backoff * 2 ** (attempt - 1))

    async def _mail(self, delivery: Delivery, call: MailCall) -> Receipt:
        import smtplib

        attempt = 0
        while True:
            attempt += 1
            try:
                await asyncio.to_thread(_send_mail, call, self.timeout)
                return Receipt("sent", delivery.receipt(250, {}, b""), attempt)
            except smtplib.SMTPAuthenticationError:
                raise ActionError(f"the SMTP server refused the login for {delivery.recipient}",
                                  kind="permission", retryable=False,
                                  fix="check [notify.email] username and the password secret") \
                    from None
            except smtplib.SMTPRecipientsRefused:
                raise ActionError(f"the SMTP server refused the address {delivery.target}",
                                  kind="config", retryable=False,
                                  fix="correct the recipient's `to`") from None
            except smtplib.SMTPResponseException as exc:
                transient = 400 <= exc.smtp_code < 500
                if transient and attempt <= self.retries:
                    await self.sleep(self.backoff * 2 ** (attempt - 1))
                    continue
                raise ActionError(f"the SMTP server answered {exc.smtp_code} for "
                                  f"{delivery.recipient}", kind="network" if transient
                                  else "config", fix="check [notify.email]") from None
            except (OSError, smtplib.SMTPException) as exc:
                if attempt <= self.retries and not _is_tls_failure(exc):
                    await self.sleep(self.backoff * 2 ** (attempt - 1))
                    continue
                raise ActionError(f"could not send email to {delivery.target} "
                                  f"({type(exc).__name__})", kind="network",
                                  fix="check [notify.email] host, port and security (and "
                                      "ca_file for a private relay)") from None


def _is_tls_failure(exc: BaseException) -> bool:
    import ssl

    return isinstance(exc, ssl.SSLError)


def _send_mail(call: MailCall, timeout: float) -> None:
    """One SMTP session: STARTTLS on a plain connection, or TLS from the first byte."""
    import smtplib
    import ssl

    context = ssl.create_default_context(cafile=call.ca_file)
    server: smtplib.SMTP
    if call.security == "tls":
        server = smtplib.SMTP_SSL(call.host, call.port, timeout=timeout, context=context)
    else:
        server = smtplib.SMTP(call.host, call.port, timeout=timeout)
    with server:
        if call.security == "starttls":
            server.starttls(context=context)
        if call.username:
            server.login(call.username, call.password or "")
        server.send_message(call.message)
