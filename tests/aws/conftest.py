"""AWS test fixtures: the simulated account, a server-side request log, and contexts.

moto's state is global to the process, so a second WSGI server around moto's own
app (``logged``) serves the same simulated account as the sandbox while recording
every (service, operation) that reaches it. Tests point the provider at it to prove,
server-side, that a dry-run sent no mutating request.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from rescind.actions.base import ActionContext
from rescind.modes import Mode
from rescind.providers.aws import AwsProvider
from rescind.providers.aws_guard import is_read_operation
from rescind.providers.base import BlockedCall
from rescind.sandbox.aws import AwsSandbox, start_aws_sandbox

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "runbooks" / "scenarios"
LEAKED = SCENARIOS / "leaked-access-key.yaml"
LEAKED_KEY = "AKIAIOSFODNN7EXAMPLE"
SECOND_KEY = "AKIAI44QH8DHBEXAMPLE"
RESPONDER_KEY = "AKIARESPONDR9EXAMPLE"

_CREDENTIAL = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/(?P<service>[^/]+)/")
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass
class RequestLog:
    """Every request moto served through the logged server, as (service, operation)."""

    calls: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def clear(self) -> None:
        with self.lock:
            self.calls.clear()

    def operations(self) -> list[str]:
        with self.lock:
            return [f"{s}:{o}" for s, o in self.calls]

    def mutating(self) -> list[str]:
        with self.lock:
            return [f"{s}:{o}" for s, o in self.calls if not is_read_operation(s, o)]

    def wrap(self, app: WsgiApp) -> WsgiApp:
        def logged(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
            service = match.group("service") if match else "?"
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            if target:
                operation = target.rsplit(".", 1)[-1]
            else:
                form = parse_qs(body.decode("utf-8", "replace"))
                query = parse_qs(environ.get("QUERY_STRING", ""))
                operation = (form.get("Action") or query.get("Action") or ["?"])[0]
            if not environ.get("PATH_INFO", "").startswith("/moto-api"):
                with self.lock:
                    self.calls.append((service, operation))
            return app(environ, start_response)

        return logged


@pytest.fixture(scope="session")
def logged_server() -> Iterator[tuple[str, RequestLog]]:
    """A request-logging front door to moto (shares the simulated account's state)."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import ThreadedWSGIServer

    class Quiet(MotoRequestHandler):
        def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002
            """No access log in test output."""

    log = RequestLog()
    server = ThreadedWSGIServer("127.0.0.1", 0,
                                log.wrap(DomainDispatcherApplication(create_backend_app)),
                                handler=Quiet)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", log
    server.shutdown()
    server.server_close()


@pytest.fixture
def sandbox() -> Iterator[AwsSandbox]:
    """The leaked-access-key account, fresh for each test."""
    with start_aws_sandbox(LEAKED) as running:
        yield running


@pytest.fixture
def requests_log(logged_server: tuple[str, RequestLog]) -> RequestLog:
    log = logged_server[1]
    log.clear()
    return log


def make_provider(sandbox: AwsSandbox, endpoint: str | None = None, **kwargs: Any) -> AwsProvider:
    settings = sandbox.provider_settings()
    return AwsProvider(
        region=settings["region"], endpoint_url=endpoint or settings["endpoint_url"],
        cloudtrail_endpoint_url=settings["cloudtrail_endpoint_url"],
        credentials={"access_key_id": settings["access_key_id"],
                     "secret_access_key": settings["secret_access_key"]},
        incident_id="test-incident", **kwargs)


@pytest.fixture
def provider(sandbox: AwsSandbox, logged_server: tuple[str, RequestLog]
             ) -> Iterator[AwsProvider]:
    """The responder's provider, talking to the simulated account through the logged server."""
    made = make_provider(sandbox, logged_server[0])
    yield made
    made.close()


@dataclass
class Recorder:
    """The journal and blocked calls an action produced."""

    entries: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    blocked: list[BlockedCall] = field(default_factory=list)

    def journal(self, kind: str, data: dict[str, Any]) -> int:
        self.entries.append((kind, data))
        return len(self.entries)

    def targets(self, stage: str | None = None) -> list[dict[str, Any]]:
        return [d for k, d in self.entries if k == "action.target"
                and (stage is None or d["stage"] == stage)]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def make_ctx(tmp_path: Path, sandbox: AwsSandbox, provider: AwsProvider,
             recorder: Recorder) -> Callable[..., ActionContext]:
    """An ActionContext in the given mode; dry-run installs the provider's guard."""

    def build(mode: Mode = Mode.LIVE, **settings: Any) -> ActionContext:
        if mode is Mode.DRY_RUN:
            provider.install_dry_run_guard(recorder.blocked.append)
        return ActionContext(mode=mode, incident_dir=tmp_path, providers={"aws": provider},
                             journal=recorder.journal,
                             settings={"aws": {"break_glass": sandbox.break_glass, **settings}})

    return build


@pytest.fixture
def iam(sandbox: AwsSandbox) -> Any:
    """A plain boto3 IAM client straight to the simulated account, to read state back."""
    return sandbox.client("iam")


@pytest.fixture
def enforced_iam() -> Iterator[None]:
    """moto checks signatures and IAM policies for every request (it runs in this process)."""
    from moto.core.authorization import enable_iam_authentication

    with enable_iam_authentication():
        yield


READ_ONLY_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Resource": "*",
     "Action": ["iam:Get*", "iam:List*", "sts:GetCallerIdentity"]}]}


def read_only_provider(sandbox: AwsSandbox, user: str = "read-only-responder") -> AwsProvider:
    """A provider signed in as a new user that may only read: a responder missing rights."""
    import json

    iam = sandbox.client("iam")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="read",
                        PolicyDocument=json.dumps(READ_ONLY_POLICY))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return AwsProvider(endpoint_url=sandbox.endpoint_url, credentials={
        "access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]})
