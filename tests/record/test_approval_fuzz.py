"""Hypothesis fuzzing of the approval-token parser: whatever is pasted (noise, a
damaged or re-wrapped token, bytes flipped anywhere), check_approval refuses it with
ApprovalRefused or accepts a genuine approval; nothing else."""

from __future__ import annotations

import base64

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rescind.errors import ApprovalRefused
from rescind.record import sshsig
from rescind.record.approval import check_approval, sign_approval
from rescind.record.keys import ephemeral_signer
from tests.record.sample import sample_plan

PLAN = sample_plan().canonical_bytes()
APPROVER = ephemeral_signer("Omar", "omar@example.com")
TOKEN = sign_approval(PLAN, APPROVER)
BLOB = base64.b64decode("".join(TOKEN.splitlines()[1:-1]))
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check(token: str) -> None:
    try:
        info = check_approval(token, PLAN, requester_fingerprint="SHA256:requester",
                              trusted=None)
    except ApprovalRefused as exc:
        assert exc.message and exc.fix
    else:  # only the genuine approval over these bytes passes
        assert info.fingerprint == APPROVER.fingerprint


def _armor(blob: bytes) -> str:
    body = base64.b64encode(blob).decode()
    lines = [body[i:i + 70] for i in range(0, len(body), 70)]
    return "\n".join([sshsig.BEGIN, *lines, sshsig.END]) + "\n"


@FUZZ
@given(st.text(max_size=400))
def test_any_text(text: str) -> None:
    _check(text)
    _check(f"{sshsig.BEGIN}\n{text}\n{sshsig.END}\n")


@FUZZ
@given(st.binary(max_size=600))
def test_any_blob_inside_the_armor(blob: bytes) -> None:
    _check(_armor(blob))
    _check(_armor(sshsig.MAGIC + blob))


@FUZZ
@given(st.integers(0, len(BLOB) - 1), st.integers(1, 255))
def test_a_flipped_byte_anywhere(at: int, flip: int) -> None:
    damaged = bytearray(BLOB)
    damaged[at] ^= flip
    _check(_armor(bytes(damaged)))


@FUZZ
@given(st.integers(0, len(BLOB)), st.binary(max_size=40))
def test_truncated_or_extended(at: int, tail: bytes) -> None:
    _check(_armor(BLOB[:at] + tail))
