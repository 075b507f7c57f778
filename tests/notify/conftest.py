"""Secrets, settings and peers for the notify tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.notify.peers import HttpPeer, SmtpPeer, http_peer, smtp_peer

HERE = Path(__file__).parent
DRILL = HERE / "drill.yaml"
# Canary secrets: each must appear only where its protocol carries it.
CANARY = {
    "slack-bot": "xoxb-canary-bot-1111",
    "teams-url": "/workflows/canary-teams-2222",
    "pd-key": "canary-pd-routing-3333",
    "smtp-pass": "canary-smtp-4444",
    "jira-token": "canary-jira-5555",
    "hook-key": "canary-hmac-6666",
    "slack-hook": "/services/T0/B0/canary-hook-7777",
}
IN_ENV = ("pd-key", "hook-key")  # the rest come from the (in-memory) keyring


@dataclass
class Peers:
    http: HttpPeer
    smtp: SmtpPeer

    def settings(self) -> dict[str, Any]:
        url = self.http.url
        recipients = {
            "sec-slack": {"channel": "slack", "to": "#security", "secret": "slack-bot"},
            "sec-hook": {"channel": "slack", "secret": "slack-hook"},
            "sec-teams": {"channel": "teams", "secret": "teams-url"},
            "sec-pager": {"channel": "pagerduty", "secret": "pd-key"},
            "sec-email": {"channel": "email", "to": "security@example.com"},
            "ir-jira": {"channel": "jira", "to": "IR"},
            "siem": {"channel": "webhook", "to": f"{url}/hook", "secret": "hook-key"},
        }
        high = ["sec-slack", "sec-hook", "sec-teams", "sec-email", "siem", "ir-jira"]
        return {"notify": {
            "recipients": recipients,
            "routes": {"security": {"high": high, "critical": [*high, "sec-pager"]},
                       "ticket": {"low": ["ir-jira"]}},
            "accounts": {"123456789012": {
                "name": "ci", "contact": "owner@example.com", "team": "platform",
                "escalation": "https://example.pagerduty.com/escalation_policies#P1"}},
            "slack": {"api_url": f"{url}/api"},
            "pagerduty": {"events_url": f"{url}/v2/enqueue"},
            "jira": {"url": f"{url}/jira", "user": "rescind@example.com",
                     "token_secret": "jira-token"},
            "email": {"host": self.smtp.host, "port": self.smtp.port, "security": "starttls",
                      "sender": "rescind@example.com", "username": "rescind@example.com",
                      "password_secret": "smtp-pass", "ca_file": self.smtp.ca_file},
            "backoff": 0,
        }}


def secret_value(name: str, url: str) -> str:
    value = CANARY[name]
    return url + value if value.startswith("/") else value


@pytest.fixture
def peers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Peers]:
    pytest.importorskip("aiosmtpd", reason="the dev extra's aiosmtpd is the SMTP peer")
    from rescind.notify.secrets import env_var, store_secret

    with http_peer() as http, smtp_peer(tmp_path, security="starttls",
                                        password=CANARY["smtp-pass"]) as smtp:
        for name in CANARY:
            value = secret_value(name, http.url)
            if name in IN_ENV:
                monkeypatch.setenv(env_var(name), value)
            else:
                store_secret(name, value)
        http.answer("/api/chat.postMessage",
                    (200, {"Content-Type": "application/json"},
                     b'{"ok":true,"channel":"C1","ts":"1700000000.000100"}'),
                    (200, {"Content-Type": "application/json"},
                     b'{"ok":true,"channel":"C1","ts":"1700000000.000200"}'))
        http.answer(CANARY["teams-url"], (202, {"x-ms-workflow-run-id": "run-1"}, b""))
        http.answer("/v2/enqueue", (202, {"Content-Type": "application/json"},
                                    b'{"status":"success","message":"Event processed"}'))
        http.answer("/jira/rest/api/2/issue", (201, {"Content-Type": "application/json"},
                                               b'{"id":"10001","key":"IR-7"}'))
        http.answer("/jira/rest/api/2/issue/IR-7/comment", (201, {}, b'{"id":"1"}'))
        http.answer("/jira/rest/api/2/issue/IR-7/attachments", (200, {}, b'[{"id":"2"}]'))
        http.answer("/hook", (200, {"x-request-id": "req-1"}, b"{}"))
        yield Peers(http, smtp)


@pytest.fixture(autouse=True)
def identity(_isolated_config: Path) -> None:
    from rescind.record.keys import init_key

    init_key("Jane Responder", "jane@example.com")
