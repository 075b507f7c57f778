"""``via: log-analytics``: KQL over a loopback workspace fed by the Graph and ARM fakes gives
the same events as Graph and the Activity Log; partial answers split the window; the guard
lets queries through and nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from rescind.errors import UsageError
from rescind.providers.azure import AzureProvider
from rescind.providers.entra import EntraProvider
from rescind.sandbox.arm import ArmFake, start_arm_fake
from rescind.sandbox.graph import GraphFake, start_graph_fake
from rescind.sandbox.graph_scenario import Scenario
from rescind.sandbox.loganalytics import WORKSPACE_ID, LogAnalyticsFake, tenant_tables
from rescind.timeline.entra_records import convert_files
from rescind.timeline.entra_source import AzureActivitySource, EntraSource
from rescind.timeline.loganalytics import kql_string

USER = "b0000000-0000-4000-8000-000000000001"
SP = "c0000000-0000-4000-8000-000000000002"
OTHER = "b0000000-0000-4000-8000-000000000009"
CALLER = "mallory@example.com"
SCENARIO = Scenario.model_validate({
    "entra": {
        "users": [{"id": USER, "upn": "adele@example.com"},
                  {"id": OTHER, "upn": "other@example.com"}],
        "service_principals": [{"id": SP, "app_id": "d0000000-0000-4000-8000-000000000003",
                                "display_name": "deploy-app"}],
        "audit": [
            {"time": "-2h", "activity": "Add user", "by": {"user": USER}, "targets": [OTHER]},
            {"time": "-3h", "activity": "Reset password", "by": {"user": OTHER},
             "targets": [USER]},
            {"time": "-4h", "activity": "Add service principal credentials",
             "by": {"app": SP}, "targets": [SP]},
            {"time": "-5h", "activity": "Update user", "by": {"user": OTHER},
             "targets": [OTHER]}],
        "sign_ins": [{"time": "-1h", "user": USER, "error_code": 50126},
                     {"time": "-90m", "service_principal": SP},
                     {"time": "-30m", "user": OTHER}],
        "filler_sign_ins": 7},
    "azure": {"activity": [
        {"time": "-3h", "operation": "Microsoft.Storage/storageAccounts/listKeys/action",
         "caller": CALLER},
        {"time": "-2h", "operation": "Microsoft.Authorization/roleAssignments/write",
         "caller": CALLER, "status": "Failed"},
        {"time": "-1h", "operation": "Microsoft.Compute/virtualMachines/start/action",
         "caller": "someone@example.com"}]}})


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[GraphFake, ArmFake, LogAnalyticsFake]]:
    graph = start_graph_fake(SCENARIO, audit_limit=(1000, 1.0))
    arm = start_arm_fake(SCENARIO)
    workspace = LogAnalyticsFake(tenant_tables(graph, arm))
    workspace.start()
    try:
        yield graph, arm, workspace
    finally:
        for fake in (workspace, arm, graph):
            fake.stop()


@pytest.fixture
def entra(fakes: tuple[GraphFake, ArmFake, LogAnalyticsFake]) -> Iterator[EntraProvider]:
    graph, _, workspace = fakes
    table = graph.provider_settings()
    provider = EntraProvider(graph_url=table["graph_url"], token=table["token"],
                             **workspace.provider_settings())
    yield provider
    provider.close()


@pytest.fixture
def azure(fakes: tuple[GraphFake, ArmFake, LogAnalyticsFake]) -> Iterator[AzureProvider]:
    _, arm, workspace = fakes
    table = arm.provider_settings()
    provider = AzureProvider(arm_url=table["arm_url"], token=table["token"],
                             subscriptions=table["subscriptions"],
                             **workspace.provider_settings())
    yield provider
    provider.close()


def _window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(days=7), now + timedelta(minutes=1)


async def _pull(source: Any, provider: Any, lookup: dict[str, Any],
                evidence: Path | None = None) -> Any:
    since, until = _window()
    state = await source.resolve(provider, source.lookup_model(**lookup), None)
    return await source.pull(provider, state, regions=["global"], account=None, since=since,
                             until=until, progress=None, evidence_dir=evidence)


@pytest.mark.parametrize("lookup", [{"user": "adele@example.com"}, {"service_principal": SP}])
async def test_a_workspace_pull_gives_the_events_graph_gives(
        entra: EntraProvider, lookup: dict[str, str], tmp_path: Path) -> None:
    source = EntraSource()
    graph = await _pull(source, entra, lookup)
    workspace = await _pull(source, entra, {**lookup, "via": "log-analytics"}, tmp_path)
    assert len(graph.events) >= 2
    assert [e.uid for e in workspace.events] == [e.uid for e in graph.events]
    assert [(e.action, e.result) for e in workspace.events] == \
        [(e.action, e.result) for e in graph.events]
    # The evidence (raw rows) converts back to the same events.
    again = convert_files(workspace.raw_pages_paths)
    assert {e.uid for e in again.events} == {e.uid for e in graph.events}


async def test_a_workspace_pull_gives_the_activity_log_events(azure: AzureProvider) -> None:
    source = AzureActivitySource()
    api = await _pull(source, azure, {"caller": CALLER})
    workspace = await _pull(source, azure, {"caller": CALLER.upper(), "via": "log-analytics"})
    assert len(api.events) == 2  # Started and Succeeded folded into one per operation
    assert sorted(e.uid for e in workspace.events) == sorted(e.uid for e in api.events)
    assert {e.result for e in workspace.events} == {"success", "failure"}


async def test_a_cut_answer_halves_the_window_until_every_row_is_read(
        entra: EntraProvider, fakes: tuple[GraphFake, ArmFake, LogAnalyticsFake]) -> None:
    _, _, workspace = fakes
    source = EntraSource()
    expected = await _pull(source, entra, {"user": USER})
    sent = len(workspace.queries)
    workspace.max_rows = 7  # the user's 8 sign-ins and 2 audits do not fit one answer
    try:
        split = await _pull(source, entra, {"user": USER, "via": "log-analytics"})
    finally:
        workspace.max_rows = 500_000
    assert [e.uid for e in split.events] == [e.uid for e in expected.events]
    assert len(expected.events) > 7 and split.pages > 2
    assert len(workspace.queries) - sent > 2  # the windows were asked for again


async def test_the_plan_shows_the_rows_and_a_429_is_retried(
        entra: EntraProvider, fakes: tuple[GraphFake, ArmFake, LogAnalyticsFake]) -> None:
    _, _, workspace = fakes
    source = EntraSource()
    since, until = _window()
    state = await source.resolve(entra, source.lookup_model(user=USER, via="log-analytics"),
                                 None)
    workspace.throttle_next = 1
    cost = await source.estimate(entra, state, regions=["global"], since=since, until=until)
    assert workspace.throttle_next == 0 and workspace.throttled >= 1
    assert cost is not None and "SigninLogs 8" in cost and "AuditLogs 2" in cost
    assert "| count" in workspace.queries[-1]


async def test_the_guard_lets_queries_through_and_blocks_control_commands(
        entra: EntraProvider, fakes: tuple[GraphFake, ArmFake, LogAnalyticsFake]) -> None:
    _, _, workspace = fakes
    blocked: list[Any] = []
    entra.install_dry_run_guard(blocked.append)
    pulled = await _pull(EntraSource(), entra, {"user": USER, "via": "log-analytics"})
    assert pulled.events and not blocked
    client = entra.logs_client()
    sent = list(workspace.queries)
    with pytest.raises(Exception):  # noqa: B017  (the SDK reads the empty answer as it likes)
        client.query_workspace(workspace.workspace_id, ".set-or-append AuditLogs <| print 1",
                               timespan=None)
    assert workspace.queries == sent  # never reached the workspace
    assert [c.operation for c in blocked] == \
        [f"log-analytics:POST /v1/workspaces/{workspace.workspace_id}/query"]


async def test_values_are_string_literals_never_kql(
        azure: AzureProvider, fakes: tuple[GraphFake, ArmFake, LogAnalyticsFake]) -> None:
    _, _, workspace = fakes
    hostile = f'{CALLER}" or Caller != "'
    pulled = await _pull(AzureActivitySource(), azure, {"caller": hostile,
                                                        "via": "log-analytics"})
    assert pulled.events == []  # the whole text was one value: nobody is called that
    assert kql_string(hostile) in workspace.queries[-1]
    with pytest.raises(UsageError):
        kql_string("adele@example.com\n| take 1")


async def test_the_step_plan_shows_the_row_count_before_anything_runs(
        azure: AzureProvider, tmp_path: Path) -> None:
    from rescind.actions import registry
    from rescind.actions.base import ActionContext
    from rescind.modes import Mode

    cls = registry.get("timeline.pull")
    assert cls is not None
    action = cls()
    ctx = ActionContext(mode=Mode.LIVE, incident_dir=tmp_path, providers={"azure": azure},
                        journal=lambda kind, data: None, settings={"azure": {}})
    plan = await action.plan(ctx, action.parse_params(
        {"azure": {"caller": CALLER, "via": "log-analytics"}, "since": "-1d"}), "pull")
    # Started and Succeeded rows of the two operations: what the pull will read.
    assert plan.warnings[0].startswith("Log Analytics will return 4 rows (AzureActivity 4)")
    assert plan.state["cost"] == plan.warnings[0] and "(Log Analytics)" in plan.summary


def test_a_workspace_id_is_a_guid_or_refused() -> None:
    from pydantic import ValidationError

    from rescind.providers.entra_settings import EntraSettings

    assert EntraSettings.model_validate({"workspace_id": WORKSPACE_ID}).workspace_id
    # It names the evidence file and goes into the query's URL: a path is refused.
    for bad in ("../../etc/x", f"{WORKSPACE_ID}/../other"):
        with pytest.raises(ValidationError):
            EntraSettings.model_validate({"workspace_id": bad})
