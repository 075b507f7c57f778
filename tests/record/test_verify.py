"""Tamper detection: every change to a record is caught, by rescind and by stock tools."""

from __future__ import annotations

import hashlib
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from rescind.errors import UsageError
from rescind.record import sshsig
from rescind.record.allowed_signers import signer_line
from rescind.record.bundle import seal
from rescind.record.checkpoint import checkpoint, parse_anchor
from rescind.record.journal import Journal
from rescind.record.verify import verify_incident
from tests.record.conftest import SshKey
from tests.record.sample import INCIDENT, Sample, build_incident, change_line


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory, jane: SshKey, omar: SshKey) -> Sample:
    """Built once; each test works on its own copy."""
    folder = tmp_path_factory.mktemp("pristine") / "incident"
    return build_incident(folder, jane.signer("Jane Doe"), omar.signer("Omar Approver"))


@pytest.fixture(scope="module")
def pristine_open(tmp_path_factory: pytest.TempPathFactory, jane: SshKey,
                  omar: SshKey) -> Sample:
    """An incident still open (not sealed) whose last line is a signed checkpoint."""
    folder = tmp_path_factory.mktemp("pristine_open") / "incident"
    return build_incident(folder, jane.signer("Jane Doe"), omar.signer("Omar"), close=False,
                          do_seal=False)


def copy_of(sample: Sample, tmp_path: Path) -> Path:
    dest = tmp_path / "incident"
    shutil.copytree(sample.dir, dest)
    return dest


def lines_of(folder: Path) -> list[bytes]:
    return (folder / "journal.jsonl").read_bytes().splitlines(keepends=True)


def test_intact_sealed_record(pristine: Sample, tmp_path: Path) -> None:
    folder = copy_of(pristine, tmp_path)
    report = verify_incident(folder, anchors=[a.line for a in pristine.anchors])
    assert (report.status, report.exit_code, report.problems) == ("ok", 0, [])
    assert report.incident == INCIDENT
    assert report.lines == len(pristine.entries)
    assert report.head == pristine.entries[-1].sha256
    assert report.checkpoints_verified == len(pristine.anchors) == 4
    assert report.approvals_verified == 1 and report.anchors_verified == 4
    assert report.sealed and report.seal_verified
    assert report.sums_checked == len((folder / "SHA256SUMS").read_text().splitlines())
    assert report.signer is not None and report.signer.startswith("jane@example.com SHA256:")
    assert any("team's own copy" in n for n in report.notes)


def test_stock_tools_verify_the_sealed_record(pristine: Sample, tmp_path: Path) -> None:
    """The exact commands report.md prints pass, run by bash from the folder."""
    folder = copy_of(pristine, tmp_path)
    report_md = (folder / "report.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", report_md, flags=re.DOTALL)
    stock, chain, rescind_cmd = blocks
    commands = stock.strip().splitlines()
    assert commands[0].startswith("ssh-keygen -Y verify -f allowed_signers -I jane@example.com "
                                  "-n rescind-incident -s SHA256SUMS.sig < SHA256SUMS")
    assert commands[1] == "sha256sum -c SHA256SUMS"
    assert sum(c.startswith("head -n ") for c in commands) == 4
    assert any("rescind-approval" in c for c in commands)
    for cmd in commands:
        res = subprocess.run(["bash", "-c", cmd], cwd=folder, capture_output=True, text=True,
                             check=False)
        assert res.returncode == 0, (cmd, res.stdout, res.stderr)
    res = subprocess.run(["bash", "-c", chain], cwd=folder, capture_output=True, text=True,
                         check=False)
    assert res.returncode == 0, res.stdout
    assert res.stdout.strip() == f"OK lines={len(pristine.entries)} " \
                                 f"head={pristine.entries[-1].sha256}"
    assert rescind_cmd.startswith("rescind verify .")
    # ...and the same stock commands fail once the record is changed.
    report_path = folder / "report.md"
    report_path.write_text(report_md.replace("resolved", "resolvex", 1))
    res = subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=folder,
                         capture_output=True, text=True, check=False)
    assert res.returncode == 1 and "report.md: FAILED" in res.stdout
    journal = folder / "journal.jsonl"
    data = bytearray(journal.read_bytes())
    data[len(lines_of(folder)[0]) + 20] ^= 0x01  # inside line 2's prev
    journal.write_bytes(bytes(data))
    res = subprocess.run(["bash", "-c", chain], cwd=folder, capture_output=True, text=True,
                         check=False)
    assert res.returncode == 1 and "chain broken at line 2" in res.stdout


