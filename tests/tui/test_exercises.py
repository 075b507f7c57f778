"""The shipped exercise runbooks, run through the app against the simulated cloud."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from rescind.engine.responder import Approval
from rescind.engine.session import SessionConfig
from rescind.modes import Mode
from rescind.record.verify import verify_incident
from rescind.tui.app import RescindApp
from rescind.tui.screens.incident import IncidentScreen
from tests.tui.conftest import kinds, text_of, wait_for

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"


async def _tab_to(pilot: Pilot[Any], widget_id: str) -> None:
    for _ in range(8):
        if pilot.app.focused is not None and pilot.app.focused.id == widget_id:
            return
        await pilot.press("tab")
    raise AssertionError(f"Tab never reached #{widget_id}")


async def respond_until_sealed(pilot: Pilot[Any], log: list[str],
                               shown: list[str] | None = None,
                               failures: dict[str, str] | None = None) -> Any:
    """Answer every dialog the way a responder following the screens would.

    A dialog is answered once the focus is in it (Textual focuses after mounting: keys
    pressed before that go nowhere). Secrets shown once are appended to ``shown``.
    A step named in ``failures`` that fails is retried (``"retry"``) or skipped with
    that text as the reason; any other failure fails the test."""
    app = pilot.app
    handled: set[int] = set()

    def next_dialog() -> bool:
        screen = app.screen
        return (id(screen) not in handled and type(screen).__name__ in (
            "ApprovalModal", "AcknowledgeModal", "AnswerModal", "FailureModal",
            "ConfirmModal", "SecretModal") and app.focused is not None
            and app.focused.screen is screen) or type(screen).__name__ == "RecordScreen"

    while True:
        await wait_for(pilot, next_dialog, "the next dialog", timeout=60)
        screen = app.screen
        name = type(screen).__name__
        handled.add(id(screen))
        if name == "RecordScreen":
            return screen
        log.append(f"{name}:{getattr(getattr(screen, 'step', None), 'id', '')}")
        if name == "FailureModal":
            choice = (failures or {}).get(screen.step.id)
            if choice is None:
                raise AssertionError(f"step {screen.step.id} failed: {screen.error}")
            log[-1] += f":{screen.error.message}"
            if choice == "retry":
                await _tab_to(pilot, "retry")
                await pilot.press("enter")
            else:
                screen.query_one("#reason", Input).value = choice
                await _tab_to(pilot, "skip")
                await pilot.press("enter")
        if name == "ApprovalModal":
            log[-1] = f"{name}:{screen.request.step.id}:{screen.policy.value}"
            if screen.policy is Approval.TYPE_NAME:
                assert pilot.app.focused.id == "typed", "the name field has the focus"
                await pilot.press(*screen.request.expected_names[0], "enter")
            else:
                assert screen.policy is Approval.CONFIRM, screen.policy
                await _tab_to(pilot, "approve")
                await pilot.press("enter")
        elif name == "AcknowledgeModal":
            await pilot.press("enter")  # one key: Done has the focus
        elif name == "AnswerModal":
            if not screen.default:
                await pilot.press(*"the deploy bucket")
            await pilot.press("enter")
        elif name == "ConfirmModal":
            await pilot.press("enter")  # "Close incident"
        elif name == "SecretModal":
            if shown is not None:
                shown.append(text_of(screen.query_one("#secret-value")).strip())
            await _tab_to(pilot, "done")
            await pilot.press("enter")


@pytest.mark.slow
async def test_example_tabletop_through_the_app(identity: None, workdir: Path) -> None:
    config = SessionConfig(runbook=RUNBOOKS / "example-tabletop.yaml", mode=Mode.EXERCISE,
                           out_dir=Path("incidents"))
    app = RescindApp(start=config)
    log: list[str] = []
    async with app.run_test(size=(120, 40)) as pilot:
        record = await respond_until_sealed(pilot, log)
        await wait_for(pilot, lambda: record.report is not None, "verification")
        assert record.report.exit_code == 0
        incident_dir = record.incident_dir
    assert log == ["AcknowledgeModal:scope", "AnswerModal:impact",
                   "AcknowledgeModal:tell-security", "AcknowledgeModal:rotate",
                   "ConfirmModal:"]
    assert verify_incident(incident_dir).exit_code == 0
    assert kinds(incident_dir, "note", step="summary")


@pytest.mark.slow
async def test_aws_access_key_exercise_through_the_app(identity: None, workdir: Path) -> None:
    config = SessionConfig(runbook=RUNBOOKS / "aws-access-key-compromise.yaml",
                           mode=Mode.EXERCISE, inputs={"access_key_id": "AKIAIOSFODNN7EXAMPLE"},
                           out_dir=Path("incidents"))
    app = RescindApp(start=config)
    log: list[str] = []
    async with app.run_test(size=(120, 40)) as pilot:
        incident = next(s for s in app.screen_stack if isinstance(s, IncidentScreen))
        banner = ""

        def opened() -> bool:
            nonlocal banner
            banner = text_of(incident.query_one("#mode-banner"))
            return "EXERCISE" in banner

        await wait_for(pilot, opened, "the incident header", timeout=60)
        # The header names the account and who rescind acts as (sts:GetCallerIdentity).
        who = "aws account 123456789012 (credential chain) as arn:aws:iam::123456789012:"
        await wait_for(pilot, lambda: who in text_of(incident.query_one("#header-identity")),
                       "the identity")
        record = await respond_until_sealed(pilot, log)
        await wait_for(pilot, lambda: record.report is not None, "verification")
        assert record.report.exit_code == 0, record.report.summary()
        incident_dir = record.incident_dir
        # The blast radius, drawn from what the steps found and did: all contained.
        tree = text_of(incident.query_one("#blast-tree"))
        for line in ("key AKIAIOSFODNN7EXAMPLE  ✓ contained", "user deploy-bot  ✓ contained",
                     "user backup-admin  ✓ contained",
                     "policy arn:aws:iam::aws:policy/AdministratorAccess  ✓ contained"):
            assert line in tree, tree
        assert "NOT contained" not in tree, tree
        await pilot.press("t")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "TimelineScreen", "timeline")
        timeline = app.screen
        await wait_for(pilot, lambda: len(timeline.rows), "the pulled events")
        await pilot.press("slash", *"action:createuser")
        assert timeline.query_one("EventTable").row_count >= 1
    print("\n".join(log))
    assert any(entry.startswith("ApprovalModal:delete_key:type-name") for entry in log)
    assert verify_incident(incident_dir).exit_code == 0



@pytest.fixture
def simulated(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The simulated clouds exercise mode starts, by provider, to read their state back."""
    import rescind.sandbox.gcp
    import rescind.sandbox.graph
    import rescind.sandbox.vault

    started: dict[str, Any] = {}

    def spy(provider: str, start: Any) -> Any:
        def starting(*args: Any, **kwargs: Any) -> Any:
            started[provider] = start(*args, **kwargs)
            return started[provider]
        return starting

    monkeypatch.setattr(rescind.sandbox.gcp, "start_gcp_sandbox",
                        spy("gcp", rescind.sandbox.gcp.start_gcp_sandbox))
    monkeypatch.setattr(rescind.sandbox.vault, "start_vault_sandbox",
                        spy("vault", rescind.sandbox.vault.start_vault_sandbox))
    monkeypatch.setattr(rescind.sandbox.graph, "start_graph_fake",
                        spy("entra", rescind.sandbox.graph.start_graph_fake))
    return started


