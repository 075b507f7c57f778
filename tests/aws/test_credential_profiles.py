"""Dry-run with the profiles responders sign in with: SSO, a role over SSO, web identity.

botocore mints those credentials itself (GetRoleCredentials at the SSO portal,
AssumeRole, AssumeRoleWithWebIdentity), then again on each refresh. The dry-run guard
blocks the first and the last when rescind's own clients make them; the credentials
rescind runs with must still resolve, while every call rescind makes stays guarded.

The SSO portal is a loopback fake (moto does not serve it); STS is moto's.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from rescind.actions.aws_iam_keys import DeactivateAccessKey
from rescind.actions.base import ActionContext
from rescind.modes import Mode
from rescind.providers.aws import AwsProvider
from rescind.sandbox.aws import AwsSandbox
from tests.aws.conftest import LEAKED_KEY, Recorder, RequestLog

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
SSO_TOKEN = "example-sso-access-token"
SSO_KEY = "ASIAIOSFODNN7EXAMPLE"
CONFIG = f"""\
[profile responder]
sso_session = example
sso_account_id = {ACCOUNT}
sso_role_name = IncidentResponder
region = us-east-1

[sso-session example]
sso_start_url = https://example.awsapps.com/start
sso_region = us-east-1

[profile ir]
source_profile = responder
role_arn = arn:aws:iam::{ACCOUNT}:role/IncidentResponse
region = us-east-1

[profile ci]
role_arn = arn:aws:iam::{ACCOUNT}:role/IncidentResponse
web_identity_token_file = {{token_file}}
region = us-east-1
"""


@dataclass
class Portal:
    """A loopback SSO portal: GetRoleCredentials for the cached token, counted."""

    url: str = ""
    lifetime_s: int = 3600  # of the role credentials it hands out
    asked: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
def portal() -> Iterator[Portal]:
    served = Portal()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path != "/federation/credentials" or \
                    self.headers.get("x-amz-sso_bearer_token") != SSO_TOKEN:
                self._reply(401, {"message": "Session token not found or invalid"})
                return
            served.asked.append(query)
            expires_ms = int((time.time() + served.lifetime_s) * 1000)
            self._reply(200, {"roleCredentials": {
                "accessKeyId": SSO_KEY, "secretAccessKey": "example-sso-secret-key",
                "sessionToken": "example-sso-session-token", "expiration": expires_ms}})

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """No access log in test output."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    served.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield served
    server.shutdown()
    server.server_close()


@pytest.fixture
def home(tmp_path: Path, portal: Portal, sandbox: AwsSandbox,
         monkeypatch: pytest.MonkeyPatch) -> Path:
    """A responder's ~/.aws after `aws sso login`: the profiles and the cached SSO token.

    botocore finds the SSO portal and STS through AWS_ENDPOINT_URL_*: the portal is the
    fake, STS (for the profiles' own role calls) the simulated account's plain endpoint,
    so the logged server sees only the requests rescind's clients make.
    """
    token_file = tmp_path / "web-identity-token"
    token_file.write_text("example-web-identity-token")
    (tmp_path / ".aws").mkdir()
    config = tmp_path / ".aws" / "config"
    config.write_text(CONFIG.format(token_file=token_file))
    cache = tmp_path / ".aws" / "sso" / "cache"
    cache.mkdir(parents=True)
    # An sso-session's token is cached under the SHA-1 of the session's name.
    (cache / f"{hashlib.sha1(b'example').hexdigest()}.json").write_text(json.dumps({
        "startUrl": "https://example.awsapps.com/start", "region": "us-east-1",
        "accessToken": SSO_TOKEN, "expiresAt": "2099-01-01T00:00:00Z"}))
    for var, value in {"HOME": str(tmp_path), "AWS_CONFIG_FILE": str(config),
                       "AWS_ENDPOINT_URL_SSO": portal.url,
                       "AWS_ENDPOINT_URL_STS": sandbox.endpoint_url}.items():
        monkeypatch.setenv(var, value)
    # botocore reads ~ for this directory once, when it is imported (long before).
    from botocore.credentials import SSOProvider
    from botocore.tokens import SSOTokenProvider

    monkeypatch.setattr(SSOProvider, "_SSO_TOKEN_CACHE_DIR", str(cache))
    monkeypatch.setattr(SSOTokenProvider, "_SSO_TOKEN_CACHE_DIR", str(cache))
    return tmp_path


