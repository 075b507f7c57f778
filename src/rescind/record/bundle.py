"""Sealing an incident folder: ``allowed_signers``, ``SHA256SUMS`` and its signature.

``SHA256SUMS`` is exactly what ``sha256sum`` prints (``<hex>  <path>``, sorted,
forward slashes) over every file of the folder except the sums, their signature
and the lock, so ``sha256sum -c SHA256SUMS`` checks it with no rescind installed.
"""

from __future__ import annotations

import contextlib
import hashlib
import shlex
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rescind.errors import RescindError
from rescind.record.checkpoint import INCIDENT_NAMESPACE
from rescind.record.journal import Entry, write_private_file
from rescind.record.keys import Signer

SUMS = "SHA256SUMS"
SUMS_SIG = "SHA256SUMS.sig"
ALLOWED_SIGNERS = "allowed_signers"
LOCK = ".lock"
# The seal's own files, and the temporary names their atomic writes use: a crash
# while writing them leaves one, and the seal cannot list itself.
UNSUMMED = frozenset({SUMS, SUMS_SIG, LOCK, f".{SUMS}.tmp", f".{SUMS_SIG}.tmp"})


@dataclass(frozen=True)
class Sealed:
    sums: Path
    signature: Path
    allowed_signers: Path
    files: int  # how many files SHA256SUMS lists
    verify_command: str  # ssh-keygen -Y verify ... < SHA256SUMS, run from the folder


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def incident_files(incident_dir: Path) -> Iterator[tuple[str, Path]]:
    """(relative path with forward slashes, path) of every file the sums cover,
    unsorted. Raises RescindError for what sha256sum could not check faithfully."""
    for path in incident_dir.rglob("*"):
        rel = path.relative_to(incident_dir).as_posix()
        if path.is_symlink():
            raise RescindError(f"{rel} is a symbolic link; an incident record holds only "
                               "regular files", fix=f"replace {rel} with the file itself")
        if path.is_dir():
            continue
        if rel in UNSUMMED:
            continue
        if "\n" in rel or "\\" in rel:
            raise RescindError(f"file name {rel!r} cannot be listed in SHA256SUMS as is",
                               fix="rename it without newlines or backslashes")
        yield rel, path


def sums_text(incident_dir: Path) -> tuple[str, int]:
    rows = sorted(incident_files(incident_dir))
    return "".join(f"{file_sha256(p)}  {rel}\n" for rel, p in rows), len(rows)


def verify_command(email: str) -> str:
    return (f"ssh-keygen -Y verify -f {ALLOWED_SIGNERS} -I {shlex.quote(email)} "
            f"-n {INCIDENT_NAMESPACE} -s {SUMS_SIG} < {SUMS}")


def allowed_signers_text(lines: Iterable[str]) -> str:
    seen: list[str] = []
    for line in lines:
        line = line.strip()
        if line and line not in seen:
            seen.append(line)
    return "".join(f"{line}\n" for line in seen)


def responder_emails(entries: Iterable[Entry],
                     into: dict[str, str] | None = None) -> dict[str, str]:
    """Fingerprint -> email of each responder who opened or resumed the incident."""
    out = {} if into is None else into
    for e in entries:
        who = e.data.get("responder") if e.kind in ("incident.open", "incident.resume") else None
        if isinstance(who, dict) and who.get("fingerprint") and who.get("email"):
            out[str(who["fingerprint"])] = str(who["email"])
    return out


def checkpoint_signer_lines(incident_dir: Path, skip_fingerprint: str) -> list[str]:
    """allowed_signers lines for other keys that signed checkpoints (a colleague who
    ran part of the incident before a resume), named by the journal's responder
    entries. Signatures are not verified here: verify_incident does that."""
    from rescind.record import sshsig
    from rescind.record.allowed_signers import signer_line
    from rescind.record.journal import read_entries

    emails: dict[str, str] = {}
    # A damaged journal still gets sealed as it is (verify reports it), with the
    # emails named before the damage.
    with contextlib.suppress(RescindError):
        responder_emails(read_entries(incident_dir / "journal.jsonl"), into=emails)
    lines = []
    for path in sorted((incident_dir / "signatures").glob("journal.*.sig")):
        try:
            sig = sshsig.parse(path.read_text(encoding="ascii", errors="replace"))
        except sshsig.SignatureInvalid:
            continue
        fp = sig.fingerprint
        if fp != skip_fingerprint:
            principal = emails.get(fp) or f"signer-{fp[7:19]}@rescind"
            lines.append(signer_line(principal, sshsig.public_key_line(sig.public_key),
                                     INCIDENT_NAMESPACE))
    return lines


def seal(incident_dir: Path, signer: Signer, *, extra_signers: Iterable[str] = ()) -> Sealed:
    """Write ``allowed_signers`` (the signer's line, any other key that signed a
    checkpoint, and ``extra_signers`` such as approvers), then the SSHSIG of the
    sums of every file, then ``SHA256SUMS`` itself."""
    incident_dir = Path(incident_dir)
    if not (incident_dir / "journal.jsonl").is_file():
        raise RescindError(f"{incident_dir} has no journal.jsonl; it is not an incident folder")
    allowed = incident_dir / ALLOWED_SIGNERS
    others = checkpoint_signer_lines(incident_dir, signer.fingerprint)
    write_private_file(allowed, allowed_signers_text(
        [signer.allowed_signers_line(), *others, *extra_signers]).encode())
    # The signature is written before the sums it signs: a crash between the two
    # leaves a signature that still verifies over the files, which verify reports as
    # an interrupted seal; sums without a signature are then always tampering.
    sums, sig = incident_dir / SUMS, incident_dir / SUMS_SIG
    sums.unlink(missing_ok=True)
    sig.unlink(missing_ok=True)
    text, count = sums_text(incident_dir)
    data = text.encode("utf-8")
    write_private_file(sig, signer.sign(data, INCIDENT_NAMESPACE).encode("ascii"))
    write_private_file(sums, data)
    return Sealed(sums, sig, allowed, count, verify_command(signer.email))
