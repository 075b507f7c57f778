"""``via: log-analytics``: KQL over a loopback workspace fed by the Graph and ARM fakes gives
the same events as Graph and the Activity Log; partial answers split the window; the guard
lets queries through and nothing else."""

from __future__ import annotations

import json
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
from rescind.sandbox.loganalytics import (
    WORKSPACE_ID,
    LogAnalyticsFake,
    activity_row,
    signin_row,
    tenant_tables,
)
from rescind.timeline import loganalytics, spool
from rescind.timeline.entra_records import convert_files, group_activity, to_event
from rescind.timeline.entra_source import AzureActivitySource, EntraSource
from rescind.timeline.loganalytics import kql_string
from rescind.timeline.merge import SpooledEvents

USER = "b0000000-0000-4000-8000-000000000001"
SP = "c0000000-0000-4000-8000-000000000002"
OTHER = "b0000000-0000-4000-8000-000000000009"
CALLER = "mallory@example.com"
SUBSCRIPTION = "00000000-0000-4000-8000-0000000000aa"
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
    assert len(pulled.events) == 0  # the whole text was one value: nobody is called that
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


# -- streaming: a workspace of rows the test writes -------------------------------------------
TABLES = ("SigninLogs", "AADServicePrincipalSignInLogs", "AuditLogs", "AzureActivity")
ROWS: dict[str, list[dict[str, Any]]] = {}


@pytest.fixture(scope="module")
def written(fakes: tuple[GraphFake, ArmFake, LogAnalyticsFake]) -> Iterator[LogAnalyticsFake]:
    """A second workspace answering from ``ROWS`` (the Graph fake's token opens it)."""
    workspace = LogAnalyticsFake(lambda: ROWS)
    workspace.start()
    yield workspace
    workspace.stop()


@pytest.fixture
def logs(fakes: tuple[GraphFake, ArmFake, LogAnalyticsFake],
         written: LogAnalyticsFake) -> Iterator[Any]:
    table = fakes[0].provider_settings()
    provider = EntraProvider(graph_url=table["graph_url"], token=table["token"],
                             **written.provider_settings())
    ROWS.update({name: [] for name in TABLES})
    yield provider.logs_client()
    ROWS.clear()
    written.max_rows = 500_000
    provider.close()


def _sign_in(n: int, when: datetime, **changed: Any) -> dict[str, Any]:
    return signin_row({"id": f"e0000000-0000-4000-8000-{n:012d}", "userId": USER,
                       "createdDateTime": when.isoformat(), "ipAddress": "203.0.113.7",
                       "appDisplayName": "Azure Portal", "status": {"errorCode": 0},
                       **changed}, "tenant")[1]


def _operations(count: int, start: datetime) -> list[dict[str, Any]]:
    """``count`` operations of the caller, each Started then its outcome 30 s later (every
    third Failed), as the AzureActivity rows the diagnostic settings write."""
    rows = []
    for n in range(count):
        correlation = f"f0000000-0000-4000-8000-{n:012d}"
        for phase, status, late in (("Start", "Started", 0), ("End", "Failed" if n % 3 == 0
                                                             else "Succeeded", 30)):
            rows.append(activity_row({
                "eventTimestamp": (start + timedelta(seconds=97 * n + late)).isoformat(),
                "operationName": {"value": "Microsoft.Storage/storageAccounts/listKeys/action",
                                  "localizedValue": "List keys"},
                "caller": CALLER, "correlationId": correlation,
                "eventDataId": f"{correlation[:-4]}{phase[:1]}{n:03d}",
                "status": {"value": status}, "subscriptionId": SUBSCRIPTION}))
    return rows


def _spools(monkeypatch: pytest.MonkeyPatch) -> list[spool.Spool]:
    """Every spool the pull makes, with room for 10 events in memory each."""
    made: list[spool.Spool] = []

    class Watched(spool.Spool):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(spool, "RUN_SIZE", 10)
    monkeypatch.setattr(loganalytics, "Spool", Watched)
    return made