def test_config_check_says_ok_with_an_sso_profile(
        home: Path, portal: Portal, logged_server: tuple[str, RequestLog],
        tmp_path: Path) -> None:
    """The real command, in its own process: it guards every call, and found no
    credentials at all ("unexpected KeyError: 'roleCredentials'")."""
    settings = tmp_path / "rescind-config"
    settings.mkdir()
    (settings / "rescind.toml").write_text(
        f'[aws]\nprofile = "responder"\nendpoint_url = "{logged_server[0]}"\n')
    env = {**os.environ, "RESCIND_CONFIG_DIR": str(settings)}
    done = subprocess.run([sys.executable, "-m", "rescind", "config", "check"], cwd=ROOT,
                          capture_output=True, text=True, env=env, timeout=60)
    assert (done.returncode, done.stderr) == (0, ""), done.stdout
    assert f"  ok  account {ACCOUNT} (credential chain): " in done.stdout
    assert portal.asked == [{"account_id": ACCOUNT, "role_name": "IncidentResponder"}]


@pytest.mark.parametrize("profile", ["responder", "ir", "ci"])
async def test_a_dry_run_reads_and_blocks_with_the_profile(
        profile: str, home: Path, portal: Portal, sandbox: AwsSandbox,
        logged_server: tuple[str, RequestLog], requests_log: RequestLog,
        recorder: Recorder) -> None:
    """SSO, a role assumed over SSO, and web identity (whose AssumeRoleWithWebIdentity
    the guard blocks): the reads reach the account, the change is only journaled."""
    provider = AwsProvider(profile=profile, endpoint_url=logged_server[0],
                           incident_id="test-incident")
    provider.install_dry_run_guard(recorder.blocked.append)
    try:
        ctx = ActionContext(mode=Mode.DRY_RUN, incident_dir=home, providers={"aws": provider},
                            journal=recorder.journal,
                            settings={"aws": {"break_glass": sandbox.break_glass}})
        action = DeactivateAccessKey()
        plan = await action.plan(ctx, action.parse_params({"access_key_id": LEAKED_KEY}), "s")
        await action.apply(ctx, plan)
        caller = provider.caller_identity()
    finally:
        provider.close()
    assert caller.account == ACCOUNT
    assert [b.operation for b in recorder.blocked] == ["iam:UpdateAccessKey"]
    assert "sts:GetCallerIdentity" in requests_log.operations()
    assert requests_log.mutating() == [], requests_log.operations()
    assert len(portal.asked) == (0 if profile == "ci" else 1)


def test_sso_credentials_refresh_outside_the_guard(
        home: Path, portal: Portal, logged_server: tuple[str, RequestLog],
        requests_log: RequestLog, recorder: Recorder) -> None:
    """Role credentials that expire within botocore's refresh window are fetched again
    before each request, as late in a long incident. They are first resolved before
    the guard is on, so only the refreshes could meet it."""
    portal.lifetime_s = 300  # inside botocore's 10-minute window: every use refreshes
    provider = AwsProvider(profile="responder", endpoint_url=logged_server[0])
    try:
        provider.call("sts", "GetCallerIdentity")
        provider.install_dry_run_guard(recorder.blocked.append)
        for _ in range(2):
            provider.call("sts", "GetCallerIdentity")
    finally:
        provider.close()
    assert len(portal.asked) == 3
    assert recorder.blocked == []
    assert requests_log.operations() == ["sts:GetCallerIdentity"] * 3
