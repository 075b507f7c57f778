"""Verifying an incident folder: everything an auditor's stock-tool commands check,
at once, with the first bad line named.

Checks: each journal line's ``prev`` link and ``seq``; each
``signatures/journal.<seq>.sig`` over the journal's first seq+1 lines (and that
line seq is a checkpoint); approval tokens over their plan files; ``SHA256SUMS``
against every file (and that no file was added); ``SHA256SUMS.sig``; that every
signing key is in allowed_signers and is the key the journal records for a
responder; every plan file against its name and the journal; and anchors kept
outside the folder. A torn last line, an interrupted seal or lines an open
incident has not signed yet are "incomplete"/"unconfirmed" (exit 2), not tampering.

Where the chain breaks at seq N, line N-1 may be the changed one (its hash no longer
matches N's ``prev``), so the checks that read the journal (plans it names, responder
keys, whether it was closed) use seq 0 to N-2 only, and say what they could not check
rather than claim what is not in the rest. Those lines are not vouched for: a forger
can re-link the lines after an edit, and only the checkpoints' signatures (reported
on their own) say which lines a responder signed.

One module (~480 lines): every check reads the same parsed journal and writes the same
report, so split apart each would pass both around.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from rescind.errors import RescindError, UsageError
from rescind.record import allowed_signers as allowed
from rescind.record import sshsig
from rescind.record.approval import APPROVAL_NAMESPACE, plan_path
from rescind.record.bundle import (
    ALLOWED_SIGNERS,
    SUMS,
    SUMS_SIG,
    UNSUMMED,
    file_sha256,
    sums_text,
)
from rescind.record.checkpoint import INCIDENT_NAMESPACE, SIGNATURES_DIR, parse_anchor
from rescind.record.journal import ZERO_HASH, Entry, chain_problem, entry_prev, parse_line
from rescind.record.trust import responder_fingerprint

JOURNAL = "journal.jsonl"
_JOURNAL_SIG = re.compile(r"journal\.(0|[1-9][0-9]*)\.sig")
_APPROVAL_SIG = re.compile(r"approval\.(.+)\.([0-9a-f]{12})\.sig")
_SUMS_LINE = re.compile(r"([0-9a-f]{64}) [ *](.+)")
_PLAN_FILE = re.compile(r"(.+)\.([0-9a-f]{12})\.json")


@dataclass
class VerifyReport:
    status: str = "ok"  # ok | tampered | incomplete | unconfirmed
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    incident: str | None = None
    lines: int = 0  # lines the chain vouches for (all of them, unless it breaks)
    head: str = ZERO_HASH
    broken_at: int | None = None  # seq of the first line whose link or form is wrong
    checkpoints_verified: int = 0
    approvals_verified: int = 0
    anchors_verified: int = 0
    sealed: bool = False
    sums_checked: int = 0
    seal_verified: bool = False
    signer: str | None = None  # "principal SHA256:..." of the seal (else last checkpoint)
    allowed_signers: str | None = None  # which file the keys were checked against
    # Lines of an open incident after its last responder-signed checkpoint: nobody
    # vouched for them yet (whoever can write the folder could have added them).
    unconfirmed: int = 0

    @property
    def exit_code(self) -> int:
        return {"ok": 0, "tampered": 1, "incomplete": 2, "unconfirmed": 2}[self.status]

    def summary(self) -> list[str]:
        """Human-readable lines for the CLI and the TUI."""
        verdict = {"ok": "INTACT", "tampered": "TAMPERED", "incomplete": "INCOMPLETE",
                   "unconfirmed": f"UNCONFIRMED ({self.unconfirmed} unsigned lines)"}
        out = [f"{verdict[self.status]}: {self.incident or 'incident'}"]
        if self.broken_at is None:
            out.append(f"  journal:      {self.lines} lines, head {self.head}")
        elif self.lines:
            out.append(f"  journal:      chain breaks at seq {self.broken_at}; checked "
                       f"against seq 0-{self.lines - 1}, the lines before it that still link "
                       f"(head {self.head}); the checkpoints say which are signed")
        else:
            out.append(f"  journal:      chain breaks at seq {self.broken_at}; no line left "
                       "to check against")
        if self.unconfirmed:
            out.append(f"  unconfirmed:  the last {self.unconfirmed} lines, after the last "
                       "signed checkpoint")
        out.append(f"  checkpoints:  {self.checkpoints_verified} signatures verified")
        if self.approvals_verified:
            out.append(f"  approvals:    {self.approvals_verified} verified")
        if self.anchors_verified:
            out.append(f"  anchors:      {self.anchors_verified} match")
        if self.sealed:
            out.append(f"  sums:         {self.sums_checked} files match SHA256SUMS")
            out.append("  seal:         SHA256SUMS.sig "
                       + ("verified" if self.seal_verified else "NOT verified"))
        else:
            out.append("  seal:         not sealed")
        out.append(f"  signer:       {self.signer or 'unknown'}")
        if self.allowed_signers:
            out.append(f"  keys checked against: {self.allowed_signers}")
        out.extend(f"  problem: {p}" for p in self.problems)
        out.extend(f"  note: {n}" for n in self.notes)
        return out


class _Checker:
    def __init__(self, incident_dir: Path, trusted: Path | None) -> None:
        self.dir = incident_dir
        self.report = VerifyReport()
        self.tampered = False
        self.incomplete = False
        self.trust: list[allowed.AllowedSigner] | None = None
        self.principal_by_fp: dict[str, str] = {}
        self.signers: dict[int, str] = {}  # checkpoint seq -> fingerprint of its signature
        # Responder keys the journal records (incident.open / incident.resume), by seq.
        self.responders: list[tuple[int, str]] = []
        self.vouched = -1  # last checkpoint seq signed by a key recorded before it
        self._load_trust(trusted)

    def problem(self, text: str) -> None:
        self.report.problems.append(text)
        self.tampered = True

    def unfinished(self, text: str) -> None:
        self.report.problems.append(text)
        self.incomplete = True

    def _load_trust(self, trusted: Path | None) -> None:
        if trusted is not None:
            self.trust = allowed.load(trusted)  # a bad file of the auditor's: their error
            self.report.allowed_signers = str(trusted)
            return
        own = self.dir / ALLOWED_SIGNERS
        if not own.is_file():
            self.report.notes.append(
                "no allowed_signers: signatures were checked, but not whose keys made them; "
                "pass --allowed-signers with the team's own list")
            return
        try:
            self.trust = allowed.load(own)
        except RescindError as exc:
            self.problem(f"{ALLOWED_SIGNERS}: {exc.message}")
            return
        self.report.allowed_signers = f"{own} (the bundle's own copy)"
        self.report.notes.append(
            "keys were checked against the bundle's own allowed_signers; an auditor should "
            "pass --allowed-signers with the team's own copy (anyone who rewrites a record "
            "can also rewrite that file)")

    def trusted(self, what: str, key: Ed25519PublicKey, namespace: str) -> str:
        """The principal for ``key``, or a problem if it is not in allowed_signers."""
        fp = sshsig.fingerprint(key)
        if self.trust is None:
            return fp
        principals = allowed.find_principals(self.trust, key, namespace)
        if not principals:
            self.problem(f"{what}: signed by {fp}, a key not in allowed_signers for {namespace}")
            return fp
        self.principal_by_fp[fp] = principals[0]
        return f"{principals[0]} {fp}"

    def responder_key(self, what: str, fp: str, through: int | None) -> bool:
        """Whether ``fp`` is a key the journal records for a responder (at or before
        seq ``through``); a problem if not. An allowed_signers file cannot vouch for
        it: a record re-signed with another key ships its own allowed_signers too."""
        recorded = {f for s, f in self.responders if through is None or s <= through}
        if fp in recorded:
            return True
        broken = self.report.broken_at
        if broken is not None and (through is None or through >= self.report.lines):
            # A later line (an incident.resume) may record it: not known, so not claimed.
            self.report.notes.append(
                f"{what}: signed by {fp}, a key the lines before seq "
                f"{self.report.lines} do not record for a responder; whether a later line "
                f"does is not known, as the chain breaks at seq {broken}")
            return False
        named = ", ".join(sorted(recorded)) or "none"
        self.problem(f"{what}: signed by {fp}, not by the responder key the journal "
                     f"records ({named}): the record was re-signed with another key")
        return False


def verify_incident(incident_dir: Path, *, allowed_signers: Path | None = None,
                    anchors: list[str] | tuple[str, ...] = ()) -> VerifyReport:
    """Check an incident folder; see the module docstring. Raises UsageError only for
    what the caller got wrong (no such folder, unreadable allowed_signers, bad anchor)."""
    d = Path(incident_dir)
    if not d.is_dir():
        raise UsageError(f"{d} is not a folder", fix="pass the incident folder")
    parsed_anchors = [parse_anchor(a) for a in anchors]
    c = _Checker(d, allowed_signers)
    r = c.report
    journal_path = d / JOURNAL
    if not journal_path.is_file():
        if not any((d / name).exists() for name in (SUMS, SUMS_SIG, SIGNATURES_DIR)):
            raise UsageError(f"{d} is not an incident folder (it has no {JOURNAL})",
                             fix="pass a folder that `rescind run` created under incidents/")
        c.problem(f"{JOURNAL} is missing")
        data = b""
    else:
        data = journal_path.read_bytes()
        if not data:
            c.unfinished(f"{JOURNAL} is empty: the incident recorded nothing (it was "
                         "interrupted while it was being opened)")

    # Raw complete lines; signatures and anchors are over bytes, valid chain or not.
    ends: list[int] = []
    pos = 0
    while (nl := data.find(b"\n", pos)) >= 0:
        ends.append(nl + 1)
        pos = nl + 1
    torn = len(data) - pos
    hashes: list[str] = []
    entries: list[Entry] = []
    prev = ZERO_HASH
    start = 0
    for seq, end in enumerate(ends):
        line = data[start:end]
        start = end
        hashes.append(hashlib.sha256(line).hexdigest())
        if r.broken_at is None:
            try:
                entry = parse_line(line, expect_seq=seq)
                if entry_prev(entry) != prev:
                    raise ValueError(chain_problem(seq))
                entries.append(entry)
            except ValueError as exc:
                c.problem(f"seq {seq}: {exc}")
                r.broken_at = seq
        prev = hashes[-1]
    chain_ok = r.broken_at is None
    if not chain_ok:
        del entries[-1:]  # the line before the break: its hash no longer links
    r.lines = len(entries)
    r.head = hashes[r.lines - 1] if r.lines else ZERO_HASH
    plans: dict[str, str] = {}  # plan file name -> the plan hash the journal gives it
    for entry in entries:
        _note_entry(c, entry, plans)
    if entries and entries[0].kind == "incident.open":
        r.incident = str(entries[0].data.get("incident") or "") or None
    closed = any(e.kind == "incident.close" for e in entries)
    kinds: list[str | None] = [e.kind for e in entries]
    kinds += [None] * (len(ends) - len(kinds))
    if torn:
        c.unfinished(f"seq {len(ends)}: the last line is incomplete ({torn} bytes without a "
                     "newline): a crash mid-write, not tampering; `rescind resume` repairs it")

    signed_seqs = _check_signatures(c, data, ends, kinds)
    unsigned = [s for s, k in enumerate(kinds) if k == "checkpoint" and s not in signed_seqs]
    if unsigned:
        r.notes.append("checkpoint(s) without a signature file: seq "
                       + ", ".join(map(str, unsigned)))

    for anchor in parsed_anchors:
        if r.incident and anchor.incident != r.incident:
            c.problem(f"anchor seq={anchor.seq} is for incident {anchor.incident}, "
                      f"this record is {r.incident}")
        elif anchor.seq >= len(hashes) or hashes[anchor.seq] != anchor.sha256:
            c.problem(f"journal truncated or rewritten after anchor seq={anchor.seq}")
        elif (fp := c.signers.get(anchor.seq)) and fp != anchor.fingerprint:
            c.problem(f"anchor seq={anchor.seq} names key {anchor.fingerprint}, but "
                      f"signatures/journal.{anchor.seq}.sig is by {fp}")
        else:
            r.anchors_verified += 1

    _check_plans(c, plans)
    _check_seal(c, closed)
    if not r.sealed and not closed and r.lines and chain_ok and not torn:
        r.unconfirmed = r.lines - c.vouched - 1
        if r.unconfirmed:
            since = f"seq {c.vouched}" if c.vouched >= 0 else "the incident opened"
            r.notes.append(
                f"seq {c.vouched + 1}-{r.lines - 1} ({r.unconfirmed} lines) come after the "
                f"last checkpoint a responder signed ({since}): unconfirmed. A running "
                "incident signs them at its next checkpoint; `rescind resume` re-checks "
                "them with the cloud")
    if r.signer is None and c.signers:
        last = c.signers[max(c.signers)]
        principal = c.principal_by_fp.get(last)
        r.signer = f"{principal} {last}" if principal else last
    r.status = ("tampered" if c.tampered else "incomplete" if c.incomplete
                else "unconfirmed" if r.unconfirmed else "ok")
    return r


def _note_entry(c: _Checker, entry: Entry, plans: dict[str, str]) -> None:
    """Remember what later checks need from a journal line: responder keys, plans."""
    if (fp := responder_fingerprint(entry)) is not None:
        c.responders.append((entry.seq, fp))
    elif entry.kind == "action.plan":
        digest = str(entry.data.get("plan_hash") or "")
        step = str(entry.data.get("step") or "")
        plans[plan_path(c.dir, step, digest).name] = digest


def _check_plans(c: _Checker, journaled: dict[str, str]) -> None:
    """Every plan file, approved or not: its bytes against its name and against the
    hash the journal's action.plan entry gives; and every journaled plan is there."""
    folder = c.dir / "plans"
    present = {p.name: p for p in folder.iterdir() if p.is_file()} if folder.is_dir() else {}
    unchecked = 0  # plan files only an untrusted line could name
    for name, path in sorted(present.items()):
        m = _PLAN_FILE.fullmatch(name)
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
        if m is None:
            c.problem(f"plans/{name}: not a plan file rescind writes (<step>.<hash>.json)")
        elif actual[:12] != m[2]:
            c.problem(f"plans/{name}: its content no longer has the hash its name says")
        elif name in journaled:
            if journaled[name] != actual:
                c.problem(f"plans/{name}: its SHA-256 differs from the plan_hash the journal "
                          "records for it")
        elif c.report.broken_at is None:
            c.problem(f"plans/{name}: no action.plan entry in the journal names this plan")
        else:
            unchecked += 1
    if unchecked:
        files = "1 plan file" if unchecked == 1 else f"{unchecked} plan files"
        c.report.notes.append(
            f"plans/: {files} not checked against the journal: no line before seq "
            f"{c.report.lines} names them, and the lines from there on are not checked (the chain "
            f"breaks at seq {c.report.broken_at})")
    for name in sorted(set(journaled) - set(present)):
        c.problem(f"plans/{name}: the journal records this plan, but the file is missing")


