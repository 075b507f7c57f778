"""The live transport at the peers: email over TLS from the first byte, failures named."""

from __future__ import annotations

from pathlib import Path

import pytest

from rescind.errors import ActionError
from rescind.notify.channels import build
from rescind.notify.message import Message
from rescind.notify.settings import NotifySettings, Recipient
from rescind.notify.transport import Live
from tests.notify.peers import http_peer, smtp_peer

MESSAGE = Message("2026-01-01-x-abcdef", "high", "[high] subject", "Key leaked.",
                  "ANCHOR 2026-01-01-x-abcdef seq=3 sha256=" + "0" * 64 + " key=SHA256:" + "A" * 43)


async def test_email_over_implicit_tls(tmp_path: Path) -> None:
    pytest.importorskip("aiosmtpd", reason="the dev extra's aiosmtpd is the SMTP peer")
    with smtp_peer(tmp_path, security="tls", password="pw-1") as smtp:
        settings = NotifySettings.model_validate({"email": {
            "host": smtp.host, "port": smtp.port, "security": "tls",
            "sender": "rescind@example.com", "username": "rescind@example.com",
            "password_secret": "smtp", "ca_file": smtp.ca_file}})
        delivery = build("sec", Recipient(channel="email", to="security@example.com"),
                         MESSAGE, settings, secret="pw-1")
        receipt = await Live(backoff=0).deliver(delivery)
        (envelope, mail, tls), = smtp.received
        assert tls and envelope.rcpt_tos == ["security@example.com"]
        assert receipt.status == "sent" and receipt.id == mail["Message-ID"].strip()
        assert mail.get_body(("plain",)).get_content().rstrip().endswith(MESSAGE.anchor)


async def test_email_to_an_untrusted_certificate_fails_without_retrying(tmp_path: Path) -> None:
    pytest.importorskip("aiosmtpd", reason="the dev extra's aiosmtpd is the SMTP peer")
    with smtp_peer(tmp_path, security="starttls", password="pw") as smtp:
        settings = NotifySettings.model_validate({"email": {"host": smtp.host,
                                                            "port": smtp.port}})
        delivery = build("sec", Recipient(channel="email", to="security@example.com"),
                         MESSAGE, settings, secret=None)
        with pytest.raises(ActionError) as caught:
            await Live(backoff=0, retries=3).deliver(delivery)
        assert caught.value.kind == "network" and "ca_file" in str(caught.value.fix)
        assert smtp.received == []


async def test_a_refused_credential_is_a_permission_error_that_never_quotes_the_url() -> None:
    with http_peer() as http:
        http.answer("/workflows/secret-path", (401, {}, b'{"error":"invalid signature"}'))
        delivery = build("teams", Recipient(channel="teams", secret="t"), MESSAGE,
                         NotifySettings(), secret=f"{http.url}/workflows/secret-path")
        with pytest.raises(ActionError) as caught:
            await Live(backoff=0).deliver(delivery)
        assert caught.value.kind == "permission"
        assert "secret-path" not in str(caught.value) and len(http.requests) == 1


async def test_throttling_that_never_ends_is_a_throttled_failure_after_the_retries() -> None:
    with http_peer() as http:
        http.answer("/v2/enqueue", (429, {"Retry-After": "0"}, b"{}"))
        settings = NotifySettings.model_validate(
            {"pagerduty": {"events_url": f"{http.url}/v2/enqueue"}})
        delivery = build("pd", Recipient(channel="pagerduty", secret="k"), MESSAGE, settings,
                         secret="routing-key")
        with pytest.raises(ActionError) as caught:
            await Live(backoff=0, retries=2).deliver(delivery)
        assert caught.value.kind == "throttled" and len(http.requests) == 3
