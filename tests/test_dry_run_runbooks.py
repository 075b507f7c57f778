"""Every shipped runbook runs to its end in dry-run against its simulated cloud(s).

The clouds are the sandboxes exercise mode starts, seeded from each runbook's own
scenario, but the session runs in dry-run: every step is approved, every mutating
call is stopped by the providers' guards. What is asserted is read from the servers'
own request logs (moto through a logging front door, the GCP, Graph, ARM and Vault
fakes' logs, a loopback peer for Slack and PagerDuty), not from our journal: zero
mutating requests arrived. Each step that would have changed something journaled
its blocked calls as ``dryrun.blocked`` ("would call ..."). A step refused because
an earlier blocked change never happened (delete a key still Active) fails the
test: the dry-run overlay must carry the earlier change into the later plan.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from rescind.engine.clouds import needed_providers
from rescind.engine.exercise import scenario_inputs, scenario_path
from rescind.engine.responder import (
    Approval,
    ApprovalRequest,
    ApprovalResponse,
    EngineEvent,
    FailureChoice,
    StepState,
)
from rescind.engine.session import IncidentSession, SessionConfig
from rescind.errors import ActionError
from rescind.modes import Mode
from rescind.notify.secrets import env_var
from rescind.providers import registry
from rescind.providers.vault_guard import is_read
from rescind.record.journal import read_entries
from rescind.runbook.loader import load_runbook
from tests.aws.conftest import RequestLog, logged_server  # noqa: F401  (the fixture)
from tests.aws.state import snapshot
from tests.notify.peers import HttpPeer, http_peer

ROOT = Path(__file__).resolve().parents[1]
RUNBOOKS = sorted((ROOT / "runbooks").glob("*.yaml"))

# The step whose precondition only an earlier, blocked change meets, and what its plan
# must say about it.
OVERLAID: dict[str, tuple[str, str]] = {
    "aws-access-key-compromise": (
        "delete_key", "AKIAIOSFODNN7EXAMPLE: Inactive after step deactivate, not applied in "
                      "this dry-run (its status still reads Active)"),
    "gcp-service-account-key-compromise": (
        "delete_keys", "disabled after step disable_keys, not applied in this dry-run "
                       "(its state still reads enabled)"),
}

# Steps that fail in a dry-run for a reason a live run against the same account would
# meet too: the scenario's secret has no rotation function (AWS cannot rotate it).
# Nothing here may be a refusal an earlier blocked change would have lifted.
EXPECTED_FAILURES: dict[str, dict[str, str]] = {
    "aws-access-key-compromise": {"rotate_secrets": "no rotation function"},
    "aws-role-session-compromise": {"rotate_secrets": "no rotation function"},
}


class Approver:
    """Approves every plan (typing a name where asked) and records the failures."""

    def __init__(self) -> None:
        self.failures: dict[str, ActionError] = {}

    async def acknowledge(self, step: StepState) -> str | None:
        return "done"

    async def answer(self, step: StepState, default: str | None, secret: bool) -> str:
        return default or "answer"

    async def approve(self, request: ApprovalRequest) -> ApprovalResponse:
        typed = request.expected_names[0] if request.policy is Approval.TYPE_NAME else None
        return ApprovalResponse(approved=True, typed=typed)

    async def on_failure(self, step: StepState, error: ActionError) -> FailureChoice:
        self.failures[step.id] = error
        return FailureChoice("skip", reason=f"test: {error.kind}")

    def event(self, event: EngineEvent) -> None:
        """Events are read back from the journal."""


def _mutating_requests(name: str, sandbox: Any, aws_log: RequestLog,
                       peer: HttpPeer) -> list[str]:
    """What reached the simulated cloud ``name`` and is not a read, from its own log."""
    if name == "aws":
        return aws_log.mutating()
    if name == "vault":
        return [f"{s.cap} {s.path}" for s in sandbox.served if not is_read(s.cap, s.path)]
    if name == "notify":
        return [f"{r.method} {r.path}" for r in peer.requests]
    mutating: Callable[[], list[str]] = sandbox.mutating  # GCP, Graph, ARM fakes
    return mutating()


def _dry_run_settings(name: str, sandbox: Any, aws_url: str, peer: HttpPeer,
                      monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The sandbox's settings table as a dry-run against a real account would set it."""
    table = dict(sandbox.provider_settings())
    if name == "aws":
        table["endpoint_url"] = aws_url  # the logging front door to the same moto state
    elif name == "vault":
        # Outside exercise mode a token comes from the environment, never the settings.
        monkeypatch.setenv("VAULT_TOKEN", table.pop("token"))
    elif name == "notify":
        # A team's configuration: each chat/pager recipient has its secret, and the
        # services' addresses are a loopback peer that must hear nothing.
        table.pop("capture")
        recipients = (table.get("scenario") or {}).get("recipients", {})
        table["recipients"] = {
            rid: {**r, "secret": f"{rid}-secret"} for rid, r in recipients.items()
            if r.get("channel") in ("slack", "pagerduty")}
        for recipient in table["recipients"].values():
            monkeypatch.setenv(env_var(recipient["secret"]),
                               "xoxb-dry-run-test" if recipient["channel"] == "slack"
                               else "R0UTINGKEY")
        table["slack"] = {"api_url": peer.url}
        table["pagerduty"] = {"events_url": f"{peer.url}/v2/enqueue"}
        # An SMTP client reaching the peer would hang on its greeting and fail the step.
        table["email"] = {"host": "127.0.0.1", "port": int(peer.url.rsplit(":", 1)[1])}
    return table


