"""timeline.pull from the fake CloudTrail, then find_persistence on what it pulled."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rescind.actions import registry
from rescind.actions.base import Action, ActionContext, Plan, Result
from rescind.errors import ActionError
from rescind.modes import Mode
from rescind.sandbox.aws import AwsSandbox
from rescind.timeline.event import Event
from tests.aws.conftest import LEAKED_KEY, Recorder, RequestLog

BACKDOOR_KEY = "AKIABACKUPAD1EXAMPLE"


def _action(name: str) -> Action[Any]:
    cls = registry.get(name)
    assert cls is not None
    return cls()


async def _run(ctx: ActionContext, name: str, params: dict[str, Any]) -> tuple[Plan, Result]:
    action = _action(name)
    plan = await action.plan(ctx, action.parse_params(params), name.rsplit(".", 1)[-1])
    return plan, await action.apply(ctx, plan)


@pytest.fixture
def incident(tmp_path: Path) -> Path:
    (tmp_path / "journal.jsonl").touch()  # the timeline package adds only to incident folders
    return tmp_path


@pytest.fixture
def ctx(sandbox: AwsSandbox, make_ctx: Callable[..., ActionContext], incident: Path,
        request: pytest.FixtureRequest) -> ActionContext:
    mode = getattr(request, "param", Mode.EXERCISE)
    context = make_ctx(mode, regions=sandbox.regions)
    assert context.incident_dir == incident
    return context


async def test_pull_writes_the_timeline_and_the_raw_pages(ctx: ActionContext,
                                                          incident: Path) -> None:
    progress: list[tuple[int, int, str]] = []
    ctx.progress = lambda done, total, msg: progress.append((done, total, msg))
    plan, result = await _run(ctx, "timeline.pull",
                              {"aws": {"access_key_id": LEAKED_KEY}, "since": "-7d"})
    assert plan.state["regions"] == ["us-east-1", "eu-west-1"]
    assert not plan.mutating
    out = result.outputs
    events = [Event.model_validate_json(line)
              for line in (incident / "timeline.jsonl").read_text().splitlines()]
    assert out["path"] == str(incident / "timeline.jsonl")
    assert out["events"] == out["new_events"] == len(events) > 0
    assert {e.credential for e in events} == {LEAKED_KEY}
    names = [e.action for e in events]
    assert "CreateUser" in names and "DescribeInstances" in names  # both regions
    assert "GetCallerIdentity" in names
    assert out["relevant"] >= 1
    assert out["evidence"] and all((incident / p).is_file() for p in out["evidence"])
    assert progress and progress[-1][0] == progress[-1][1] == 2
    # Pulling again adds nothing new.
    _, again = await _run(ctx, "timeline.pull", {"aws": {"access_key_id": LEAKED_KEY}})
    assert again.outputs["new_events"] == 0


@pytest.mark.parametrize("ctx", [Mode.DRY_RUN], indirect=True)
async def test_pull_in_dry_run(ctx: ActionContext, recorder: Recorder,
                               requests_log: RequestLog) -> None:
    _, result = await _run(ctx, "timeline.pull", {"aws": {"user": "deploy-bot"}})
    assert result.outputs["events"] > 0
    assert recorder.blocked == []


async def test_bad_window_is_refused(ctx: ActionContext) -> None:
    with pytest.raises(ActionError, match="after it ends"):
        await _run(ctx, "timeline.pull", {"aws": {"user": "deploy-bot"}, "since": "-1d",
                                          "until": "-2d"})


async def test_find_persistence_follows_what_the_key_created(ctx: ActionContext) -> None:
    _, pulled = await _run(ctx, "timeline.pull", {"aws": {"access_key_id": LEAKED_KEY}})
    plan, found = await _run(ctx, "aws.iam.find_persistence",
                             {"timeline": pulled.outputs["path"], "access_key_id": LEAKED_KEY})
    out = found.outputs
    assert out["users"] == ["backup-admin"]
    assert out["access_key_ids"] == [BACKDOOR_KEY]
    assert out["login_profiles"] == ["backup-admin"]
    assert set(out["policies"]) == {"backup-admin:maintenance",
                                    "arn:aws:iam::aws:policy/AdministratorAccess"}
    kinds = [f["kind"] for f in out["findings"]]
    assert kinds == ["user", "access_key", "inline_policy", "attached_policy", "login_profile"]
    key = next(f for f in out["findings"] if f["kind"] == "access_key")
    assert key["status"] == "Active" and key["source_ip"] == "203.0.113.50"
    assert out["count"] == 5
    assert any("still exists" in w for w in plan.warnings)
    assert "Only IAM persistence" in plan.warnings[-1]


async def test_find_persistence_reports_current_state(ctx: ActionContext, iam: Any) -> None:
    await _run(ctx, "timeline.pull", {"aws": {"access_key_id": LEAKED_KEY}})
    iam.delete_access_key(UserName="backup-admin", AccessKeyId=BACKDOOR_KEY)
    iam.delete_login_profile(UserName="backup-admin")
    _, found = await _run(ctx, "aws.iam.find_persistence", {})  # the incident's timeline.jsonl
    out = found.outputs
    assert out["access_key_ids"] == [] and out["login_profiles"] == []
    assert out["users"] == ["backup-admin"]
    key = next(f for f in out["findings"] if f["kind"] == "access_key")
    assert key["exists"] is False and key["status"] == "deleted"


async def test_find_persistence_needs_a_timeline(ctx: ActionContext) -> None:
    with pytest.raises(ActionError) as err:
        await _run(ctx, "aws.iam.find_persistence", {})
    assert err.value.kind == "not-found" and "timeline.pull" in (err.value.fix or "")


async def test_find_persistence_reads_lookup_events_shapes(ctx: ActionContext,
                                                           incident: Path) -> None:
    """Events whose raw record is LookupEvents' entry (CloudTrailEvent as a string) work too."""
    record = {"eventName": "CreateAccessKey", "eventSource": "iam.amazonaws.com",
              "eventTime": "2026-01-01T00:00:00Z", "eventID": "e1",
              "userIdentity": {"type": "IAMUser", "accessKeyId": LEAKED_KEY},
              "requestParameters": {"userName": "deploy-bot"},
              "responseElements": {"accessKey": {"accessKeyId": "AKIAI44QH8DHBEXAMPLE",
                                                 "userName": "deploy-bot"}}}
    event = Event(uid="e1", time="2026-01-01T00:00:00Z", source="cloudtrail", cloud="aws",
                  action="CreateAccessKey", credential=LEAKED_KEY,
                  raw={"EventId": "e1", "CloudTrailEvent": json.dumps(record)})
    path = incident / "other.jsonl"
    path.write_text(event.model_dump_json() + "\n")
    _, found = await _run(ctx, "aws.iam.find_persistence",
                          {"timeline": "other.jsonl", "access_key_id": LEAKED_KEY})
    assert found.outputs["access_key_ids"] == ["AKIAI44QH8DHBEXAMPLE"]
