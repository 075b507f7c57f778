from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from rescind.errors import RescindError
from rescind.record.bundle import seal
from rescind.record.journal import Journal
from tests.record.conftest import SshKey


def make_folder(folder: Path) -> None:
    with Journal.create(folder / "journal.jsonl") as j:
        j.append("incident.open", {"incident": "IR-9"})
        j.append("incident.close", {"status": "resolved"})
    (folder / "evidence" / "aws").mkdir(parents=True)
    (folder / "evidence" / "aws" / "cloudtrail page 1.json").write_text("[]\n")
    (folder / "report.md").write_text("# IR-9\n")
    (folder / "timeline.csv").write_text("time,actor\n")
    (folder / ".lock").write_text("held by pid 1\n")


def test_sums_are_exactly_what_sha256sum_prints(jane: SshKey, tmp_path: Path) -> None:
    folder = tmp_path / "incident"
    make_folder(folder)
    sealed = seal(folder, jane.signer(), extra_signers=[
        'omar@example.com namespaces="rescind-approval" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA'
        'jnZ0ZCpUxyAHB3QeWXySE7amC1qmRcfBy5YIS/fTW8'])
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                   if p.is_file() and p.name not in ("SHA256SUMS", "SHA256SUMS.sig", ".lock"))
    expected = subprocess.run(["sha256sum", "--", *files], cwd=folder, check=True,
                              capture_output=True, text=True).stdout
    assert (folder / "SHA256SUMS").read_text() == expected
    assert sealed.files == len(files) == 5
    assert "allowed_signers" in files
    lines = (folder / "allowed_signers").read_text().splitlines()
    assert lines[0] == jane.signer().allowed_signers_line()
    assert lines[1].startswith("omar@example.com ")
    for name in ("SHA256SUMS", "SHA256SUMS.sig", "allowed_signers"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    assert sealed.verify_command == (
        "ssh-keygen -Y verify -f allowed_signers -I jane@example.com -n rescind-incident "
        "-s SHA256SUMS.sig < SHA256SUMS")
    for cmd in (sealed.verify_command, "sha256sum -c --strict SHA256SUMS"):
        res = subprocess.run(["bash", "-c", cmd], cwd=folder, capture_output=True, text=True,
                             check=False)
        assert res.returncode == 0, (cmd, res.stdout, res.stderr)


def test_resealing_replaces_the_old_seal(jane: SshKey, tmp_path: Path) -> None:
    folder = tmp_path / "incident"
    make_folder(folder)
    seal(folder, jane.signer())
    (folder / "report.md").write_text("# IR-9, amended\n")
    seal(folder, jane.signer())
    res = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=folder, capture_output=True,
                         check=False)
    assert res.returncode == 0
    assert not list(folder.glob(".*.tmp"))


def test_symlinks_and_non_incidents_are_refused(jane: SshKey, tmp_path: Path) -> None:
    with pytest.raises(RescindError, match=r"no journal\.jsonl"):
        seal(tmp_path, jane.signer())
    folder = tmp_path / "incident"
    make_folder(folder)
    os.symlink("/etc/hostname", folder / "evidence" / "link")
    with pytest.raises(RescindError, match="symbolic link"):
        seal(folder, jane.signer())


def test_checkpoints_by_an_earlier_responder_stay_verifiable(jane: SshKey, omar: SshKey,
                                                             tmp_path: Path) -> None:
    """Jane starts the incident, Omar resumes and closes it: both keys go into
    allowed_signers, so the stock commands for Jane's checkpoint work too."""
    from rescind.record.checkpoint import checkpoint
    from rescind.record.verify import verify_incident

    folder = tmp_path / "incident"
    j_signer, o_signer = jane.signer("Jane"), omar.signer("Omar")
    with Journal.create(folder / "journal.jsonl") as j:
        j.append("incident.open", {"incident": "IR-5", "responder": {
            "name": "Jane", "email": jane.email, "fingerprint": j_signer.fingerprint}})
        first = checkpoint(j, j_signer, "IR-5", "phase")
    with Journal.open(folder / "journal.jsonl") as j:
        j.append("incident.resume", {"responder": {
            "name": "Omar", "email": omar.email, "fingerprint": o_signer.fingerprint}})
        checkpoint(j, o_signer, "IR-5", "close")
    seal(folder, o_signer)
    lines = (folder / "allowed_signers").read_text().splitlines()
    assert lines[0].startswith("omar@example.com ")
    assert lines[1] == ('jane@example.com namespaces="rescind-incident" '
                        + j_signer.public_key_line)
    assert verify_incident(folder).exit_code == 0
    res = subprocess.run(
        f"head -n {first.seq + 1} journal.jsonl | ssh-keygen -Y verify -f allowed_signers "
        f"-I jane@example.com -n rescind-incident -s signatures/journal.{first.seq}.sig",
        shell=True, cwd=folder, capture_output=True, check=False)
    assert res.returncode == 0, res.stderr