def _check_signatures(c: _Checker, data: bytes, ends: list[int],
                      kinds: list[str | None]) -> set[int]:
    """Checkpoint and approval signatures; returns the seqs with a journal signature."""
    sig_dir = c.dir / SIGNATURES_DIR
    if not sig_dir.is_dir():
        return set()
    journal_sigs: dict[int, Path] = {}
    for path in sorted(sig_dir.iterdir()):
        rel = f"{SIGNATURES_DIR}/{path.name}"
        if m := _JOURNAL_SIG.fullmatch(path.name):
            journal_sigs[int(m[1])] = path
        elif m := _APPROVAL_SIG.fullmatch(path.name):
            _check_approval(c, path, rel, m[1], m[2])
        else:
            c.report.notes.append(f"{rel}: not a signature rescind writes; not checked")

    # One running SHA-512 over the journal, copied at each signed seq: O(size), not
    # O(size x checkpoints).
    running = hashlib.sha512()
    done = 0
    for seq in sorted(journal_sigs):
        rel = f"{SIGNATURES_DIR}/journal.{seq}.sig"
        if seq >= len(ends):
            c.problem(f"{rel} signs the journal through seq {seq}, but it has only "
                      f"{len(ends)} complete lines: journal truncated after seq {seq}")
            continue
        if kinds[seq] is not None and kinds[seq] != "checkpoint":
            c.problem(f"seq {seq}: {rel} signs it, but it is a {kinds[seq]} entry, "
                      "not a checkpoint")
        running.update(data[done:ends[seq]])
        done = ends[seq]
        try:
            sig = sshsig.parse(journal_sigs[seq].read_text(encoding="ascii", errors="replace"))
            digests = {"sha512": running.copy().digest()}
            if sig.hash_alg != "sha512":
                digests = {sig.hash_alg: hashlib.new(sig.hash_alg, data[:ends[seq]]).digest()}
            key = sshsig.verify_parsed(sig, INCIDENT_NAMESPACE, digests=digests)
        except sshsig.SignatureInvalid as exc:
            c.problem(f"{rel}: {exc.message} (the journal's first {seq + 1} lines)")
            continue
        c.trusted(rel, key, INCIDENT_NAMESPACE)
        fp = c.signers[seq] = sshsig.fingerprint(key)
        if c.responder_key(rel, fp, seq) and kinds[seq] == "checkpoint":
            c.vouched = seq
        c.report.checkpoints_verified += 1
    return set(journal_sigs)