def _gcp_contained(sandbox: Any, shown: list[str], incident_dir: Path) -> str:
    from tests.gcp.conftest import CONNECTOR, SYSTEM_KEY

    state = sandbox.state
    assert state.accounts[CONNECTOR].disabled
    assert set(state.keys) == {SYSTEM_KEY}  # user-managed keys deleted, Google's left
    members = [m for b in state.project_policy["bindings"] for m in b["members"]]
    assert f"serviceAccount:{CONNECTOR}" not in members
    return ("gcp projects example-project (simulated project) as "
            "rescind-responder@example-project.iam.gserviceaccount.com")


def _vault_contained(sandbox: Any, shown: list[str], incident_dir: Path) -> str:
    state = sandbox.state
    with state.lock:
        accessors = {t.accessor for t in state.tokens.values()}
        assert not {"leakedAccessorEXAMPLE001", "childAccessorEXAMPLE0001"} & accessors
        assert "otherTeamAccessorEXAMPL1" in accessors
        assert sorted(state.leases) == ["aws/creds/deploy/otherLeaseEXAMPLE002"]
        password = state.kv["payments/db"][-1].data["password"]
        assert len(state.kv["payments/db"]) == 2
        assert len(state.kv["billing/api"]) == 1  # the token could not read it
    # The new value was shown once, in the app, and written nowhere in the record.
    assert len(shown) == 1 and password in shown[0], shown
    for path in incident_dir.rglob("*"):
        assert not path.is_file() or password.encode() not in path.read_bytes(), path
    return f"vault {sandbox.address} as token-rescind-responder"


