"""The clouds the conformance suite holds to the contracts: AWS, Google Cloud, Vault,
Entra ID and Azure (tests/entra/cases.py), and the test-only tiny cloud.

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
    # Variables a responder's shell holds for live and dry-run: credentials a provider
    # reads only from its environment, never from rescind's settings.
    def environ(self) -> dict[str, str]: ...


def exactly(operation: str, declared: set[str]) -> bool:
    """An operation is covered when it is declared as it is (``iam:ListAccessKeys``)."""
    return operation in declared


@dataclass
class Case:
    name: str
    runbook: Path
    inputs: dict[str, str]
    docs: Path
    fake: Callable[[], AbstractContextManager[Fake]]
    # Steps a live run against the fake fails by design (and says why).
    live_failures: frozenset[str] = frozenset()
    # Whether the declared permissions cover one operation the fake saw; a cloud whose
    # permissions are patterns (Vault's policy paths) matches them its own way.
    covers: Callable[[str, set[str]], bool] = exactly


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

    def environ(self) -> dict[str, str]:
        return {}


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

    def environ(self) -> dict[str, str]:
        return {}


@contextmanager
def tiny_fake() -> Iterator[_TinyFake]:
    from tests.conformance.tinycloud import running_fake

    with running_fake() as fake:
        yield _TinyFake(fake)


VAULT_LEAKED = "leakedAccessorEXAMPLE001"


class _VaultFake:
    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox

    def table(self) -> dict[str, Any]:
        # Vault's rule: a live or dry-run token comes from VAULT_TOKEN, not from settings.
        return {k: v for k, v in self.sandbox.provider_settings().items() if k != "token"}

    def environ(self) -> dict[str, str]:
        return {"VAULT_TOKEN": str(self.sandbox.provider_settings()["token"])}

    def mutating(self) -> list[str]:
        from rescind.providers.vault_guard import is_read

        return [op for op in self.operations() if not is_read(*op.split(" ", 1))]

    def operations(self) -> list[str]:
        return [f"{s.cap} {s.path}" for s in self.sandbox.served]

    def changed(self) -> bool:
        return self.sandbox.state.by_accessor(VAULT_LEAKED) is None


@contextmanager
def vault_fake() -> Iterator[_VaultFake]:
    """The simulated Vault of the token-leak scenario; it records every request it serves."""
    from rescind.sandbox.vault import start_vault_sandbox

    with start_vault_sandbox(ROOT / "runbooks" / "scenarios" / "vault-token-leak.yaml") as vault:
        yield _VaultFake(vault)


def vault_covers(operation: str, declared: set[str]) -> bool:
    """Vault permissions are policy paths with globs: the policy matcher decides."""
    from rescind.providers.vault_policy import grants

    cap, _, path = operation.partition(" ")
    return grants(declared, cap, path)


class _GcpFake:
    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox

    def table(self) -> dict[str, Any]:
        return dict(self.sandbox.provider_settings())

    def environ(self) -> dict[str, str]:
        return {}

    def mutating(self) -> list[str]:
        return list(self.sandbox.mutating())

    def operations(self) -> list[str]:
        return list(self.sandbox.operations())

    def changed(self) -> bool:
        from tests.gcp.conftest import CONNECTOR

        return self.sandbox.state.accounts[CONNECTOR].disabled  # type: ignore[no-any-return]


@contextmanager
def gcp_fake() -> Iterator[_GcpFake]:
    from tests.gcp.conftest import running

    with running() as sandbox:
        yield _GcpFake(sandbox)


CASES = [
    Case("aws", ROOT / "runbooks" / "aws-access-key-compromise.yaml",
         {"access_key_id": LEAKED_KEY}, ROOT / "docs" / "aws.md", aws_fake,
         # moto has no rotation Lambda; live refuses to rotate without one (docs/aws.md).
         live_failures=frozenset({"rotate_secrets"})),
    Case("vault", ROOT / "runbooks" / "vault-token-leak.yaml", {"accessor": VAULT_LEAKED},
         ROOT / "docs" / "vault.md", vault_fake, covers=vault_covers),
    Case("gcp", ROOT / "runbooks" / "gcp-service-account-key-compromise.yaml",
         {"service_account": "tailpipe-connector@example-project.iam.gserviceaccount.com",
          "key_id": "1f3a0c9e5b7d2a4c6e8f0b1d3a5c7e9f0a2b4c6d"}, ROOT / "docs" / "gcp.md",
         gcp_fake),
    Case("tiny", HERE / "tiny-runbook.yaml", {"user": "mallory"}, HERE / "tiny.md", tiny_fake),
]


def _entra_cases() -> list[Case]:
    from tests.entra.cases import cases

    return cases()


CASES += _entra_cases()
