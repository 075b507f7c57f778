"""Users read and disabled in Graph ``$batch`` requests, against the Graph fake.

What is asserted is what the fake received and holds: the batches that reached it,
each request inside them, and every user's accountEnabled read back from its state.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rescind.actions import registry
from rescind.actions.base import ActionContext
from rescind.errors import ActionError
from rescind.modes import Mode
from rescind.providers.base import BlockedCall
from rescind.providers.entra import EntraProvider
from rescind.sandbox.graph import GraphFake, running_graph_fake
from rescind.sandbox.graph_scenario import Scenario

USERS = [f"d0000000-0000-4000-8000-{n:012d}" for n in range(25)]  # two batches of changes


@pytest.fixture(scope="module")
def fake() -> Iterator[GraphFake]:
    scenario = Scenario.model_validate({"entra": {"users": [
        {"id": uid, "upn": f"user{n:02d}@example.com"} for n, uid in enumerate(USERS)]}})
    with running_graph_fake(scenario) as served:
        yield served


@pytest.fixture
def batches(fake: GraphFake) -> Iterator[list[list[str]]]:
    """Each $batch that reached the fake, as its inner "METHOD url" lines; state reset."""
    with fake.lock:
        for uid in USERS:
            fake.users[uid]["accountEnabled"] = True
    fake.clear()
    seen: list[list[str]] = []
    dispatch = fake.dispatch

    def recording(method: str, path: str, query: dict[str, str], body: Any,
                  headers: dict[str, str]) -> Any:
        if path == "/v1.0/$batch":
            seen.append([f"{r['method']} {r['url'].split('?')[0]}" for r in body["requests"]])
        return dispatch(method, path, query, body, headers)

    fake.dispatch = recording  # type: ignore[method-assign]
    yield seen
    del fake.dispatch


def _context(fake: GraphFake, tmp_path: Path, mode: Mode = Mode.LIVE,
             ) -> tuple[ActionContext, list[tuple[str, dict[str, Any]]], EntraProvider]:
    table = fake.provider_settings()
    provider = EntraProvider(graph_url=table["graph_url"], token=table["token"])
    journal: list[tuple[str, dict[str, Any]]] = []
    ctx = ActionContext(mode=mode, incident_dir=tmp_path, providers={"entra": provider},
                        journal=lambda kind, data: journal.append((kind, data)) or 0)
    return ctx, journal, provider


def _disable() -> tuple[Any, Any]:
    action = registry.get("entra.user.disable")()  # type: ignore[misc]
    return action, action.parse_params({"users": USERS, "max_targets": len(USERS)})


def _outcomes(journal: list[tuple[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    return {d["target"]: d for kind, d in journal
            if kind == "action.target" and d["stage"] == "outcome"}


def _enabled(fake: GraphFake) -> set[str]:
    with fake.lock:
        return {uid for uid in USERS if fake.users[uid]["accountEnabled"]}


async def test_dry_run_of_a_batched_disable_sends_no_change(
        fake: GraphFake, batches: list[list[str]], tmp_path: Path) -> None:
    ctx, journal, provider = _context(fake, tmp_path, Mode.DRY_RUN)
    blocked: list[BlockedCall] = []
    provider.install_dry_run_guard(blocked.append)
    action, params = _disable()
    plan = await action.plan(ctx, params, "disable")
    await action.apply(ctx, plan)
    assert fake.mutating() == []  # not one PATCH reached the fake, inside a batch or not
    assert _enabled(fake) == set(USERS)
    assert sorted(b.describe().split(" {")[0] for b in blocked) == sorted(
        f"would call graph:PATCH /v1.0/users/{uid}" for uid in USERS)
    # The reads went in batches of at most 20, and no batch carried a PATCH to the fake.
    assert batches and all(len(b) <= 20 for b in batches)
    assert all(line.startswith("GET ") for b in batches for line in b)
    assert all(o["ok"] for o in _outcomes(journal).values())


async def test_404_and_403_in_a_batch_fail_those_users_and_the_rest_are_disabled(
        fake: GraphFake, batches: list[list[str]], tmp_path: Path) -> None:
    gone, forbidden = USERS[3], USERS[21]
    fake.script("PATCH", f"/v1.0/users/{gone}", 404, "Request_ResourceNotFound",
                f"Resource '{gone}' does not exist.")
    fake.script("PATCH", f"/v1.0/users/{forbidden}", 403, "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.")
    ctx, journal, _ = _context(fake, tmp_path)
    action, params = _disable()
    plan = await action.plan(ctx, params, "disable")
    with pytest.raises(ActionError) as caught:
        await action.apply(ctx, plan)
    assert "2 of 25 account disables failed" in caught.value.message
    outcomes = _outcomes(journal)
    assert (outcomes[gone]["ok"], outcomes[gone]["kind"]) == (False, "not-found")
    assert (outcomes[forbidden]["ok"], outcomes[forbidden]["kind"]) == (False, "permission")
    assert sum(o["ok"] for o in outcomes.values()) == 23
    assert _enabled(fake) == {gone, forbidden}  # read back: every other user is disabled
    patches = [b for b in batches if b[0].startswith("PATCH")]
    assert sorted(len(b) for b in patches) == [5, 20]
    verified = await action.verify(ctx, plan, None)
    assert not verified.ok
    assert verified.detail == ("user03@example.com: accountEnabled=True; "
                               "user21@example.com: accountEnabled=True")


async def test_429_inside_a_batch_is_sent_again_after_its_retry_after(
        fake: GraphFake, batches: list[list[str]], tmp_path: Path) -> None:
    slow = USERS[7]
    throttled = fake.script("PATCH", f"/v1.0/users/{slow}", 429, "TooManyRequests",
                            "Too many requests", headers={"Retry-After": "1"})
    ctx, journal, _ = _context(fake, tmp_path)
    action, params = _disable()
    plan = await action.plan(ctx, params, "disable")
    await action.apply(ctx, plan)
    assert _enabled(fake) == set()
    assert len(throttled.seen) == 2 and throttled.seen[1] - throttled.seen[0] >= 1.0
    assert [f"PATCH /users/{slow}"] in batches  # the retry rode in a batch of its own
    assert _outcomes(journal)[slow]["ok"] and len(_outcomes(journal)) == len(USERS)
    assert (await action.verify(ctx, plan, None)).ok


async def test_the_fake_answers_each_item_and_refuses_what_graph_refuses(
        fake: GraphFake, batches: list[list[str]]) -> None:
    table = fake.provider_settings()
    auth = {"Authorization": f"Bearer {table['token']}"}

    async with httpx.AsyncClient(base_url=table["graph_url"], headers=auth) as client:
        async def post(requests: list[dict[str, Any]]) -> httpx.Response:
            return await client.post("/$batch", json={"requests": requests})

        get = [{"id": str(n), "method": "GET", "url": f"/users/{USERS[n]}"} for n in range(21)]
        assert (await post(get)).status_code == 400  # more than 20
        assert (await post([*get[:2], get[1]])).status_code == 400  # a repeated id
        missing = {"id": "x", "method": "GET", "url": "/users/nobody@example.com"}
        bare = {"id": "p", "method": "PATCH", "url": f"/users/{USERS[0]}",
                "body": {"accountEnabled": False}}
        reply = await post([get[0], missing, bare])
    assert reply.status_code == 200
    assert [(r["id"], r["status"]) for r in reply.json()["responses"]] == [
        ("0", 200), ("x", 404), ("p", 400)]  # a write without Content-Type fails alone
    assert fake.mutating() == [] and _enabled(fake) == set(USERS)
