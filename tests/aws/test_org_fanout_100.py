"""The issue's simulated organisation at full size: one role's sessions revoked in
all 100 member accounts, each read back from the server (the cap across a fan-out is
tested on the small organisation in test_org_fanout.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rescind.providers.aws import AwsProvider
from rescind.sandbox.aws import AwsSandbox, start_aws_sandbox
from rescind.sandbox.aws_org import ORG_ROLE, Organisation, seed_organisation
from tests.aws.conftest import Recorder, make_provider
from tests.aws.test_org_fanout import ROLE, _action, _ctx, _policy

MEMBERS = 100


@pytest.fixture(scope="module")
def org() -> Iterator[tuple[AwsSandbox, Organisation]]:
    with start_aws_sandbox() as running:
        yield running, seed_organisation(running, MEMBERS, role=ROLE)


@pytest.fixture
def provider(org: tuple[AwsSandbox, Organisation]) -> Iterator[AwsProvider]:
    made = make_provider(org[0], org_role=ORG_ROLE)
    yield made
    made.close()


async def test_all_100_accounts_are_revoked_each_with_its_intent_and_outcome(
        org: tuple[AwsSandbox, Organisation], provider: AwsProvider, tmp_path: Path) -> None:
    sandbox, organisation = org
    recorder = Recorder()
    ctx = _ctx(provider, tmp_path, recorder, max_targets=MEMBERS)
    action = _action()
    plan = await action.plan(ctx, action.parse_params(
        {"role": ROLE, "accounts": ["organization"]}), "s")
    assert sorted(plan.outputs["accounts"]) == sorted(organisation.members)
    result = await action.apply(ctx, plan)
    cutoff = result.outputs["revoked_before"]
    for account in organisation.members:
        policy = _policy(sandbox, account)
        assert policy is not None, account
        assert policy["Statement"][0]["Condition"]["DateLessThan"][
            "aws:TokenIssueTime"] == cutoff
    intents = [d["account"] for d in recorder.targets("intent")]
    outcomes = [d["account"] for d in recorder.targets("outcome") if d["ok"]]
    assert sorted(intents) == sorted(outcomes) == sorted(organisation.members)
    assert (await action.verify(ctx, plan, result)).ok
