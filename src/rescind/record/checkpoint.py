"""Checkpoints: sign the journal so far, and the anchor line people keep elsewhere.

A checkpoint appends a ``checkpoint`` entry, then signs the journal's exact bytes
through that entry into ``signatures/journal.<seq>.sig`` (SSHSIG, namespace
``rescind-incident``). Older signatures stay valid because the file only grows.
The anchor pasted into a ticket is the outside copy that makes later truncation
or rewriting detectable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rescind.errors import UsageError
from rescind.record import sshsig
from rescind.record.journal import Entry, Journal, ensure_private_dir, write_private_file
from rescind.record.keys import Signer

INCIDENT_NAMESPACE = "rescind-incident"
SIGNATURES_DIR = "signatures"
_ANCHOR = re.compile(r"ANCHOR\s+(\S+)\s+seq=(\d+)\s+sha256=([0-9a-f]{64})"
                     r"\s+key=(SHA256:[A-Za-z0-9+/]{43})")


@dataclass
class Anchor:
    incident: str
    seq: int
    sha256: str  # of journal line ``seq``, including its newline
    fingerprint: str  # of the key that signed the checkpoint

    @property
    def line(self) -> str:
        return f"ANCHOR {self.incident} seq={self.seq} sha256={self.sha256} key={self.fingerprint}"

    def __str__(self) -> str:
        return self.line


def parse_anchor(line: str) -> Anchor:
    """Read an anchor line, also from a pasted chat message or ticket comment around it."""
    m = _ANCHOR.search(line)
    if m is None:
        raise UsageError(f"not an anchor line: {line.strip()[:80]!r}",
                         fix="paste the whole `ANCHOR <incident> seq=N sha256=... key=SHA256:...` "
                             "line")
    return Anchor(m[1], int(m[2]), m[3], m[4])


def signature_path(incident_dir: Path, seq: int) -> Path:
    return incident_dir / SIGNATURES_DIR / f"journal.{seq}.sig"


def checkpoint(journal: Journal, signer: Signer, incident_id: str, reason: str,
               extra: dict[str, Any] | None = None) -> Anchor:
    """Append a checkpoint entry and sign the journal through it; returns the anchor."""
    data: dict[str, Any] = {"reason": reason, **(extra or {})}
    entry, sha512 = journal.append_hashed("checkpoint", data)
    return sign_through(journal.path.parent, entry, sha512, signer, incident_id)


def sign_through(incident_dir: Path, entry: Entry, sha512: bytes, signer: Signer,
                 incident_id: str) -> Anchor:
    """Write ``signatures/journal.<seq>.sig`` for checkpoint ``entry``, given the
    SHA-512 of the journal's bytes through it."""
    armored = signer.sign_digest(sha512, INCIDENT_NAMESPACE)
    ensure_private_dir(incident_dir / SIGNATURES_DIR)
    write_private_file(signature_path(incident_dir, entry.seq), armored.encode("ascii"))
    return Anchor(incident_id, entry.seq, entry.sha256, signer.fingerprint)


def anchors_in(incident_dir: Path, entries: list[Entry], incident_id: str) -> list[Anchor]:
    """The anchors of the signed checkpoints among ``entries``, e.g. to rebuild them
    for the report after a resume. The key comes from each signature file (unverified:
    ``verify_incident`` is what checks them)."""
    out = []
    for e in entries:
        path = signature_path(incident_dir, e.seq)
        if e.kind != "checkpoint" or not path.is_file():
            continue
        try:
            fp = sshsig.parse(path.read_text(encoding="ascii", errors="replace")).fingerprint
        except sshsig.SignatureInvalid:
            continue
        out.append(Anchor(incident_id, e.seq, e.sha256, fp))
    return out
