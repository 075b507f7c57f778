"""One role's sessions revoked in every account of a simulated organisation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rescind.actions import registry
from rescind.actions.base import Action, ActionContext
from rescind.errors import ActionError
from rescind.modes import Mode
from rescind.providers.aws import AwsProvider
from rescind.sandbox.aws import AwsSandbox, start_aws_sandbox
from rescind.sandbox.aws_org import ORG_ROLE, Organisation, member_client, seed_organisation
from tests.aws.conftest import Recorder, make_provider

ROLE = "vendor-deploy"


@pytest.fixture(scope="module")
def org() -> Iterator[tuple[AwsSandbox, Organisation]]:
    with start_aws_sandbox() as running:
        yield running, seed_organisation(running, 6, role=ROLE, role_in=4)


@pytest.fixture
def provider(org: tuple[AwsSandbox, Organisation]) -> Iterator[AwsProvider]:
    made = make_provider(org[0], org_role=ORG_ROLE)
    yield made
    made.close()


def _action() -> Action[Any]:
    cls = registry.get("aws.org.revoke_role_sessions")
    assert cls is not None
    return cls()


def _ctx(provider: AwsProvider, tmp_path: Path, recorder: Recorder, **aws: Any) -> ActionContext:
    return ActionContext(mode=Mode.LIVE, incident_dir=tmp_path, providers={"aws": provider},
                         journal=recorder.journal, settings={"aws": aws})


def _policy(sandbox: AwsSandbox, account: str) -> dict[str, Any] | None:
    iam = member_client(sandbox, account)
    try:
        doc = iam.get_role_policy(RoleName=ROLE,
                                  PolicyName="AWSRevokeOlderSessions")["PolicyDocument"]
    except iam.exceptions.NoSuchEntityException:
        return None
    return doc if isinstance(doc, dict) else json.loads(doc)  # type: ignore[no-any-return]


async def test_every_account_with_the_role_is_revoked_and_journaled(
        org: tuple[AwsSandbox, Organisation], provider: AwsProvider, tmp_path: Path) -> None:
    sandbox, organisation = org
    recorder = Recorder()
    ctx = _ctx(provider, tmp_path, recorder)
    action = _action()
    plan = await action.plan(ctx, action.parse_params({"role": ROLE,
                                                       "accounts": ["organization"]}), "s")
    with_role = organisation.members[:4]
    assert sorted(plan.outputs["accounts"]) == sorted(with_role)
    # The management account and two members have no such role.
    assert set(plan.state["absent"]) == {*organisation.members[4:], organisation.management}
    result = await action.apply(ctx, plan)
    for account in organisation.members:
        policy = _policy(sandbox, account)
        if account in with_role:
            assert policy is not None and policy["Statement"][0]["Condition"]["DateLessThan"][
                "aws:TokenIssueTime"] == result.outputs["revoked_before"]
        else:
            assert policy is None
    intents = {d["account"] for d in recorder.targets("intent")}
    outcomes = {d["account"] for d in recorder.targets("outcome") if d["ok"]}
    assert intents == outcomes == set(with_role)
    assert (await action.verify(ctx, plan, result)).ok
    await action.undo(ctx, plan, result)
    assert all(_policy(sandbox, a) is None for a in with_role)


async def test_the_target_cap_counts_the_whole_fan_out(
        org: tuple[AwsSandbox, Organisation], provider: AwsProvider, tmp_path: Path) -> None:
    organisation = org[1]
    action = _action()
    ctx = _ctx(provider, tmp_path, Recorder(), max_targets=3)
    with pytest.raises(ActionError) as caught:
        await action.plan(ctx, action.parse_params(
            {"role": ROLE, "accounts": organisation.members}), "s")
    assert "4" in caught.value.message


async def test_a_fan_out_makes_no_client_per_account(
        org: tuple[AwsSandbox, Organisation], provider: AwsProvider, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.session

    made: list[str] = []
    create = botocore.session.Session.create_client

    def counting(self: Any, service: str, *args: Any, **kwargs: Any) -> Any:
        made.append(service)
        return create(self, service, *args, **kwargs)

    monkeypatch.setattr(botocore.session.Session, "create_client", counting)
    action = _action()
    plan = await action.plan(_ctx(provider, tmp_path, Recorder()), action.parse_params(
        {"role": ROLE, "accounts": ["organization"]}), "s")
    # 7 accounts read (each as itself: GetCallerIdentity there is checked) with one
    # client per service: the management account's own IAM, Organizations and STS, and
    # one IAM and one STS shared by the six assumed accounts (a client is 20-40 ms of CPU).
    assert len(plan.state["targets"]) == 4
    assert sorted(made) == ["iam", "iam", "organizations", "sts", "sts"]
