from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from rescind.errors import UsageError
from rescind.record.checkpoint import anchors_in, checkpoint, parse_anchor, signature_path
from rescind.record.journal import Journal, read_entries
from tests.record.conftest import SshKey


def test_checkpoint_signs_the_journal_through_itself(jane: SshKey, tmp_path: Path) -> None:
    folder = tmp_path / "incident"
    signer = jane.signer("Jane Doe")
    with Journal.create(folder / "journal.jsonl") as j:
        j.append("incident.open", {"incident": "IR-7"})
        j.append("note", {"text": "before"})
        anchor = checkpoint(j, signer, "IR-7", "phase", {"phase": "contain"})
        j.append("note", {"text": "after"})  # later lines do not disturb the signature
    entries = list(read_entries(folder / "journal.jsonl"))
    assert anchor.seq == 2 and entries[2].kind == "checkpoint"
    assert entries[2].data == {"reason": "phase", "phase": "contain"}
    assert anchor.sha256 == entries[2].sha256
    assert anchor.fingerprint == signer.fingerprint
    assert anchor.line == (f"ANCHOR IR-7 seq=2 sha256={entries[2].sha256} "
                           f"key={signer.fingerprint}")
    sig = signature_path(folder, 2)
    assert sig == folder / "signatures" / "journal.2.sig"
    assert stat.S_IMODE(sig.stat().st_mode) == 0o600
    assert stat.S_IMODE(sig.parent.stat().st_mode) == 0o700
    allowed = tmp_path / "allowed"
    allowed.write_text(signer.allowed_signers_line() + "\n")
    # Exactly the stock command record-format.md gives.
    res = subprocess.run(
        f"head -n 3 journal.jsonl | ssh-keygen -Y verify -f {allowed} -I jane@example.com "
        "-n rescind-incident -s signatures/journal.2.sig", shell=True, cwd=folder,
        capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    res = subprocess.run(
        f"head -n 4 journal.jsonl | ssh-keygen -Y verify -f {allowed} -I jane@example.com "
        "-n rescind-incident -s signatures/journal.2.sig", shell=True, cwd=folder,
        capture_output=True, text=True, check=False)
    assert res.returncode != 0
    assert anchors_in(folder, entries, "IR-7") == [anchor]


def test_parse_anchor_from_pasted_text(jane: SshKey) -> None:
    line = ("ANCHOR 20261123-x-1 seq=42 sha256=" + "ab" * 32 + " key=SHA256:"
            + "IRPRmZBd61dwV14rVQ4PIsaVBiDaZ0kJCopXeygPaic")
    anchor = parse_anchor(f"  [03:14] jane: {line} (kept for the audit)\n")
    assert (anchor.incident, anchor.seq, anchor.sha256) == ("20261123-x-1", 42, "ab" * 32)
    assert anchor.line == line
    for bad in ["", "ANCHOR x seq=1", line.replace("sha256=ab", "sha256=zz")]:
        with pytest.raises(UsageError):
            parse_anchor(bad)


def test_checkpoint_signs_the_running_hash_without_rereading_the_journal(
        jane: SshKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkpoint costs the same at line 100 and line 100,000: it signs the journal's
    running SHA-512, also after a reopen and a torn-line repair, and never reads the
    file back."""
    from rescind.record.sshsig import verify

    folder = tmp_path / "incident"
    signer = jane.signer("Jane Doe")
    with Journal.create(folder / "journal.jsonl") as j:
        j.append_many([("note", {"text": f"line {i}"}) for i in range(50)])
    with (folder / "journal.jsonl").open("ab") as fh:
        fh.write(b'{"prev":"torn')  # a crash mid-write: reopening repairs it
    monkeypatch.setattr(Journal, "bytes_through", lambda *_a: pytest.fail("re-read"))
    with Journal.open(folder / "journal.jsonl", repair_torn=True) as j:
        j.append("note", {"text": "after the repair"})
        anchor = checkpoint(j, signer, "IR-7", "phase")
    data = (folder / "journal.jsonl").read_bytes()
    verify(signature_path(folder, anchor.seq).read_text(), data, "rescind-incident")
