"""The clouds the conformance suite holds to the contracts: AWS and the test-only tiny cloud.

A new provider adds a Case here (its loopback fake, a runbook using its actions and
timeline source, its docs page) and must pass tests/conformance/test_contract.py.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tests.aws.conftest import LEAKED, LEAKED_KEY, ROOT, RequestLog

HERE = Path(__file__).parent


class Fake(Protocol):
    """A running loopback fake of one cloud, seen from the server side."""

    def table(self) -> dict[str, Any]: ...  # provider settings pointing at the fake
    def mutating(self) -> list[str]: ...  # mutating requests that reached it
    def operations(self) -> list[str]: ...  # every request, as service:Operation
    def changed(self) -> bool: ...  # read back: did the runbook's change land?


@dataclass
class Case:
    name: str
    runbook: Path
    inputs: dict[str, str]
    docs: Path
    fake: Callable[[], AbstractContextManager[Fake]]
    # Steps a live run against the fake fails by design (and says why).
    live_failures: frozenset[str] = frozenset()


class _AwsFake:
    def __init__(self, sandbox: Any, url: str, log: RequestLog) -> None:
        self.sandbox, self.url, self.log = sandbox, url, log

    def table(self) -> dict[str, Any]:
        return dict(self.sandbox.provider_settings()) | {"endpoint_url": self.url}

    def mutating(self) -> list[str]:
        return self.log.mutating()

    def operations(self) -> list[str]:
        return self.log.operations()

    def changed(self) -> bool:
        keys = self.sandbox.client("iam").list_access_keys(UserName="deploy-bot")
        status = {k["AccessKeyId"]: k["Status"] for k in keys["AccessKeyMetadata"]}
        # Deactivated, or deleted by the runbook's remediation.
        return status.get(LEAKED_KEY, "Deleted") in ("Inactive", "Deleted")


@contextmanager
def aws_fake() -> Iterator[_AwsFake]:
    """The simulated account, reached through a request-logging front door to moto."""
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import ThreadedWSGIServer

    from rescind.sandbox.aws import start_aws_sandbox

    class Quiet(MotoRequestHandler):
        def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002
            """No access log in test output."""

    log = RequestLog()
    server = ThreadedWSGIServer("127.0.0.1", 0,
                                log.wrap(DomainDispatcherApplication(create_backend_app)),
                                handler=Quiet)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with start_aws_sandbox(LEAKED) as sandbox:
            log.clear()
            yield _AwsFake(sandbox, f"http://127.0.0.1:{server.server_address[1]}", log)
    finally:
        server.shutdown()
        server.server_close()


class _TinyFake:
    def __init__(self, fake: Any) -> None:
        self.fake = fake

    def table(self) -> dict[str, Any]:
        return dict(self.fake.provider_settings())

    def mutating(self) -> list[str]:
        return list(self.fake.mutating())

    def operations(self) -> list[str]:
        return list(self.fake.operations())

    def changed(self) -> bool:
        return not self.fake.users["mallory"]["enabled"]


@contextmanager
def tiny_fake() -> Iterator[_TinyFake]:
    from tests.conformance.tinycloud import running_fake

    with running_fake() as fake:
        yield _TinyFake(fake)


CASES = [
    Case("aws", ROOT / "runbooks" / "aws-access-key-compromise.yaml",
         {"access_key_id": LEAKED_KEY}, ROOT / "docs" / "aws.md", aws_fake,
         # moto has no rotation Lambda; live refuses to rotate without one (docs/aws.md).
         live_failures=frozenset({"rotate_secrets"})),
    Case("tiny", HERE / "tiny-runbook.yaml", {"user": "mallory"}, HERE / "tiny.md", tiny_fake),
]


def _entra_cases() -> list[Case]:
    from tests.entra.cases import cases

    return cases()


CASES += _entra_cases()
