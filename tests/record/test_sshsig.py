from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from rescind.errors import RescindError
from rescind.record import sshsig
from rescind.record.allowed_signers import signer_line
from tests.record.conftest import SshKey, make_key

MESSAGES = [b"", b"hello\n", bytes(range(256)) * 40, "café ☕\n".encode()]


def ssh_keygen_sign(key: SshKey, message: bytes, namespace: str, workdir: Path) -> str:
    msg = workdir / "msg"
    msg.write_bytes(message)
    sig = workdir / "msg.sig"
    sig.unlink(missing_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-f", str(key.path), "-n", namespace,
                    str(msg)], check=True, capture_output=True)
    return sig.read_text()


def ssh_keygen_verify(armored: str, message: bytes, principal: str, public_line: str,
                      namespace: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    allowed = workdir / "allowed_signers"
    allowed.write_text(signer_line(principal, public_line) + "\n")
    sig = workdir / "ours.sig"
    sig.write_text(armored)
    return subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", principal,
                           "-n", namespace, "-s", str(sig)], input=message.decode("latin-1"),
                          capture_output=True, text=True, encoding="latin-1", check=False)


@pytest.mark.parametrize("message", MESSAGES, ids=["empty", "line", "binary", "utf8"])
@pytest.mark.parametrize("namespace", ["rescind-incident", "rescind-approval"])
def test_byte_identical_to_ssh_keygen(jane: SshKey, tmp_path: Path, message: bytes,
                                      namespace: str) -> None:
    ours = sshsig.sign(jane.private, message, namespace)
    theirs = ssh_keygen_sign(jane, message, namespace, tmp_path)
    assert ours == theirs
    assert all(len(line) <= 70 for line in ours.splitlines())


def test_ssh_keygen_accepts_ours_and_rejects_other_bytes(jane: SshKey, tmp_path: Path) -> None:
    line = sshsig.public_key_line(jane.private.public_key())
    armored = sshsig.sign(jane.private, b"journal bytes\n", "rescind-incident")
    ok = ssh_keygen_verify(armored, b"journal bytes\n", jane.email, line, "rescind-incident",
                           tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "Good \"rescind-incident\" signature for jane@example.com" in ok.stdout
    bad = ssh_keygen_verify(armored, b"journal bytez\n", jane.email, line, "rescind-incident",
                            tmp_path)
    assert bad.returncode != 0
    wrong_ns = ssh_keygen_verify(armored, b"journal bytes\n", jane.email, line,
                                 "rescind-approval", tmp_path)
    assert wrong_ns.returncode != 0


def test_verify_accepts_ssh_keygen_signatures(jane: SshKey, tmp_path: Path) -> None:
    armored = ssh_keygen_sign(jane, b"plan\n", "rescind-approval", tmp_path)
    key = sshsig.verify(armored, b"plan\n", "rescind-approval")
    assert sshsig.fingerprint(key) == sshsig.fingerprint(jane.private.public_key())


def test_verify_reasons(jane: SshKey) -> None:
    armored = sshsig.sign(jane.private, b"abc", "rescind-incident")
    with pytest.raises(sshsig.SignatureInvalid, match="does not match these bytes"):
        sshsig.verify(armored, b"abd", "rescind-incident")
    with pytest.raises(sshsig.SignatureInvalid, match="namespace 'rescind-incident'"):
        sshsig.verify(armored, b"abc", "rescind-approval")
    with pytest.raises(sshsig.SignatureInvalid, match="no BEGIN/END"):
        sshsig.verify("hello", b"abc", "rescind-incident")
    body = armored.splitlines()
    damaged = "\n".join([body[0], body[1][:-4] + "!!!!", *body[2:]])
    with pytest.raises(sshsig.SignatureInvalid, match="base64"):
        sshsig.verify(damaged, b"abc", "rescind-incident")
    truncated = "\n".join([body[0], body[1], body[-1]])
    with pytest.raises(sshsig.SignatureInvalid):
        sshsig.verify(truncated, b"abc", "rescind-incident")


def test_every_single_bit_flip_of_a_signature_is_rejected(jane: SshKey) -> None:
    armored = sshsig.sign(jane.private, b"abc", "rescind-incident")
    blob = bytearray(sshsig.parse(armored).armored().encode())
    # Flip bits in the base64 body only (the armor lines are matched literally).
    start = blob.index(b"\n") + 1
    end = blob.rindex(b"-----END")
    for pos in range(start, end, 7):
        if blob[pos] in b"\n=":
            continue
        mutated = bytearray(blob)
        mutated[pos] = ord("A") if blob[pos] != ord("A") else ord("B")
        if _decoded(mutated) == _decoded(blob):
            continue  # only base64's unused trailing bits changed
        with pytest.raises(sshsig.SignatureInvalid):
            sshsig.verify(mutated.decode(), b"abc", "rescind-incident")


def _decoded(armored: bytes) -> bytes:
    return base64.b64decode(b"".join(armored.splitlines()[1:-1]))


def test_pasted_token_without_line_breaks_still_parses(jane: SshKey) -> None:
    armored = sshsig.sign(jane.private, b"plan", "rescind-approval")
    squashed = "  " + " ".join(armored.split()) + "  "
    sig = sshsig.parse(squashed)
    assert sig.armored() == armored
    sshsig.verify(squashed, b"plan", "rescind-approval")


def test_public_key_line_and_fingerprint_match_ssh_keygen(jane: SshKey) -> None:
    pub = jane.private.public_key()
    assert sshsig.public_key_line(pub) == " ".join(jane.pub_path.read_text().split()[:2])
    listed = subprocess.run(["ssh-keygen", "-l", "-f", str(jane.pub_path)], check=True,
                            capture_output=True, text=True).stdout.split()
    assert sshsig.fingerprint(pub) == listed[1]
    parsed = sshsig.parse_public_key_line(jane.pub_path.read_text())
    assert sshsig.fingerprint(parsed) == listed[1]


def test_parse_public_key_line_refuses_other_key_types(keys_dir: Path) -> None:
    rsa = make_key(keys_dir, "rsa_for_parse", "r@example.com", key_type="rsa")
    with pytest.raises(RescindError, match="ssh-rsa keys are not supported") as info:
        sshsig.parse_public_key_line(rsa.pub_path.read_text())
    assert info.value.fix is not None and "ssh-keygen -t ed25519" in info.value.fix
    with pytest.raises(RescindError):
        sshsig.parse_public_key_line("ssh-ed25519 not-base64!")


def test_sign_then_verify_roundtrip_with_fresh_key() -> None:
    key = Ed25519PrivateKey.generate()
    armored = sshsig.sign(key, b"x" * 100_000, "rescind-incident")
    assert sshsig.fingerprint(sshsig.verify(armored, b"x" * 100_000, "rescind-incident")) \
        == sshsig.fingerprint(key.public_key())
