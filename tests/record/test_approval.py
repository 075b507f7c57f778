from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from rescind.errors import ApprovalRefused
from rescind.record import sshsig
from rescind.record.allowed_signers import signer_line
from rescind.record.approval import check_approval, sign_approval, store_approval
from tests.record.conftest import SshKey
from tests.record.sample import sample_plan

PLAN = sample_plan().canonical_bytes()


def test_second_responder_approval_is_accepted(jane: SshKey, omar: SshKey,
                                               tmp_path: Path) -> None:
    token = sign_approval(PLAN, omar.signer("Omar"))
    info = check_approval(token, PLAN, requester_fingerprint=jane.signer().fingerprint,
                          trusted=None)
    assert info.fingerprint == sshsig.fingerprint(omar.private.public_key())
    assert info.public_key_line == " ".join(omar.pub_path.read_text().split()[:2])
    assert info.principal is None
    # Stored, it verifies with stock ssh-keygen against the plan file.
    plan_file = tmp_path / "plan.json"
    plan_file.write_bytes(PLAN)
    sig = store_approval(tmp_path, "deactivate", sample_plan().digest, info)
    assert sig.name == f"approval.deactivate.{sample_plan().digest[:12]}.sig"
    allowed = tmp_path / "allowed"
    allowed.write_text(info.allowed_signers_line("omar@example.com") + "\n")
    res = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I",
                          "omar@example.com", "-n", "rescind-approval", "-s", str(sig)],
                         input=PLAN, capture_output=True, check=False)
    assert res.returncode == 0, res.stderr


def test_trusted_file_names_the_approver(jane: SshKey, omar: SshKey, mallory: SshKey,
                                         tmp_path: Path) -> None:
    trusted = tmp_path / "team_allowed_signers"
    trusted.write_text("# the team\n"
                       + signer_line("omar@example.com", omar.pub_path.read_text()) + "\n"
                       + signer_line("jane@example.com", jane.pub_path.read_text()) + "\n")
    me = jane.signer().fingerprint
    info = check_approval(sign_approval(PLAN, omar.signer()), PLAN, requester_fingerprint=me,
                          trusted=trusted)
    assert info.principal == "omar@example.com"
    with pytest.raises(ApprovalRefused, match="not trusted for approvals") as exc:
        check_approval(sign_approval(PLAN, mallory.signer()), PLAN, requester_fingerprint=me,
                       trusted=trusted)
    assert exc.value.fix is not None
    # A key trusted only for incident signatures may not approve.
    trusted.write_text(signer_line("omar@example.com", omar.pub_path.read_text(),
                                   "rescind-incident") + "\n")
    with pytest.raises(ApprovalRefused, match="not trusted"):
        check_approval(sign_approval(PLAN, omar.signer()), PLAN, requester_fingerprint=me,
                       trusted=trusted)


def test_stock_ssh_keygen_token_is_accepted(jane: SshKey, omar: SshKey, tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.json"
    plan_file.write_bytes(PLAN)
    subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-f", str(omar.path), "-n",
                    "rescind-approval", str(plan_file)], check=True, capture_output=True)
    token = (tmp_path / "plan.json.sig").read_text()
    info = check_approval(token, PLAN, requester_fingerprint=jane.signer().fingerprint,
                          trusted=None)
    assert info.token == token


def test_refusals(jane: SshKey, omar: SshKey) -> None:
    me = jane.signer().fingerprint
    token = sign_approval(PLAN, omar.signer())
    other_plan = PLAN.replace(b"Inactive", b"Deleted")
    with pytest.raises(ApprovalRefused, match="not made over this plan"):
        check_approval(token, other_plan, requester_fingerprint=me, trusted=None)
    with pytest.raises(ApprovalRefused, match="your own key"):
        check_approval(sign_approval(PLAN, jane.signer()), PLAN, requester_fingerprint=me,
                       trusted=None)
    with pytest.raises(ApprovalRefused, match="not an approval"):
        check_approval(omar.signer().sign(PLAN, "rescind-incident"), PLAN,
                       requester_fingerprint=me, trusted=None)
    with pytest.raises(ApprovalRefused, match="not valid") as exc:
        check_approval("looks good to me!", PLAN, requester_fingerprint=me, trusted=None)
    assert exc.value.fix is not None and "rescind approve" in exc.value.fix


def test_token_mangled_by_chat_still_checks(jane: SshKey, omar: SshKey) -> None:
    token = sign_approval(PLAN, omar.signer())
    pasted = " ".join(token.split())  # line breaks lost on the way
    info = check_approval(pasted, PLAN, requester_fingerprint=jane.signer().fingerprint,
                          trusted=None)
    assert info.token == token
