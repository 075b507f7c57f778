"""Two-person approvals: the second responder's SSHSIG over the plan file's exact bytes.

The token is an ordinary armored SSHSIG (namespace ``rescind-approval``), so an
auditor checks it with ``ssh-keygen -Y verify`` against the plan file kept in
``plans/``. ``check_approval`` refuses a token that is malformed, over other bytes
(another plan), made with the requester's own key, or by a key not in the trusted
allowed_signers file when one is given.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from rescind.errors import ApprovalRefused
from rescind.record import allowed_signers, sshsig
from rescind.record.journal import ensure_private_dir, write_private_file
from rescind.record.keys import Signer

APPROVAL_NAMESPACE = "rescind-approval"


@dataclass(frozen=True)
class ApproverInfo:
    fingerprint: str
    public_key_line: str
    principal: str | None  # from the trusted allowed_signers file, when one was given
    token: str  # the token re-armored canonically, as it should be stored

    def allowed_signers_line(self, principal: str | None = None) -> str:
        """A line for the bundle's allowed_signers, so stock tools can check the token."""
        who = principal or self.principal or f"approver-{self.fingerprint[7:19]}"
        return allowed_signers.signer_line(who, self.public_key_line, APPROVAL_NAMESPACE)


def plan_hash(plan_bytes: bytes) -> str:
    return hashlib.sha256(plan_bytes).hexdigest()


def sign_approval(plan_bytes: bytes, signer: Signer) -> str:
    """The approval token: an armored SSHSIG over the plan file's exact bytes."""
    return signer.sign(plan_bytes, APPROVAL_NAMESPACE)


def check_approval(token: str, plan_bytes: bytes, *, requester_fingerprint: str,
                   trusted: Path | None) -> ApproverInfo:
    """Check a pasted approval token against the plan; raises ApprovalRefused."""
    short = plan_hash(plan_bytes)[:12]
    try:
        sig = sshsig.parse(token)
    except sshsig.SignatureInvalid as exc:
        raise ApprovalRefused(f"the approval token is not valid: {exc.message}",
                              fix="paste the whole output of `rescind approve PLANFILE`, "
                                  "BEGIN and END lines included") from None
    if sig.namespace != APPROVAL_NAMESPACE:
        raise ApprovalRefused(f"the token is a {sig.namespace!r} signature, not an approval",
                              fix="the approver runs `rescind approve PLANFILE`")
    try:
        sshsig.verify_parsed(sig, APPROVAL_NAMESPACE, message=plan_bytes)
    except sshsig.SignatureInvalid:
        raise ApprovalRefused(
            f"the approval by {sig.fingerprint} was not made over this plan "
            f"(sha256 {short}...): it approves other bytes, or was altered",
            fix="the approver must sign the current plan file; the plan changes when "
                "it is re-planned") from None
    if sig.fingerprint == requester_fingerprint:
        raise ApprovalRefused("the approval is signed with your own key; two-person approval "
                              "needs the second responder's key",
                              fix="ask the second responder to run `rescind approve` with "
                                  "their own key")
    principal = None
    if trusted is not None:
        principals = allowed_signers.find_principals(allowed_signers.load(trusted),
                                                     sig.public_key, APPROVAL_NAMESPACE)
        if not principals:
            raise ApprovalRefused(
                f"the approver's key {sig.fingerprint} is not trusted for approvals in "
                f"{trusted}",
                fix="add the approver's `rescind keys show` line to that file, or get the "
                    "approval from someone listed there")
        principal = principals[0]
    return ApproverInfo(sig.fingerprint, sshsig.public_key_line(sig.public_key), principal,
                        sig.armored())


def approval_path(incident_dir: Path, step: str, plan_digest: str) -> Path:
    """Where an approval token is kept: beside the plan file it signs, by name."""
    return incident_dir / "signatures" / f"approval.{step}.{plan_digest[:12]}.sig"


def plan_path(incident_dir: Path, step: str, plan_digest: str) -> Path:
    return incident_dir / "plans" / f"{step}.{plan_digest[:12]}.json"


def store_approval(incident_dir: Path, step: str, plan_digest: str, info: ApproverInfo) -> Path:
    """Keep the token as ``signatures/approval.<step>.<hash12>.sig`` (0600), so
    ``rescind verify`` and ssh-keygen can check it against ``plans/<step>.<hash12>.json``."""
    path = approval_path(incident_dir, step, plan_digest)
    ensure_private_dir(path.parent)
    write_private_file(path, info.token.encode("ascii"))
    return path