def _check_approval(c: _Checker, path: Path, rel: str, step: str, short: str) -> None:
    plan = plan_path(c.dir, step, short)
    if not plan.is_file():
        c.problem(f"{rel}: its plan file plans/{plan.name} is missing")
        return
    plan_bytes = plan.read_bytes()  # its hash is checked with every plan's
    try:
        key = sshsig.verify(path.read_text(encoding="ascii", errors="replace"), plan_bytes,
                            APPROVAL_NAMESPACE)
    except sshsig.SignatureInvalid as exc:
        c.problem(f"{rel}: {exc.message}")
        return
    c.trusted(rel, key, APPROVAL_NAMESPACE)
    c.report.approvals_verified += 1


def _listed_files(d: Path, c: _Checker) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for path in d.rglob("*"):
        rel = path.relative_to(d).as_posix()
        if path.is_symlink():
            c.problem(f"{rel}: a symbolic link in the record")
        elif path.is_file() and rel not in UNSUMMED:
            out[rel] = path
    return out


def _check_seal(c: _Checker, closed: bool) -> None:
    r, d = c.report, c.dir
    sums, sig = d / SUMS, d / SUMS_SIG
    if not sums.exists() and not sig.exists():
        if closed:
            c.unfinished("the journal says the incident was closed, but the folder is not "
                         "sealed (no SHA256SUMS): sealing was interrupted, or the seal "
                         f"removed; `rescind seal {d}` completes it")
        elif r.broken_at is not None:
            r.notes.append(f"not sealed; whether the incident was closed is not known: the "
                           f"chain breaks at seq {r.broken_at}")
        else:
            r.notes.append("not sealed: the incident is still open; the chain and checkpoints "
                           "were checked")
        return
    r.sealed = True
    if not sums.is_file():
        _check_signature_without_sums(c)
        return
    sums_bytes = sums.read_bytes()
    present = _listed_files(d, c)
    listed: set[str] = set()
    for n, raw in enumerate(sums_bytes.decode("utf-8", "replace").splitlines(), start=1):
        m = _SUMS_LINE.fullmatch(raw)
        rel = m[2] if m else ""
        if not m or rel.startswith("/") or ".." in rel.split("/"):
            c.problem(f"{SUMS} line {n}: not a `<sha256>  <relative path>` line")
            continue
        if rel in listed:
            c.problem(f"{SUMS} line {n}: {rel} is listed twice")
            continue
        listed.add(rel)
        path = present.get(rel)
        if path is None:
            c.problem(f"{rel}: listed in {SUMS} but missing")
        elif file_sha256(path) != m[1]:
            c.problem(f"{rel}: changed since the seal (its SHA-256 differs from {SUMS})")
        else:
            r.sums_checked += 1
    for rel in sorted(set(present) - listed):
        c.problem(f"{rel}: not listed in {SUMS} (added after the seal)")
    if not sig.is_file():
        # Sealing writes the signature before the sums, so no crash leaves this state.
        c.problem(f"{SUMS_SIG} is missing (sealing writes it before {SUMS}, so this is "
                  "not an interrupted seal)")
        return
    try:
        key = sshsig.verify(sig.read_text(encoding="ascii", errors="replace"), sums_bytes,
                            INCIDENT_NAMESPACE)
    except sshsig.SignatureInvalid as exc:
        c.problem(f"{SUMS_SIG}: {exc.message}")
        return
    r.signer = c.trusted(SUMS_SIG, key, INCIDENT_NAMESPACE)
    if c.responder_key(SUMS_SIG, sshsig.fingerprint(key), None):
        r.seal_verified = True


def _check_signature_without_sums(c: _Checker) -> None:
    """The seal's signature without its SHA256SUMS: a crash between the two writes
    (the signature is written first) if it verifies over the sums of the files as
    they are, and tampering otherwise."""
    try:
        text, _count = sums_text(c.dir)
        key = sshsig.verify((c.dir / SUMS_SIG).read_text(encoding="ascii", errors="replace"),
                            text.encode("utf-8"), INCIDENT_NAMESPACE)
    except (RescindError, sshsig.SignatureInvalid):
        c.problem(f"{SUMS} is missing but {SUMS_SIG} exists, and it does not match the "
                  "files as they are")
        return
    c.report.signer = c.trusted(SUMS_SIG, key, INCIDENT_NAMESPACE)
    if c.responder_key(SUMS_SIG, sshsig.fingerprint(key), None):
        c.unfinished(f"sealing was interrupted: {SUMS_SIG} was written and matches every "
                     f"file, but {SUMS} was not; `rescind seal {c.dir}` completes it")
