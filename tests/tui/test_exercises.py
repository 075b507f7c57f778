"""The shipped exercise runbooks, run through the app against the simulated cloud."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from rescind.engine.responder import Approval
from rescind.engine.session import SessionConfig
from rescind.modes import Mode
from rescind.record.verify import verify_incident
from rescind.tui.app import RescindApp
from rescind.tui.screens.incident import IncidentScreen
from tests.tui.conftest import kinds, text_of, wait_for
from tests.tui.pull_again import approve_until_review, pull_again_from_the_palette

RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"


async def _tab_to(pilot: Pilot[Any], widget_id: str) -> None:
    for _ in range(8):
        if pilot.app.focused is not None and pilot.app.focused.id == widget_id:
            return
        await pilot.press("tab")
    raise AssertionError(f"Tab never reached #{widget_id}")


SECOND_KEY = "second_ed25519"  # Bo's key file, made in the working folder on first use


def second_approver(command: str) -> str:
    """Run the approval command a dialog shows, as a second responder with their own key
    would (``rescind approve PLANFILE``, the plan shown, then signed); the token it prints."""
    import contextlib
    import io
    import shlex

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from rescind.cli import main

    key = Path(SECOND_KEY)
    if not key.exists():
        key.write_bytes(Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption()))
        key.chmod(0o600)
    argv = shlex.split(command)
    assert argv[:2] == ["rescind", "approve"], command
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([*argv[1:], "--key", str(key), "--email", "bo@example.com", "--yes"])
    assert code == 0, err.getvalue()
    return out.getvalue()


async def respond_until_sealed(pilot: Pilot[Any], log: list[str],
                               shown: list[str] | None = None,
                               failures: dict[str, str] | None = None) -> Any:
    """Answer every dialog the way a responder following the screens would.

    A dialog is answered once the focus is in it (Textual focuses after mounting: keys
    pressed before that go nowhere). Secrets shown once are appended to ``shown``.
    A step named in ``failures`` that fails is retried (``"retry"``) or skipped with
    that text as the reason; any other failure fails the test."""
    app = pilot.app
    # The dialogs answered, held (not their id()s): a closed dialog's id can be reused by
    # the next one once the first is freed, which then looked answered and was never
    # answered (a 60 s time-out seen once on CI).
    handled: list[Any] = []

    def next_dialog() -> bool:
        screen = app.screen
        return (all(screen is not h for h in handled) and type(screen).__name__ in (
            "ApprovalModal", "AcknowledgeModal", "AnswerModal", "FailureModal",
            "ConfirmModal", "SecretModal") and app.focused is not None
            and app.focused.screen is screen) or type(screen).__name__ == "RecordScreen"

    while True:
        await wait_for(pilot, next_dialog, "the next dialog", timeout=60)
        screen = app.screen
        name = type(screen).__name__
        handled.append(screen)
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
                # Pasted, as a responder copies it from the plan: key by key (typing is the
                # drill's test, test_incident_flow.py) each key waits for the app to go
                # idle, ~0.25 s a key with the simulated clouds busy in this process.
                name, typed = screen.request.expected_names[0], screen.query_one("#typed", Input)
                typed.post_message(events.Paste(name))
                await wait_for(pilot, lambda typed=typed, name=name: typed.value == name,
                               "the pasted name")
                await pilot.press("enter")
            elif screen.policy is Approval.TWO_PERSON:
                assert pilot.app.focused.id == "token", "the token field has the focus"
                # The second responder runs the command the dialog shows; its output is pasted.
                screen.query_one(TextArea).post_message(events.Paste(second_approver(
                    screen.command)))
                await pilot.pause()
                await _tab_to(pilot, "approve")
                await pilot.press("enter")
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
async def test_aws_access_key_exercise_through_the_app(identity: None, workdir: Path,
                                                      simulated: dict[str, Any]) -> None:
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
        await approve_until_review(pilot, log)
        await pull_again_from_the_palette(pilot, incident, simulated["aws"])
        await pilot.press("enter")  # the hidden review comes back
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
    import rescind.sandbox.arm
    import rescind.sandbox.aws
    import rescind.sandbox.gcp
    import rescind.sandbox.graph
    import rescind.sandbox.vault

    started: dict[str, Any] = {}

    def spy(provider: str, start: Any) -> Any:
        def starting(*args: Any, **kwargs: Any) -> Any:
            started[provider] = start(*args, **kwargs)
            return started[provider]
        return starting

    monkeypatch.setattr(rescind.sandbox.aws, "start_aws_sandbox",
                        spy("aws", rescind.sandbox.aws.start_aws_sandbox))
    monkeypatch.setattr(rescind.sandbox.gcp, "start_gcp_sandbox",
                        spy("gcp", rescind.sandbox.gcp.start_gcp_sandbox))
    monkeypatch.setattr(rescind.sandbox.vault, "start_vault_sandbox",
                        spy("vault", rescind.sandbox.vault.start_vault_sandbox))
    monkeypatch.setattr(rescind.sandbox.graph, "start_graph_fake",
                        spy("entra", rescind.sandbox.graph.start_graph_fake))
    monkeypatch.setattr(rescind.sandbox.arm, "start_arm_fake",
                        spy("azure", rescind.sandbox.arm.start_arm_fake))
    return started


def _gcp_contained(clouds: dict[str, Any], shown: list[str], incident_dir: Path) -> list[str]:
    from tests.gcp.conftest import CONNECTOR, SYSTEM_KEY

    state = clouds["gcp"].state
    assert state.accounts[CONNECTOR].disabled
    assert set(state.keys) == {SYSTEM_KEY}  # user-managed keys deleted, Google's left
    members = [m for b in state.project_policy["bindings"] for m in b["members"]]
    assert f"serviceAccount:{CONNECTOR}" not in members
    return [GCP_RESPONDER]


GCP_RESPONDER = ("gcp projects example-project (simulated project) as "
                 "rescind-responder@example-project.iam.gserviceaccount.com")


def _gcp_federation_cut(clouds: dict[str, Any], shown: list[str],
                        incident_dir: Path) -> list[str]:
    from tests.gcp.conftest import CONNECTOR

    state = clouds["gcp"].state
    (provider,) = state.providers.values()
    assert provider["disabled"] is True
    roles = [b["role"] for b in state.accounts[CONNECTOR].policy["bindings"]]
    assert "roles/iam.workloadIdentityUser" not in roles
    assert "roles/iam.serviceAccountUser" in roles  # the platform group's, not the pool's
    assert not state.accounts[CONNECTOR].disabled  # the runbook cuts federation only
    assert shown == []
    return [GCP_RESPONDER]


def _vault_contained(clouds: dict[str, Any], shown: list[str], incident_dir: Path) -> list[str]:
    sandbox = clouds["vault"]
    state = sandbox.state
    with state.lock:
        accessors = {t.accessor for t in state.tokens.values()}
        assert not {"leakedAccessorEXAMPLE001", "childAccessorEXAMPLE0001"} & accessors
        assert "otherTeamAccessorEXAMPL1" in accessors
        assert sorted(state.leases) == ["aws/creds/deploy/otherLeaseEXAMPLE002"]
        password = state.kv["payments/db"][-1].data["password"]
        assert len(state.kv["payments/db"]) == 2
        assert len(state.kv["billing/api"]) == 1  # the token could not read it
    # The new value was shown once, in the app, on a line of its own (not a Python
    # dict), and written nowhere in the record.
    assert shown == [f"secret/payments/db password: {password}"], shown
    for path in incident_dir.rglob("*"):
        assert not path.is_file() or password.encode() not in path.read_bytes(), path
    return [f"vault {sandbox.address} as token-rescind-responder"]


def _approle_contained(clouds: dict[str, Any], shown: list[str],
                       incident_dir: Path) -> list[str]:
    sandbox = clouds["vault"]
    state = sandbox.state
    with state.lock:
        role = state.roles["payments"]
        # The leaked secret id is gone, the other host's stays; the role id is new.
        assert sorted(role.secret_ids) == ["5e1ec7ed-0000-4000-8000-EXAMPLE00002"]
        role_id = role.role_id
        assert role_id != "0f0e0d0c-0000-4000-8000-EXAMPLEROLE1"
        assert sorted(state.leases) == []  # every database and AWS credential it issued
        assert state.connections["payments-db"].root_rotations == 1
        # Seeded as rotated 12 hours ago: rotated again during the run.
        static = state.static_roles["payments-static"]
        assert datetime.now(UTC) - static.last_rotation < timedelta(hours=1)
        config = state.kv["payments/config"]
        assert len(config) == 2
        rotated = config[-1].data
    # The new role id and KV values were each shown once, in the app, and written nowhere.
    assert role_id in shown, shown
    assert "\n".join(f"secret/payments/config {field}: {rotated[field]}"
                     for field in ("stripe_key", "webhook_secret")) in shown, shown
    for path in incident_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert role_id.encode() not in data, path
            assert rotated["webhook_secret"].encode() not in data, path
    # The AWS half, read back from the simulated account: Vault's own engine key is off.
    iam = clouds["aws"].client("iam")
    keys = iam.list_access_keys(UserName="vault-aws-engine")["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in keys] == [
        ("AKIAIOSFODNN7EXAMPLE", "Inactive")]
    return [f"vault {sandbox.address} as token-rescind-responder", "aws account 123456789012"]


def _entra_contained(clouds: dict[str, Any], shown: list[str], incident_dir: Path) -> list[str]:
    from rescind.sandbox.graph import iso
    from tests.entra.cases import ADELE

    fake = clouds["entra"]
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
    return [f"entra tenant {fake.tenant_id} as user responder@example.com"]


def _assignments_of(arm: Any, principal: str) -> list[str]:
    return [a["name"] for a in arm.assignments.values()
            if a["properties"]["principalId"] == principal]


def _connector_contained(clouds: dict[str, Any], shown: list[str],
                         incident_dir: Path) -> list[str]:
    graph, arm = clouds["entra"], clouds["azure"]
    sp, app = "e0000000-0000-4000-8000-0000000000e1", "e0000000-0000-4000-8000-0000000000a1"
    assert graph.service_principals[sp]["accountEnabled"] is False
    assert graph.applications[app]["passwordCredentials"] == []
    assert graph.applications[app]["keyCredentials"] == []
    assert graph.service_principals[sp].get("passwordCredentials", []) == []
    assert graph.app_role_assignments[sp] == [] and graph.grants == {}
    assert _assignments_of(arm, sp) == []
    timeline = (incident_dir / "timeline.jsonl").read_text()
    assert "198.51.100.99" in timeline and "listKeys" in timeline
    assert shown == []
    return [f"entra tenant {graph.tenant_id} as user responder@example.com", AZURE_RESPONDER]


AZURE_RESPONDER = ("azure subscription 00000000-0000-0000-0000-000000000000 as user "
                   "responder@example.com")


def _identity_contained(clouds: dict[str, Any], shown: list[str],
                        incident_dir: Path) -> list[str]:
    arm = clouds["azure"]
    principal = "c0000000-0000-4000-8000-000000000001"
    (federated,) = [creds for rid, creds in arm.federated.items() if rid.endswith("/deploy-mi")]
    assert federated == []
    assert _assignments_of(arm, principal) == []
    timeline = (incident_dir / "timeline.jsonl").read_text()
    assert "getSecret" in timeline and "198.51.100.7" in timeline
    assert shown == []
    # The scenario's injects, scored from the sealed record: the intruder's federated
    # credential noticed and removed by the step, the second try refused by ARM.
    from rescind.record.after_action import AFTER_ACTION
    from rescind.record.score import load_score

    score = load_score(incident_dir)
    assert {i.id: (i.trigger, i.how) for i in score.injects} == {
        "azure-new-fic": ("after_step", "step remove_federated"),
        "azure-fic-again": ("after_step", "")}
    assert {c.id: c.step for c in score.credentials} == {"github-fork-main": "remove_federated"}
    report = (incident_dir / AFTER_ACTION).read_text()
    assert "- Inject azure-new-fic noticed " in report, report
    assert f"  {AFTER_ACTION}" in (incident_dir / "SHA256SUMS").read_text()
    return [AZURE_RESPONDER]


@pytest.mark.slow
@pytest.mark.parametrize(("runbook", "clouds", "check", "approval"), [
    ("gcp-service-account-key-compromise", ["gcp"], _gcp_contained, "delete_keys:type-name"),
    ("gcp-workload-identity-compromise", ["gcp"], _gcp_federation_cut, "unbind_pool:type-name"),
    ("vault-token-leak", ["vault"], _vault_contained, "revoke:type-name"),
    ("vault-approle-compromise", ["vault", "aws"], _approle_contained,
     "revoke-db-creds:two-person"),
    ("entra-user-compromise", ["entra"], _entra_contained, "remove_methods:type-name"),
    ("azure-service-principal-compromise", ["entra", "azure"], _connector_contained,
     "remove_roles:type-name"),
    ("azure-managed-identity-compromise", ["azure"], _identity_contained,
     "remove_federated:type-name"),
])
async def test_provider_exercise_through_the_app(
        runbook: str, clouds: list[str], check: Any, approval: str, identity: None,
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
        await wait_for(pilot, lambda: set(clouds) <= set(simulated), "the simulated clouds",
                       timeout=60)
        header = ""

        def identified() -> bool:
            nonlocal header
            header = " ".join(text_of(incident.query_one("#header-identity")).split())
            return all(f"{cloud} " in header for cloud in clouds)

        await wait_for(pilot, identified, "the identity", timeout=60)
        record = await respond_until_sealed(pilot, log, shown)
        await wait_for(pilot, lambda: record.report is not None, "verification")
        assert record.report.exit_code == 0, record.report.summary()
        verdict = text_of(record.query_one("#record-verify"))
        assert verdict.startswith("✓ INTACT") and "· sealed" in verdict, verdict
        incident_dir = record.incident_dir
        # Read back while the app (and so the simulated cloud) still runs.
        for who in check(simulated, shown, incident_dir):
            assert who in header, header
        # b says this runbook has no blast radius, not that one is coming.
        await pilot.press("escape", "b")
        await wait_for(pilot, lambda: any("has no blast radius" in n.message
                                          for n in app._notifications), "why there is none")
    print("\n".join(log))
    assert f"ApprovalModal:{approval}" in log, log
    assert log[-1] == "ConfirmModal:"
    assert verify_incident(incident_dir).exit_code == 0