def test_a_large_pull_streams_through_a_bounded_spool(
        logs: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """300 sign-ins and 40 operations (80 rows) with room for 10 events: every row goes
    to a spool as its answer is read (never a list of the whole pull), and comes back
    whole, in time order, once each."""
    start = datetime.now(UTC) - timedelta(hours=5)
    ROWS["SigninLogs"] = [_sign_in(n, start + timedelta(seconds=n)) for n in range(300)]
    ROWS["AzureActivity"] = _operations(40, start)
    made = _spools(monkeypatch)
    since, until = _window()
    queries = (loganalytics.entra_queries("user", USER)
               + loganalytics.activity_queries(CALLER, SUBSCRIPTION))
    result = loganalytics.pull_workspace(logs, WORKSPACE_ID, queries, since=since,
                                         until=until, lookup=("principal", USER),
                                         evidence_dir=tmp_path)
    try:
        assert isinstance(result.events, SpooledEvents)
        held = result.events.merged.spool
        assert held.count == 340 and held.peak <= 10 and len(held.runs) >= 34
        assert len(made) == 2 and all(s.peak <= 10 for s in made)  # the fold's spool too
        events = list(result.events)
        assert len(events) == len({e.uid for e in events}) == 340
        assert [e.time for e in events] == sorted(e.time for e in events)
        lines = result.raw_pages_paths[0].read_text().splitlines()
        assert sum(len(json.loads(line)["rows"]) for line in lines) == 380
    finally:
        result.close()


def test_two_rows_with_one_id_that_differ_are_both_kept(logs: Any) -> None:
    when = datetime.now(UTC) - timedelta(hours=1)
    first = _sign_in(1, when)
    ROWS["SigninLogs"] = [first, _sign_in(1, when, ipAddress="198.51.100.9"), dict(first)]
    since, until = _window()
    result = loganalytics.pull_workspace(logs, WORKSPACE_ID,
                                         loganalytics.entra_queries("user", USER),
                                         since=since, until=until, lookup=("principal", USER))
    try:
        events = list(result.events)
        assert sorted(e.source_ip for e in events) == ["198.51.100.9", "203.0.113.7"]
        assert {e.uid for e in events} == {first["Id"]}
        assert result.duplicates == 1  # the identical copy, and only it
        assert isinstance(result.events, SpooledEvents)
        assert result.notes == ["1 shared ids: records with one id but different content, "
                                "all kept"]  # what the step's details and the CLI show
    finally:
        result.close()


def test_operations_fold_as_before_across_the_halves_of_a_cut_answer(
        logs: Any, written: LogAnalyticsFake, monkeypatch: pytest.MonkeyPatch) -> None:
    """16 operations in answers of at most 7 rows: one operation's Started and outcome
    come in different answers, and still fold into the one event the in-memory fold
    (``group_activity`` over every row) makes, through a spool with room for 10."""
    since = datetime.now(UTC) - timedelta(hours=3)
    until = since + timedelta(minutes=30)  # the 16 operations' half hour: few empty halves
    ROWS["AzureActivity"] = rows = _operations(16, since)
    written.max_rows = 7
    made = _spools(monkeypatch)
    sent = len(written.queries)
    result = loganalytics.pull_workspace(logs, WORKSPACE_ID,
                                         loganalytics.activity_queries(CALLER, SUBSCRIPTION),
                                         since=since, until=until, lookup=("caller", CALLER))
    try:
        expected, folded = group_activity([to_event(row) for row in rows])
        assert folded == 16 and len(written.queries) - sent > 6
        for event in expected:
            event.relevant = event.relevant or event.result == "failure"
        # (raw aside: the SDK gives the rows' times and dynamic columns its own types)
        assert [e.model_dump(exclude={"raw"}) for e in result.events] == \
            [e.model_dump(exclude={"raw"}) for e in sorted(expected, key=spool.sort_key)]
        assert all(s.peak <= 10 for s in made) and made[1].count == 32
    finally:
        result.close()


def test_a_row_answered_twice_is_one_operation_and_counted_as_a_copy(
        logs: Any, written: LogAnalyticsFake) -> None:
    """A row at the instant where a cut answer was halved comes back in both halves;
    folded twice, a one-row operation would read as one that started before it ended."""
    since = datetime.now(UTC) - timedelta(hours=3)
    (_, end) = _operations(1, since)
    ROWS["AzureActivity"] = [end, dict(end)]
    result = loganalytics.pull_workspace(logs, WORKSPACE_ID,
                                         loganalytics.activity_queries(CALLER, SUBSCRIPTION),
                                         since=since, until=since + timedelta(hours=1),
                                         lookup=("caller", CALLER))
    try:
        (event,) = list(result.events)
        assert "(started" not in event.description, event.description
        assert result.duplicates == 1
    finally:
        result.close()


# -- exercise mode ----------------------------------------------------------------------------
CONNECTOR = Path(__file__).parents[2] / "runbooks" / "scenarios" / "azure-connector-sp.yaml"
CONNECTOR_SP = "e0000000-0000-4000-8000-0000000000e1"


def test_an_exercise_pulls_via_log_analytics_from_the_scenarios_workspace(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Exercise mode serves a workspace beside the simulated tenant and subscription: the
    steps read the scenario's sign-ins, audits and Activity Log through KQL."""
    from rescind.cli import main
    from rescind.sandbox.graph_scenario import load_scenario

    runbook = tmp_path / "traced.yaml"
    pulls = {"signins": {"entra": {"service_principal": CONNECTOR_SP, "via": "log-analytics"}},
             "activity": {"azure": {"caller": CONNECTOR_SP, "via": "log-analytics"}}}
    runbook.write_text(json.dumps({
        "id": "traced", "title": "Connector traced in the workspace", "severity": "high",
        "clouds": ["entra", "azure"], "scenario": str(CONNECTOR),
        "phases": {"assess": [{"id": step, "name": step, "action": "timeline.pull",
                               "with": {**lookup, "since": "-7d"}}
                              for step, lookup in pulls.items()]}}))
    code = main(["run", str(runbook), "--mode", "exercise", "--auto-approve", "--no-tui",
                 "--out", str(tmp_path / "incidents")])
    assert code == 0, capsys.readouterr().err
    (folder,) = (tmp_path / "incidents").iterdir()
    outputs = {e["data"]["step"]: e["data"]["outputs"]
               for e in map(json.loads, (folder / "journal.jsonl").read_text().splitlines())
               if e["kind"] == "action.outcome"}
    scenario = load_scenario(CONNECTOR)
    mine = [s for s in scenario.entra.sign_ins if s.service_principal == CONNECTOR_SP]
    assert outputs["signins"]["events"] == len(mine) + len(scenario.entra.audit) == 3
    assert outputs["activity"]["events"] == len(scenario.azure.activity) == 1  # folded
    # The timeline holds the simulated tenant's and subscription's own records (their ids
    # are fixed by the scenario: a fresh start of its fakes holds the same).
    pulled = [json.loads(line) for line in (folder / "timeline.jsonl").read_text().splitlines()]
    graph, arm = start_graph_fake(CONNECTOR), start_arm_fake(CONNECTOR)
    try:
        expected = {r["id"] for r in graph.sign_ins if r.get("servicePrincipalId") == CONNECTOR_SP}
        expected |= {r["id"] for r in graph.audits}
        expected |= {r["eventDataId"] for r in arm.activity if r["status"]["value"] != "Started"}
    finally:
        graph.stop()
        arm.stop()
    assert {e["uid"] for e in pulled} == expected and len(pulled) == 4