@pytest.fixture
def identity(_isolated_config: Path) -> None:
    from rescind.record.keys import init_key

    init_key("Jane Responder", "jane@example.com")


@pytest.fixture(scope="module")
def peer() -> Iterator[HttpPeer]:
    with http_peer() as running:
        yield running


@pytest.mark.parametrize("path", RUNBOOKS, ids=lambda p: p.stem)
async def test_every_runbook_reaches_its_end_in_dry_run(
        path: Path, tmp_path: Path, identity: None, peer: HttpPeer,
        request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    aws_url, aws_log = request.getfixturevalue("logged_server")
    runbook = load_runbook(path).runbook
    scenario = scenario_path(runbook, path)
    with ExitStack() as stack:
        sandboxes: dict[str, Any] = {}
        for name in sorted(needed_providers(runbook)):
            sandbox = registry.require(name).start_sandbox(scenario)
            assert sandbox is not None, name
            stack.callback(sandbox.stop)
            sandboxes[name] = sandbox
        settings = {name: _dry_run_settings(name, s, aws_url, peer, monkeypatch)
                    for name, s in sandboxes.items()}
        before = snapshot(sandboxes["aws"]) if "aws" in sandboxes else None
        aws_log.clear()
        peer.requests.clear()
        approver = Approver()
        config = SessionConfig(runbook=path, mode=Mode.DRY_RUN,
                               inputs=scenario_inputs(runbook, path),
                               out_dir=tmp_path / "incidents", settings=settings)
        session = await IncidentSession.start(config, approver)
        try:
            assert await session.run() == "completed"
        finally:
            session.shutdown()
        mutating = {name: _mutating_requests(name, s, aws_log, peer)
                    for name, s in sandboxes.items()}
        if before is not None:
            assert snapshot(sandboxes["aws"]) == before
    assert all(m == [] for m in mutating.values()), mutating
    failed = {step: error.message for step, error in approver.failures.items()}
    expected = EXPECTED_FAILURES.get(path.stem, {})
    assert set(failed) == set(expected), failed
    assert all(expected[step] in message for step, message in failed.items()), failed

    entries = list(read_entries(session.incident_dir / "journal.jsonl"))
    blocked = [e.data for e in entries if e.kind == "dryrun.blocked"]
    # A cloud call reads "would call <operation> <params>", a message "would send ...".
    assert all(b["text"].startswith((f"would call {b['operation']} ", "would send "))
               for b in blocked), [b["text"][:80] for b in blocked]
    plans = {e.data["step"]: e.data["plan"] for e in entries if e.kind == "action.plan"}
    done = {e.data["step"] for e in entries if e.kind == "step.done"}
    changing = {step for step, plan in plans.items()
                if plan["mutating"] and plan["changes"] and step in done}
    if path.stem in OVERLAID:
        step, note = OVERLAID[path.stem]
        assert any(note in w for w in plans[step]["warnings"]), plans[step]["warnings"]
    # Every step that would have changed something reached its calls, and each was
    # stopped and journaled; no call was blocked outside such a step.
    assert {b["step"] for b in blocked} == changing, (changing, blocked)
    # Each target call a step journaled as intended was blocked, not sent.
    intents = Counter(e.data["step"] for e in entries
                      if e.kind == "action.target" and e.data["stage"] == "intent")
    stopped = Counter(b["step"] for b in blocked)
    assert all(stopped[step] >= n for step, n in intents.items()), (intents, stopped)
