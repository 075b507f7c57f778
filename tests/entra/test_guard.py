"""The dry-run guards, proven at the fake servers: what arrived there, not what we claim."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from rescind.errors import ActionError
from rescind.providers.azure import AzureProvider
from rescind.providers.base import BlockedCall
from rescind.providers.entra import EntraProvider
from rescind.sandbox.arm import running_arm_fake
from rescind.sandbox.graph import running_graph_fake
from tests.entra.cases import ADELE, SCENARIOS


def _entra(fake: Any) -> EntraProvider:
    table = fake.provider_settings()
    return EntraProvider(graph_url=table["graph_url"], token=table["token"],
                         break_glass=["breakglass@example.com"])


async def test_batch_with_an_inner_patch_is_blocked_and_an_all_get_batch_passes() -> None:
    with running_graph_fake(SCENARIOS / "entra-phished-user.yaml") as fake:
        provider = _entra(fake)
        blocked: list[BlockedCall] = []
        provider.install_dry_run_guard(blocked.append)
        provider.graph()
        client = next(iter(provider._clients.values()))[2]
        auth = {"Authorization": f"Bearer {fake.provider_settings()['token']}"}
        patch = {"requests": [{"id": "1", "method": "GET", "url": f"/users/{ADELE}"},
                              {"id": "2", "method": "PATCH", "url": f"/users/{ADELE}",
                               "body": {"accountEnabled": False}}]}
        reply = await client.post(f"{provider.graph_url}/$batch", json=patch, headers=auth)
        # The PATCH is answered inside the batch as if sent; only the GET went on.
        assert [(r["id"], r["status"]) for r in reply.json()["responses"]] == [("1", 200),
                                                                               ("2", 204)]
        assert fake.requests() == [f"GET /v1.0/users/{ADELE}"]
        reads = {"requests": [{"id": "1", "method": "GET", "url": f"/users/{ADELE}"}]}
        reply = await client.post(f"{provider.graph_url}/$batch", json=reads, headers=auth)
        assert reply.json()["responses"][0]["status"] == 200
        assert fake.mutating() == []
        assert fake.users[ADELE]["accountEnabled"] is True
        assert [b.describe() for b in blocked] == [
            f'would call graph:PATCH /v1.0/users/{ADELE} {{"body": {{"accountEnabled": false}}, '
            f'"url": "/v1.0/users/{ADELE}"}}']
        await client.aclose()


async def test_a_blocked_write_is_reported_once_when_the_reads_batch_is_throttled() -> None:
    # The reads of a mixed batch go on alone; Graph answers that batch 429. Retrying it
    # must not send the blocked write through the guard (and into the journal) again.
    with running_graph_fake(SCENARIOS / "entra-phished-user.yaml") as fake:
        provider = _entra(fake)
        blocked: list[BlockedCall] = []
        provider.install_dry_run_guard(blocked.append)
        throttled = fake.script("POST", r"/v1\.0/\$batch", 429, "TooManyRequests",
                                "Too many requests", headers={"Retry-After": "0"})
        read, written = await asyncio.gather(
            provider.batched("GET", f"/users/{ADELE}", permission="User.Read.All",
                             resource=ADELE),
            provider.batched("PATCH", f"/users/{ADELE}", {"accountEnabled": False},
                             permission="User.EnableDisableAccount.All", resource=ADELE))
        assert len(throttled.seen) == 2  # the throttled batch, then the reads alone again
        assert read["id"] == ADELE and written is None
        assert fake.requests().count(f"GET /v1.0/users/{ADELE}") == 1
        assert not [r for r in fake.requests() if r.startswith("PATCH")]
        assert fake.users[ADELE]["accountEnabled"] is True
        assert [b.describe().split(" {")[0] for b in blocked] == [
            f"would call graph:PATCH /v1.0/users/{ADELE}"]
        provider.close()


async def test_password_in_a_blocked_call_is_redacted() -> None:
    from msgraph.generated.models.password_profile import PasswordProfile
    from msgraph.generated.models.user import User

    with running_graph_fake(SCENARIOS / "entra-phished-user.yaml") as fake:
        provider = _entra(fake)
        blocked: list[BlockedCall] = []
        provider.install_dry_run_guard(blocked.append)
        update = User(password_profile=PasswordProfile(password="Hunter2-not-for-logs!"))
        await provider.call(lambda g: g.users.by_user_id(ADELE).patch(update),
                            permission="x", resource="y")
        assert "Hunter2" not in blocked[0].describe()
        assert fake.mutating() == []


def test_arm_guard_blocks_the_auto_registration_post_after_a_409() -> None:
    with running_arm_fake(SCENARIOS / "azure-managed-identity.yaml") as fake:
        fake.unregistered.add("microsoft.managedidentity")
        table = fake.provider_settings()
        provider = AzureProvider(arm_url=table["arm_url"], subscriptions=table["subscriptions"],
                                 token=table["token"])
        blocked: list[BlockedCall] = []
        provider.install_dry_run_guard(blocked.append)
        with pytest.raises(ActionError) as caught:
            provider.call(lambda c: c.user_assigned_identities.get("rg-prod", "deploy-mi"),
                          "msi", table["subscriptions"][0], action="a", resource="r")
        assert caught.value.kind == "config"
        assert fake.mutating() == []  # the register POST never arrived
        assert [b.operation.split(" ")[0] for b in blocked] == ["arm:POST"]
        assert blocked[0].operation.endswith("/providers/Microsoft.ManagedIdentity/register")
        provider.close()


def test_a_token_is_never_sent_over_http_to_a_non_loopback_host() -> None:
    with running_arm_fake() as fake:
        table = fake.provider_settings()
        with pytest.raises(Exception, match="neither https nor a loopback"):
            AzureProvider(arm_url="http://example.com", token=table["token"])
        provider = AzureProvider(arm_url="http://example.com:9", token=table["token"],
                                 subscriptions=table["subscriptions"], check_url=False)
        with pytest.raises(ActionError, match="plain http"):
            provider.call(lambda c: c.user_assigned_identities.get("rg", "x"), "msi",
                          table["subscriptions"][0], action="a", resource="r")
        provider.close()


def test_guardrails_refuse_self_break_glass_and_too_many() -> None:
    from rescind.sandbox.graph_scenario import RESPONDER_ID

    with running_graph_fake() as fake:
        provider = _entra(fake)
        with pytest.raises(ActionError, match="rescind runs as"):
            provider.check_targets([(RESPONDER_ID, "responder@example.com")], what="user")
        with pytest.raises(ActionError, match="break-glass"):
            provider.check_targets([("x", "BreakGlass@example.com")], what="user")
        many = [(f"id-{n}", f"u{n}@example.com") for n in range(21)]
        with pytest.raises(ActionError, match="limit of 20"):
            provider.check_targets(many, what="user")
        provider.check_targets(many, what="user", limit=21)