def flip_positions(journal: bytes, rng: random.Random) -> list[int]:
    lines = journal.splitlines(keepends=True)
    positions: set[int] = set()
    start = 0
    for n, line in enumerate(lines):
        if n in (0, 1, len(lines) // 2, len(lines) - 2, len(lines) - 1):
            positions.update(start + i for i in range(9, 73, 7))  # inside prev
        positions.add(start + len(line) - 1)  # every newline
        positions.add(start + line.index(b'"data":') + 9)  # inside data
        positions.add(start + 1)  # the key name "prev"
        start += len(line)
    positions.update(rng.sample(range(len(journal)), 60))
    return sorted(positions)


@pytest.mark.parametrize("which", ["sealed", "open"])
def test_every_single_byte_flip_is_detected(which: str, pristine: Sample,
                                            pristine_open: Sample, tmp_path: Path) -> None:
    sample = pristine if which == "sealed" else pristine_open
    folder = copy_of(sample, tmp_path)
    journal = folder / "journal.jsonl"
    original = journal.read_bytes()
    line_starts = [0]
    for line in original.splitlines(keepends=True):
        line_starts.append(line_starts[-1] + len(line))
    rng = random.Random(1234)
    positions = flip_positions(original, rng)
    assert len(positions) > 150
    for pos in positions:
        data = bytearray(original)
        data[pos] ^= 1 << rng.randrange(8)
        journal.write_bytes(bytes(data))
        report = verify_incident(folder)
        assert report.exit_code == 1, (pos, report.problems)
        assert report.status == "tampered"
        line_no = max(i for i, s in enumerate(line_starts) if s <= pos)
        first = report.problems[0]
        if line_no < len(line_starts) - 2 and original[pos] != 0x0A:
            # Not the last line: the chain itself names the changed line or the next one.
            seqs = {int(m) for m in re.findall(r"^seq (\d+):", first)}
            assert seqs & {line_no, line_no + 1}, (pos, first)
    journal.write_bytes(original)
    assert verify_incident(folder).exit_code == 0


def test_deleting_reordering_duplicating_lines(pristine: Sample, tmp_path: Path) -> None:
    folder = copy_of(pristine, tmp_path)
    journal = folder / "journal.jsonl"
    lines = lines_of(folder)
    cases = {
        "delete first": lines[1:],
        "delete middle": lines[:5] + lines[6:],
        "swap": [*lines[:3], lines[4], lines[3], *lines[5:]],
        "duplicate": [*lines[:7], lines[6], *lines[7:]],
        "duplicate last": [*lines, lines[-1]],
        "delete last": lines[:-1],
    }
    for name, new in cases.items():
        journal.write_bytes(b"".join(new))
        report = verify_incident(folder)
        assert report.exit_code == 1, (name, report.problems)
    journal.write_bytes(b"".join(lines[:5] + lines[6:]))
    assert verify_incident(folder).problems[0].startswith("seq 5: seq is 6, expected 5")


def test_replaced_checkpoint_signature_is_detected(pristine_open: Sample, mallory: SshKey,
                                                   omar: SshKey, tmp_path: Path) -> None:
    folder = copy_of(pristine_open, tmp_path)
    seq = pristine_open.anchors[1].seq
    sig = folder / "signatures" / f"journal.{seq}.sig"
    original = sig.read_bytes()
    # Another key signing the very same bytes: the signature is valid, the key is not trusted.
    prefix = b"".join(lines_of(folder)[:seq + 1])
    sig.write_text(sshsig.sign(mallory.private, prefix, "rescind-incident"))
    allowed = tmp_path / "team_allowed_signers"
    allowed.write_text(signer_line("jane@example.com",
                                   sshsig.public_key_line(pristine_jane_key(folder))) + "\n"
                       + signer_line("omar@example.com", omar.pub_path.read_text(),
                                     "rescind-approval") + "\n")
    report = verify_incident(folder, allowed_signers=allowed)
    assert report.exit_code == 1
    assert any(f"signatures/journal.{seq}.sig: signed by SHA256:" in p
               and "not in allowed_signers" in p for p in report.problems)
    # A signature of another checkpoint (another seq) under this name.
    other = pristine_open.anchors[0].seq
    sig.write_bytes((folder / "signatures" / f"journal.{other}.sig").read_bytes())
    report = verify_incident(folder, allowed_signers=allowed)
    assert report.exit_code == 1
    assert any(p.startswith(f"signatures/journal.{seq}.sig: signature by") for p in
               report.problems)
    sig.write_bytes(original)
    assert verify_incident(folder, allowed_signers=allowed).exit_code == 0


def pristine_jane_key(folder: Path) -> Ed25519PublicKey:
    first_sig = sorted((folder / "signatures").glob("journal.*.sig"))[0]
    return sshsig.parse(first_sig.read_text()).public_key


def test_replaced_signature_in_sealed_bundle(pristine: Sample, mallory: SshKey,
                                             tmp_path: Path) -> None:
    folder = copy_of(pristine, tmp_path)
    seq = pristine.anchors[-1].seq
    prefix = b"".join(lines_of(folder)[:seq + 1])
    (folder / "signatures" / f"journal.{seq}.sig").write_text(
        sshsig.sign(mallory.private, prefix, "rescind-incident"))
    report = verify_incident(folder)
    assert report.exit_code == 1
    assert f"signatures/journal.{seq}.sig: changed since the seal (its SHA-256 differs " \
           "from SHA256SUMS)" in report.problems


def test_signature_on_a_line_that_is_not_a_checkpoint(pristine_open: Sample, jane: SshKey,
                                                      tmp_path: Path) -> None:
    folder = copy_of(pristine_open, tmp_path)
    prefix = b"".join(lines_of(folder)[:4])
    (folder / "signatures" / "journal.3.sig").write_text(
        sshsig.sign(jane.private, prefix, "rescind-incident"))
    report = verify_incident(folder)
    assert report.exit_code == 1
    assert any(p.startswith("seq 3: signatures/journal.3.sig signs it, but it is a manual.ack")
               for p in report.problems)


def test_editing_report_adding_and_removing_files(pristine: Sample, tmp_path: Path) -> None:
    folder = copy_of(pristine, tmp_path)
    report_md = folder / "report.md"
    original = report_md.read_bytes()
    report_md.write_bytes(original.replace(b"Jane Doe", b"Jane Dof", 1))
    report = verify_incident(folder)
    assert report.exit_code == 1
    assert report.problems == ["report.md: changed since the seal (its SHA-256 differs from "
                               "SHA256SUMS)"]
    report_md.write_bytes(original)
    (folder / "evidence" / "extra.json").write_text("{}")
    assert verify_incident(folder).problems == [
        "evidence/extra.json: not listed in SHA256SUMS (added after the seal)"]
    (folder / "evidence" / "extra.json").unlink()
    (folder / "evidence" / "cloudtrail.jsonl").unlink()
    assert verify_incident(folder).problems == [
        "evidence/cloudtrail.jsonl: listed in SHA256SUMS but missing"]


def test_lock_file_is_ignored_but_other_files_are_not(pristine: Sample, tmp_path: Path) -> None:
    folder = copy_of(pristine, tmp_path)
    (folder / ".lock").write_text("pid 123")
    assert verify_incident(folder).exit_code == 0
    (folder / ".hidden").write_text("x")
    assert verify_incident(folder).exit_code == 1


def test_seal_files_removed_or_edited(pristine: Sample, tmp_path: Path) -> None:
    folder = copy_of(pristine, tmp_path)
    sums = folder / "SHA256SUMS"
    text = sums.read_text()
    # Re-listing a changed file's new hash breaks the seal's signature.
    (folder / "timeline.jsonl").write_text("{}\n")
    new_hash = subprocess.run(["sha256sum", "timeline.jsonl"], cwd=folder, check=True,
                              capture_output=True, text=True).stdout.split()[0]
    sums.write_text(re.sub(r"^[0-9a-f]{64}(  timeline\.jsonl)$", new_hash + r"\1", text,
                           flags=re.MULTILINE))
    report = verify_incident(folder)
    assert report.exit_code == 1 and not report.seal_verified
    assert any(p.startswith("SHA256SUMS.sig: signature by") for p in report.problems)
    (folder / "SHA256SUMS.sig").unlink()
    report = verify_incident(folder)
    assert report.exit_code == 1
    assert report.problems[0].startswith("SHA256SUMS.sig is missing")
    sums.unlink()
    # Both gone: the journal says the incident was closed, so the record is incomplete.
    report = verify_incident(folder)
    assert report.exit_code == 2 and "not sealed" in report.problems[0]


def test_truncated_tail_is_detected_against_an_anchor(pristine_open: Sample,
                                                      tmp_path: Path) -> None:
    folder = copy_of(pristine_open, tmp_path)
    last = pristine_open.anchors[-1]
    keep = pristine_open.anchors[-2].seq + 1
    lines = lines_of(folder)
    (folder / "journal.jsonl").write_bytes(b"".join(lines[:keep]))
    # Without the later signature file too, the rest is self-consistent ...
    report = verify_incident(folder)
    assert report.exit_code == 1  # the later signature still exists
    assert any("journal truncated after seq" in p for p in report.problems)
    (folder / "signatures" / f"journal.{last.seq}.sig").unlink()
    report = verify_incident(folder)
    assert report.exit_code == 0  # the known limit: a chain alone cannot see its lost tail
    # ... until the anchor kept outside is checked.
    report = verify_incident(folder, anchors=[last.line])
    assert report.exit_code == 1
    assert report.problems == [f"journal truncated or rewritten after anchor seq={last.seq}"]


def test_rewritten_and_resigned_tail_is_detected_against_an_anchor(
        pristine_open: Sample, jane: SshKey, tmp_path: Path) -> None:
    """Whoever holds the key can re-sign a rewritten journal; an anchor held by others
    does not move."""
    folder = copy_of(pristine_open, tmp_path)
    last = pristine_open.anchors[-1]
    lines = lines_of(folder)
    (folder / "journal.jsonl").write_bytes(b"".join(lines[:last.seq - 3]))
    for s in (folder / "signatures").glob("journal.*.sig"):
        if int(s.name.split(".")[1]) >= last.seq - 3:
            s.unlink()
    with Journal.open(folder / "journal.jsonl") as j:
        j.append("note", {"text": "nothing happened"})
        j.append("phase.end", {"phase": "assess"})
        j.append("note", {"text": "padding"})
        forged = checkpoint(j, jane.signer(), INCIDENT, "phase")
    assert forged.seq == last.seq
    assert verify_incident(folder).exit_code == 0
    report = verify_incident(folder, anchors=[last.line])
    assert report.exit_code == 1
    assert report.problems == [f"journal truncated or rewritten after anchor seq={last.seq}"]


def test_anchor_checks(pristine: Sample, tmp_path: Path) -> None:
    folder = copy_of(pristine, tmp_path)
    a = pristine.anchors[0]
    other = parse_anchor(a.line.replace(INCIDENT, "someone-else"))
    report = verify_incident(folder, anchors=[other.line])
    assert report.exit_code == 1 and "is for incident someone-else" in report.problems[0]
    wrong_key = a.line.replace(a.fingerprint, "SHA256:" + "A" * 43)
    report = verify_incident(folder, anchors=[wrong_key])
    assert report.exit_code == 1 and "names key SHA256:AAAA" in report.problems[0]
    beyond = a.line.replace(f"seq={a.seq}", "seq=999")
    report = verify_incident(folder, anchors=[beyond])
    assert report.problems == ["journal truncated or rewritten after anchor seq=999"]
    with pytest.raises(UsageError):
        verify_incident(folder, anchors=["ANCHOR nonsense"])


def test_torn_last_line_is_incomplete_not_tampered(pristine_open: Sample,
                                                   tmp_path: Path) -> None:
    folder = copy_of(pristine_open, tmp_path)
    with (folder / "journal.jsonl").open("ab") as f:
        f.write(b'{"prev":"' + b"0" * 30)
    report = verify_incident(folder)
    assert (report.status, report.exit_code) == ("incomplete", 2)
    assert report.problems[0].startswith(f"seq {len(pristine_open.entries)}: the last line is "
                                         "incomplete")
    assert report.lines == len(pristine_open.entries)
    # Repair (as resume does): intact, but the repair's own line is not signed yet.
    Journal.open(folder / "journal.jsonl", repair_torn=True).close()
    report = verify_incident(folder)
    assert (report.status, report.exit_code, report.unconfirmed) == ("unconfirmed", 2, 1)


def test_torn_line_in_a_sealed_record_is_tampering(pristine: Sample, tmp_path: Path) -> None:
    folder = copy_of(pristine, tmp_path)
    with (folder / "journal.jsonl").open("ab") as f:
        f.write(b'{"prev":')
    assert verify_incident(folder).exit_code == 1


def test_trust_comes_from_the_given_allowed_signers(pristine: Sample, mallory: SshKey,
                                                    tmp_path: Path) -> None:
    folder = copy_of(pristine, tmp_path)
    team = tmp_path / "team_allowed_signers"
    team.write_text(signer_line("mallory@example.com", mallory.pub_path.read_text()) + "\n")
    report = verify_incident(folder, allowed_signers=team)
    assert report.exit_code == 1
    assert all("not in allowed_signers" in p for p in report.problems)
    assert not any("team's own copy" in n for n in report.notes)
    team.write_text((folder / "allowed_signers").read_text())
    assert verify_incident(folder, allowed_signers=team).exit_code == 0


def test_journal_key_listed_only_for_approvals_is_not_trusted(pristine: Sample, jane: SshKey,
                                                              tmp_path: Path) -> None:
    folder = copy_of(pristine, tmp_path)
    team = tmp_path / "team"
    team.write_text(signer_line("jane@example.com", jane.pub_path.read_text(),
                                "rescind-approval") + "\n"
                    + (folder / "allowed_signers").read_text().splitlines()[1] + "\n")
    report = verify_incident(folder, allowed_signers=team)
    assert report.exit_code == 1
    assert any("not in allowed_signers for rescind-incident" in p for p in report.problems)


def test_tampered_approval_and_plan(pristine: Sample, jane: SshKey, tmp_path: Path) -> None:
    folder = copy_of(pristine, tmp_path)
    approver_line = (folder / "allowed_signers").read_text().splitlines()[1]
    plan = folder / "plans" / pristine.plan_file.name
    plan.write_bytes(pristine.plan_bytes.replace(b"Inactive", b"Deleted!"))
    # Even re-sealing with the responder's own key does not hide a changed plan.
    seal(folder, jane.signer("Jane Doe"), extra_signers=[approver_line])
    report = verify_incident(folder)
    assert report.exit_code == 1
    assert any(p.startswith("plans/") and "no longer has the hash" in p
               for p in report.problems)
    assert any(p.startswith("signatures/approval.deactivate.") for p in report.problems)


def test_open_incident_verifies_and_says_not_sealed(pristine_open: Sample,
                                                    tmp_path: Path) -> None:
    folder = copy_of(pristine_open, tmp_path)
    report = verify_incident(folder)
    assert report.exit_code == 0 and not report.sealed
    assert any(n.startswith("not sealed") for n in report.notes)
    assert any("no allowed_signers" in n for n in report.notes)
    assert report.checkpoints_verified == 3


def test_missing_journal_and_bad_folder(pristine: Sample, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UsageError, match="is not an incident folder") as caught:
        verify_incident(empty)
    assert caught.value.exit_code == 2
    with pytest.raises(UsageError):
        verify_incident(tmp_path / "nope")
    # A sealed record whose journal was removed is tampering, not "not an incident".
    folder = copy_of(pristine, tmp_path)
    (folder / "journal.jsonl").unlink()
    report = verify_incident(folder)
    assert report.exit_code == 1 and report.problems[0] == "journal.jsonl is missing"


def test_a_record_re_signed_with_another_key_says_so(pristine: Sample, mallory: SshKey,
                                                     tmp_path: Path) -> None:
    """Every checkpoint and the seal re-made with another key, with that key's own
    allowed_signers: each signature verifies, but not by the responder the journal names."""
    folder = copy_of(pristine, tmp_path)
    lines = lines_of(folder)
    for sig in (folder / "signatures").glob("journal.*.sig"):
        seq = int(sig.name.split(".")[1])
        sig.write_text(sshsig.sign(mallory.private, b"".join(lines[:seq + 1]),
                                   "rescind-incident"))
    approver_line = (folder / "allowed_signers").read_text().splitlines()[1]
    seal(folder, mallory.signer("Mallory"), extra_signers=[approver_line])
    report = verify_incident(folder)
    assert (report.status, report.exit_code) == ("tampered", 1)
    resigned = [p for p in report.problems if "re-signed with another key" in p]
    assert len(resigned) == len(pristine.anchors) + 1  # every checkpoint, and the seal
    assert any(p.startswith("SHA256SUMS.sig: signed by") for p in resigned)
    assert not report.seal_verified


def test_truncation_without_anchors(pristine_open: Sample, tmp_path: Path) -> None:
    """Cut between checkpoints: the lines after the last signed one are unconfirmed."""
    folder = copy_of(pristine_open, tmp_path)
    keep = pristine_open.anchors[-2].seq + 3
    (folder / "journal.jsonl").write_bytes(b"".join(lines_of(folder)[:keep]))
    (folder / "signatures" / f"journal.{pristine_open.anchors[-1].seq}.sig").unlink()
    report = verify_incident(folder)
    assert (report.status, report.exit_code, report.unconfirmed) == ("unconfirmed", 2, 2)


def test_every_plan_file_is_checked_approved_or_not(pristine_open: Sample,
                                                    tmp_path: Path) -> None:
    folder = copy_of(pristine_open, tmp_path)
    stray = folder / "plans" / "other.0123456789ab.json"
    stray.write_bytes(b"{}")
    report = verify_incident(folder)
    assert report.problems == ["plans/other.0123456789ab.json: its content no longer has the "
                               "hash its name says"]
    short = hashlib.sha256(b"{}").hexdigest()[:12]
    stray.rename(folder / "plans" / f"other.{short}.json")
    report = verify_incident(folder)
    assert report.problems == [f"plans/other.{short}.json: no action.plan entry in the "
                               "journal names this plan"]
    (folder / "plans" / f"other.{short}.json").unlink()
    (folder / "plans" / pristine_open.plan_file.name).unlink()
    report = verify_incident(folder)
    assert report.status == "tampered"
    assert f"plans/{pristine_open.plan_file.name}: the journal records this plan, but the " \
           "file is missing" in report.problems


def test_a_changed_line_claims_nothing_about_the_lines_after_the_break(
        pristine: Sample, tmp_path: Path) -> None:
    """The plan's action.plan entry (seq 6) comes after the break: it is still in the
    journal, so "no entry names this plan" would be false; verify says it did not check."""
    folder = copy_of(pristine, tmp_path)
    change_line(folder, 3, b"public", b"Public")
    report = verify_incident(folder)
    assert (report.status, report.exit_code) == ("tampered", 1)
    assert report.problems[0] == "seq 4: prev does not match the hash of line 3"
    assert "journal.jsonl: changed since the seal (its SHA-256 differs from SHA256SUMS)" \
        in report.problems
    assert not [p for p in report.problems if p.startswith("plans/")]
    assert (report.broken_at, report.lines) == (4, 3)  # seq 3 itself may be the edited one
    assert report.head == pristine.entries[2].sha256
    assert f"  journal:      chain breaks at seq 4; checked against seq 0-2, the lines " \
           f"before it that still link (head {report.head}); the checkpoints say which are " \
           "signed" in report.summary()
    assert "plans/: 1 plan file not checked against the journal: no line before seq 3 " \
           "names them, and the lines from there on are not checked (the chain breaks at " \
           "seq 4)" \
        in report.notes
    # Plans the trusted lines do name are still checked: a missing one is reported.
    folder = copy_of(pristine, tmp_path / "later")
    answer = next(e.seq for e in pristine.entries if e.kind == "prompt.answer")
    change_line(folder, answer, b"billing", b"Billing")
    (folder / "plans" / pristine.plan_file.name).unlink()
    report = verify_incident(folder)
    assert report.broken_at == answer + 1
    assert f"plans/{pristine.plan_file.name}: the journal records this plan, but the file " \
           "is missing" in report.problems
    assert not [n for n in report.notes if n.startswith("plans/")]


def test_a_key_recorded_after_the_break_is_not_called_a_re_signing(
        pristine_open: Sample, omar: SshKey, tmp_path: Path) -> None:
    """Omar resumes the incident (incident.resume records his key), closes and seals it.
    With a line changed before his resume, verify cannot see that record: it must not
    claim the seal was re-signed with a key the journal does not record."""
    folder = copy_of(pristine_open, tmp_path)
    omar_signer = omar.signer("Omar Approver")
    j = Journal.open(folder / "journal.jsonl")
    j.append("incident.resume", {"responder": {"name": omar_signer.name,
                                               "email": omar_signer.email,
                                               "fingerprint": omar_signer.fingerprint}})
    checkpoint(j, omar_signer, INCIDENT, "resume")
    j.append("incident.close", {"status": "resolved"})
    checkpoint(j, omar_signer, INCIDENT, "close")
    j.close()
    seal(folder, omar_signer)
    assert verify_incident(folder).exit_code == 0
    change_line(folder, 3, b"public", b"Public")
    report = verify_incident(folder)
    assert (report.status, report.exit_code) == ("tampered", 1)
    assert not [p for p in report.problems if "re-signed" in p]
    assert report.broken_at == 4
    assert not report.seal_verified
    assert any(n.startswith(f"SHA256SUMS.sig: signed by {omar_signer.fingerprint}, a key the "
                            "lines before seq 3 do not record for a responder")
               for n in report.notes)


def test_an_open_incident_with_a_broken_chain_is_not_called_open(
        pristine: Sample, tmp_path: Path) -> None:
    """Seal removed and a line changed: the incident.close is past the break, so verify
    does not know whether the incident was closed."""
    folder = copy_of(pristine, tmp_path)
    (folder / "SHA256SUMS").unlink()
    (folder / "SHA256SUMS.sig").unlink()
    change_line(folder, 3, b"public", b"Public")
    report = verify_incident(folder)
    assert (report.status, report.exit_code) == ("tampered", 1)
    assert not [n for n in report.notes if "still open" in n]
    assert "not sealed; whether the incident was closed is not known: the chain breaks at " \
           "seq 4" in report.notes
