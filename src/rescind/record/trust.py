"""How much of a journal its responders vouched for: the signed prefix.

A journal line proves nothing by itself: whoever can write the incident folder can
append correctly chained lines. What a responder vouched for is what a checkpoint
signature covers, made by a key the journal itself records for a responder (in
``incident.open`` or ``incident.resume``, lines that are themselves signed by the
checkpoint). Lines after the last such checkpoint are unconfirmed: resume
re-checks them with the cloud, and verify says how many there are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from rescind.record import sshsig
from rescind.record.checkpoint import INCIDENT_NAMESPACE, signature_path
from rescind.record.journal import Entry

# The lines the sealing window leaves unsigned: a crash after the close entry, or
# after its checkpoint line but before the checkpoint's signature file.
_SEALING_TAILS = (("incident.close",), ("incident.close", "checkpoint"))


def responder_fingerprint(entry: Entry) -> str | None:
    """The key fingerprint a responder-recording entry names, if it is one."""
    if entry.kind not in ("incident.open", "incident.resume"):
        return None
    who = entry.data.get("responder")
    fp = who.get("fingerprint") if isinstance(who, dict) else None
    return str(fp) if fp else None


@dataclass
class SignedPrefix:
    lines: int  # complete lines in the journal
    through: int = -1  # last seq a responder's checkpoint signature covers; -1: none
    responders: dict[str, str] = field(default_factory=dict)  # fingerprint -> email
    signer: str | None = None  # fingerprint of the checkpoint at ``through``
    rejected: list[str] = field(default_factory=list)  # checkpoints not counted, and why

    @property
    def unsigned(self) -> int:
        """How many lines come after the signed prefix."""
        return self.lines - self.through - 1

    def tail(self, entries: list[Entry]) -> list[Entry]:
        return entries[self.through + 1:]

    def sealing_only(self, entries: list[Entry]) -> bool:
        """True when the only unsigned lines are what an interrupted seal leaves."""
        # A torn line the repair recorded is the same crash's trace, not a claim.
        kinds = tuple(e.kind for e in self.tail(entries) if e.kind != "journal.torn")
        return kinds in _SEALING_TAILS


def signed_prefix(incident_dir: Path, entries: Iterable[Entry]) -> SignedPrefix:
    """Find the last checkpoint whose signature verifies over the journal through it
    and was made by a key recorded (at or before it) as a responder's."""
    running = hashlib.sha512()
    responders: dict[str, str] = {}
    out = SignedPrefix(lines=0)
    for entry in entries:
        running.update(entry.line)
        out.lines += 1
        if (fp := responder_fingerprint(entry)) is not None:
            who = entry.data["responder"]
            responders[fp] = str(who.get("email") or "")
        path = signature_path(incident_dir, entry.seq)
        if entry.kind != "checkpoint" or not path.is_file():
            continue
        rel = f"signatures/{path.name}"
        try:
            sig = sshsig.parse(path.read_text(encoding="ascii", errors="replace"))
            if sig.hash_alg != "sha512":
                raise sshsig.SignatureInvalid(f"a {sig.hash_alg} signature; rescind signs "
                                              "checkpoints with sha512")
            sshsig.verify_parsed(sig, INCIDENT_NAMESPACE,
                                 digests={"sha512": running.copy().digest()})
        except sshsig.SignatureInvalid as exc:
            out.rejected.append(f"{rel}: {exc.message}")
            continue
        if sig.fingerprint not in responders:
            out.rejected.append(f"{rel}: signed by {sig.fingerprint}, a key the journal "
                                "does not record for any responder")
            continue
        out.through, out.signer = entry.seq, sig.fingerprint
    out.responders = responders
    return out
