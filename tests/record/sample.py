"""A realistic incident folder, written through the record API the engine uses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rescind.actions.base import Change, Plan, Risk
from rescind.record.approval import check_approval, plan_path, sign_approval, store_approval
from rescind.record.bundle import Sealed, seal
from rescind.record.checkpoint import Anchor, checkpoint
from rescind.record.journal import Entry, Journal, write_private_file
from rescind.record.keys import Signer
from rescind.record.report import render_report

INCIDENT = "20261123-aws-access-key-compromise-7f3a"


@dataclass
class Sample:
    dir: Path
    anchors: list[Anchor]
    plan_bytes: bytes
    plan_file: Path
    approval_file: Path
    entries: list[Entry]
    sealed: Sealed | None


def sample_plan() -> Plan:
    return Plan(action="aws.iam.deactivate_access_key", step_id="deactivate",
                params={"access_key_id": "AKIAIOSFODNN7EXAMPLE"},
                targets=["AKIAIOSFODNN7EXAMPLE"],
                changes=[Change(target="AKIAIOSFODNN7EXAMPLE", field="Status",
                                before="Active", after="Inactive")],
                warnings=["temporary credentials issued before now stay valid up to 36 h"],
                risk=Risk.CRITICAL, reversible=True, mutating=True,
                summary="Deactivate access key AKIAIOSFODNN7EXAMPLE of user ci-deploy",
                state={"Status": "Active"})


def build_incident(folder: Path, signer: Signer, approver: Signer, *, close: bool = True,
                   do_seal: bool = True) -> Sample:
    j = Journal.create(folder / "journal.jsonl")
    anchors: list[Anchor] = []
    responder = {"name": signer.name, "email": signer.email, "fingerprint": signer.fingerprint}
    j.append("incident.open", {
        "incident": INCIDENT,
        "runbook": {"id": "aws-access-key-compromise", "title": "Leaked AWS access key",
                    "path": "runbooks/aws-access-key-compromise.yaml", "sha256": "ab" * 32},
        "mode": "exercise", "inputs": {"access_key_id": "AKIAIOSFODNN7EXAMPLE",
                                       "ticket": "IR-1", "webhook_token": "[redacted]"},
        "responder": responder, "rescind_version": "0.1.0", "host": "laptop.example.com"})
    j.append("phase.start", {"phase": "contain"})
    j.append("step.start", {"step": "scope", "phase": "contain", "kind": "manual",
                            "title": "Identify the leaked credential"})
    j.append("manual.ack", {"step": "scope", "text": "Identify the leaked credential (IR-1)",
                            "note": "found in a *public* gist <script>"})
    j.append("step.done", {"step": "scope", "outputs": {}})

    plan = sample_plan()
    plan_bytes = plan.canonical_bytes()
    digest = plan.digest
    pfile = plan_path(folder, "deactivate", digest)
    pfile.parent.mkdir(mode=0o700, exist_ok=True)
    write_private_file(pfile, plan_bytes)
    j.append("step.start", {"step": "deactivate", "phase": "contain", "kind": "action",
                            "title": "Deactivate the key"})
    j.append("action.plan", {"step": "deactivate", "action": plan.action, "plan_hash": digest,
                             "plan": plan.model_dump(mode="json")})
    token = sign_approval(plan_bytes, approver)
    info = check_approval(token, plan_bytes, requester_fingerprint=signer.fingerprint,
                          trusted=None)
    approval_file = store_approval(folder, "deactivate", digest, info)
    j.append("action.approval", {"step": "deactivate", "plan_hash": digest,
                                 "policy": "two-person", "approved": True, "by": responder,
                                 "approver": {"fingerprint": info.fingerprint,
                                              "public_key_line": info.public_key_line}})
    j.append("action.intent", {"step": "deactivate", "plan_hash": digest,
                               "targets": plan.targets})
    j.append("action.outcome", {"step": "deactivate", "plan_hash": digest, "ok": True,
                                "outputs": {"user": "ci-deploy"},
                                "details": ["UpdateAccessKey Status=Inactive"]})
    j.append("action.verify", {"step": "deactivate", "ok": True,
                               "detail": "key status is Inactive"})
    j.append("step.done", {"step": "deactivate", "outputs": {"user": "ci-deploy"}})
    anchors.append(checkpoint(j, signer, INCIDENT, "action", {"step": "deactivate"}))
    j.append("phase.end", {"phase": "contain"})
    anchors.append(checkpoint(j, signer, INCIDENT, "phase", {"phase": "contain"}))

    j.append("phase.start", {"phase": "assess"})
    j.append("step.start", {"step": "impact", "phase": "assess", "kind": "prompt",
                            "title": "Which systems could the credential reach?"})
    j.append("prompt.answer", {"step": "impact", "question": "Which systems?",
                               "answer": "billing | s3"})
    j.append("step.done", {"step": "impact", "outputs": {"answer": "billing | s3"}})
    j.append("step.start", {"step": "revoke-sessions", "phase": "assess", "kind": "action",
                            "title": "Revoke sessions"})
    j.append("dryrun.blocked", {"step": "revoke-sessions",
                                "operation": "iam:PutUserPolicy",
                                "params": {"UserName": "ci-deploy"}})
    j.append("step.failed", {"step": "revoke-sessions", "error": "AccessDenied",
                             "kind": "permission"})
    j.append("step.choice", {"step": "revoke-sessions", "choice": "skip",
                             "reason": "no permission; ticket IR-2 opened"})
    j.append("step.skipped", {"step": "tell-security", "reason": "condition false"})
    j.append("prompt.answer", {"step": "secret-q", "question": "Webhook token?",
                               "answer": "[redacted]"})
    j.append("custom.thing", {"detail": "an entry kind the report does not know"})
    j.append("phase.end", {"phase": "assess"})
    anchors.append(checkpoint(j, signer, INCIDENT, "phase", {"phase": "assess"}))
    if close:
        j.append("incident.close", {"status": "resolved"})
        anchors.append(checkpoint(j, signer, INCIDENT, "close"))
    j.close()

    (folder / "evidence").mkdir(mode=0o700, exist_ok=True)
    write_private_file(folder / "evidence" / "cloudtrail.jsonl",
                       b'{"eventName":"UpdateAccessKey"}\n')
    write_private_file(folder / "timeline.jsonl", b'{"time":"2026-11-23T03:00:00Z"}\n')
    entries = Journal.open(folder / "journal.jsonl").entries()
    write_private_file(folder / "report.md", render_report(
        folder, entries, signer_email=signer.email, anchors=anchors).encode())
    sealed = None
    if do_seal:
        sealed = seal(folder, signer, extra_signers=[info.allowed_signers_line()])
    return Sample(folder, anchors, plan_bytes, pfile, approval_file, entries, sealed)


def change_line(folder: Path, seq: int, old: bytes, new: bytes) -> None:
    """One edited line in the middle, the seal left as it was: what a careless forger does."""
    path = folder / "journal.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    assert old in lines[seq]
    lines[seq] = lines[seq].replace(old, new, 1)
    path.write_bytes(b"".join(lines))