def _entra_contained(fake: Any, shown: list[str], incident_dir: Path) -> str:
    from rescind.sandbox.graph import iso
    from tests.entra.cases import ADELE

    adele = fake.users[ADELE]
    assert adele["accountEnabled"] is False
    assert adele["signInSessionsValidFromDateTime"] >= iso(fake.now)  # revoked during the run
    assert adele["passwordProfile"]["passwordSet"] is True
    # The attacker's authenticator and FIDO2 key are gone; Adele's older methods stay.
    kept = {m["id"] for m in fake.methods[ADELE]}
    assert not {"6fd5c1fb-2b4a-4b5d-9b1d-a1f0f0a0e666",
                "b3a1b2c3-0000-4000-8000-00000000f1d0"} & kept, kept
    assert {"28c10230-6103-485e-b985-444c60001490",
            "6fd5c1fb-2b4a-4b5d-9b1d-a1f0f0a0e001"} <= kept, kept
    # The temporary password was shown once, in the app, and written nowhere.
    assert len(shown) == 1 and shown[0], shown
    for path in incident_dir.rglob("*"):
        assert not path.is_file() or shown[0].encode() not in path.read_bytes(), path
    return f"entra tenant {fake.tenant_id} as user responder@example.com"


@pytest.mark.slow
@pytest.mark.parametrize(("runbook", "provider", "check", "irreversible"), [
    ("gcp-service-account-key-compromise", "gcp", _gcp_contained, "delete_keys"),
    ("vault-token-leak", "vault", _vault_contained, "revoke"),
    ("entra-user-compromise", "entra", _entra_contained, "remove_methods"),
])
async def test_provider_exercise_through_the_app(
        runbook: str, provider: str, check: Any, irreversible: str, identity: None,
        workdir: Path, simulated: dict[str, Any]) -> None:
    """From the start form (prefilled by the scenario) to the sealed record."""

    config = SessionConfig(runbook=RUNBOOKS / f"{runbook}.yaml", mode=Mode.EXERCISE,
                           out_dir=Path("incidents"))
    app = RescindApp(start=config)
    log: list[str] = []
    shown: list[str] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: type(app.screen).__name__ == "InputsForm", "the form")
        values = {i.id: i.value for i in app.screen.query(Input)}
        assert all(values.values()), values  # the scenario says what leaked
        await pilot.press("enter")
        await wait_for(pilot, lambda: any(isinstance(s, IncidentScreen)
                                          for s in app.screen_stack), "the incident screen")
        incident = next(s for s in app.screen_stack if isinstance(s, IncidentScreen))
        await wait_for(pilot, lambda: provider in simulated, "the simulated cloud", timeout=60)
        sandbox = simulated[provider]
        header = ""

        def identified() -> bool:
            nonlocal header
            header = text_of(incident.query_one("#header-identity"))
            return header.startswith(f"{provider} ")

        await wait_for(pilot, identified, "the identity", timeout=60)
        record = await respond_until_sealed(pilot, log, shown)
        await wait_for(pilot, lambda: record.report is not None, "verification")
        assert record.report.exit_code == 0, record.report.summary()
        verdict = text_of(record.query_one("#record-verify"))
        assert verdict.startswith("✓ INTACT") and "· sealed" in verdict, verdict
        incident_dir = record.incident_dir
        # Read back while the app (and so the simulated cloud) still runs.
        assert check(sandbox, shown, incident_dir) in header, header
        # b says this runbook has no blast radius, not that one is coming.
        await pilot.press("escape", "b")
        await wait_for(pilot, lambda: any("has no blast radius" in n.message
                                          for n in app._notifications), "why there is none")
    assert f"ApprovalModal:{irreversible}:type-name" in log, log
    assert log[-1] == "ConfirmModal:"
    assert verify_incident(incident_dir).exit_code == 0
