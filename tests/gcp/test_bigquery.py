"""``via: bigquery``: one query over the simulated project's log sink dataset gives the events
entries.list gives; the dry run's bytes are in the plan; the guard lets a SELECT through and
nothing else."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from google.cloud import bigquery

from rescind.errors import UsageError
from rescind.providers.gcp import GcpProvider
from rescind.sandbox.gcp import GcpSandbox, start_gcp_sandbox
from rescind.timeline import gcp_bigquery
from rescind.timeline.gcp_audit import convert_files
from rescind.timeline.gcp_source import GcpAuditSource
from tests.gcp.conftest import CONNECTOR, LEAKED, LEAKED_KEY, provider_for


@pytest.fixture(scope="module")
def sandbox() -> Iterator[GcpSandbox]:
    started = start_gcp_sandbox(LEAKED)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def provider(sandbox: GcpSandbox) -> Iterator[GcpProvider]:
    made = provider_for(sandbox, log_requests_per_minute=6000)
    yield made
    made.close()


def _window(days: float = 7) -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    return now - timedelta(days=days), now + timedelta(minutes=1)


async def _pull(provider: GcpProvider, lookup: dict[str, Any],
                evidence: Path | None = None) -> Any:
    source = GcpAuditSource()
    since, until = _window()
    state = await source.resolve(provider, source.lookup_model(**lookup), None)
    return await source.pull(provider, state, regions=["example-project"], account=None,
                             since=since, until=until, progress=None, evidence_dir=evidence)


@pytest.mark.parametrize("lookup", [{"principal_email": CONNECTOR}, {"key_id": LEAKED_KEY}])
async def test_a_sink_query_gives_the_events_entries_list_gives(
        provider: GcpProvider, sandbox: GcpSandbox, lookup: dict[str, str],
        tmp_path: Path) -> None:
    listed = await _pull(provider, lookup)
    queried = await _pull(provider, {**lookup, "via": "bigquery"}, tmp_path)
    assert len(listed.events) >= 3
    assert [e.uid for e in queried.events] == [e.uid for e in listed.events]
    assert [(e.action, e.description, e.relevant) for e in queried.events] == \
        [(e.action, e.description, e.relevant) for e in listed.events]
    # Who and which key only ever travelled as parameters.
    statement = _fake(sandbox).statements[-1]["query"]
    assert CONNECTOR not in statement and LEAKED_KEY not in statement and "@who" in statement
    # The evidence is in entries.list's shape: convert reads it back to the same events.
    again = convert_files(queried.raw_pages_paths)
    assert {e.uid for e in again.events} == {e.uid for e in listed.events}


def _fake(sandbox: GcpSandbox) -> Any:
    return next(s for s in sandbox._servers if hasattr(s, "bigquery")).bigquery


async def test_results_are_read_page_by_page(provider: GcpProvider, sandbox: GcpSandbox,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    expected = await _pull(provider, {"principal_email": CONNECTOR})
    monkeypatch.setattr(gcp_bigquery, "PAGE_SIZE", 2)
    before = len(sandbox.operations())
    paged = await _pull(provider, {"principal_email": CONNECTOR, "via": "bigquery"})
    assert [e.uid for e in paged.events] == [e.uid for e in expected.events]
    assert paged.pages == -(-len(expected.events) // 2) > 1
    # The pages after the first were asked for (getQueryResults with a pageToken).
    assert sandbox.operations()[before:].count("bigquery.jobs.get") >= paged.pages - 1


async def test_the_plan_shows_the_dry_runs_bytes(provider: GcpProvider,
                                                 sandbox: GcpSandbox) -> None:
    source = GcpAuditSource()
    state = await source.resolve(provider, source.lookup_model(principal_email=CONNECTOR,
                                                               via="bigquery"), None)
    scanned = []
    for days in (30, 0.01):
        since, until = _window(days)
        cost = await source.estimate(provider, state, regions=["example-project"],
                                     since=since, until=until)
        assert cost is not None and cost.startswith("BigQuery will scan ")
        assert _fake(sandbox).statements[-1]["dryRun"] is True
        scanned.append(int(re.search(r"\(([\d,]+) bytes, dry run\)", cost)
                           .group(1).replace(",", "")))  # type: ignore[union-attr]
    assert scanned[0] > scanned[1] > 0  # day partitions outside the window are not scanned
    assert await source.estimate(provider, {**state, "via": "logging"},
                                 regions=["example-project"], since=_window()[0],
                                 until=_window()[1]) is None


async def test_the_guard_lets_the_select_through_and_blocks_dml(
        provider: GcpProvider, sandbox: GcpSandbox) -> None:
    blocked: list[Any] = []
    provider.install_dry_run_guard(blocked.append)
    pulled = await _pull(provider, {"principal_email": CONNECTOR, "via": "bigquery"})
    assert pulled.events and not blocked
    client = provider.bigquery_client()
    table = f"`{provider.bigquery_dataset}.cloudaudit_googleapis_com_activity`"
    seen = len(_fake(sandbox).statements)
    # The SDK reads the guard's empty answers as it likes: only what reached the fake counts.
    for statement in (f"DELETE FROM {table} WHERE TRUE",
                      f"SELECT 1 FROM {table}; DROP TABLE {table}"):
        with contextlib.suppress(Exception):
            client.query_and_wait(statement)
    with contextlib.suppress(Exception):
        client.query(f"SELECT * FROM {table}", job_config=bigquery.QueryJobConfig(
            destination=f"{provider.bigquery_dataset}.copy")).result()
    assert len(_fake(sandbox).statements) == seen  # none of them reached the dataset
    assert {c.operation for c in blocked} == {"bigquery.jobs.query", "bigquery.jobs.insert"}
    assert all("DELETE" not in s["query"] for s in _fake(sandbox).statements)


def test_the_dataset_is_checked_before_it_becomes_sql() -> None:
    since, until = _window()
    with pytest.raises(UsageError):
        gcp_bigquery.build_query("p.d` WHERE TRUE --", ("principal", CONNECTOR),
                                 projects=["p"], since=since, until=until)


def test_the_cli_pulls_via_bigquery_and_prints_the_cost_first(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rescind.cli import main

    out = tmp_path / "t.csv"
    code = main(["timeline", "pull", "--gcp-principal", CONNECTOR, "--via", "bigquery",
                 "--exercise", str(LEAKED), "--since", "-7d", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert err.index("BigQuery will scan") < err.index("events (")
    assert "(BigQuery log sink)" in err and out.read_text().count("\n") > 3
    code = main(["timeline", "pull", "--gcp-principal", CONNECTOR, "--via", "athena",
                 "--exercise", str(LEAKED), "--out", str(out)])
    err = capsys.readouterr().err
    assert code != 0 and "--via athena is not an engine of this source" in err
    assert "--via logging or --via bigquery" in err


async def test_the_step_plan_runs_only_the_dry_run(provider: GcpProvider, sandbox: GcpSandbox,
                                                   tmp_path: Path) -> None:
    from rescind.actions import registry
    from rescind.actions.base import ActionContext
    from rescind.modes import Mode

    cls = registry.get("timeline.pull")
    assert cls is not None
    action = cls()
    ctx = ActionContext(mode=Mode.LIVE, incident_dir=tmp_path, providers={"gcp": provider},
                        journal=lambda kind, data: None, settings={"gcp": {}})
    seen = len(_fake(sandbox).statements)
    plan = await action.plan(ctx, action.parse_params(
        {"gcp": {"key_id": LEAKED_KEY, "via": "bigquery"}, "since": "-7d"}), "pull")
    assert plan.warnings[0].startswith("BigQuery will scan ")
    assert plan.state["cost"] == plan.warnings[0]
    assert [s["dryRun"] for s in _fake(sandbox).statements[seen:]] == [True]
