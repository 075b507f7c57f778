"""The keys, approve and verify commands, through rescind's real entry point."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backends.fail
import pytest

from rescind.cli import main
from rescind.record import sshsig
from rescind.record.approval import check_approval
from tests.record.conftest import Agent, SshKey
from tests.record.sample import Sample, build_incident, sample_plan


@pytest.fixture
def fail_keyring() -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    try:
        yield
    finally:
        keyring.set_keyring(previous)


def test_keys_init_and_show(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "init", "--name", "Jane Doe", "--email", "jane@example.com"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    pub = next(line.split(":", 1)[1].strip() for line in out.splitlines()
               if "public key:" in line)
    fp = sshsig.fingerprint(sshsig.parse_public_key_line(pub))
    assert f"fingerprint:  {fp}" in out and "OS keyring" in out
    assert f'jane@example.com namespaces="rescind-incident,rescind-approval" {pub}' in out

    assert main(["keys", "show"]) == 0
    out, _ = capsys.readouterr()
    assert f"public key:       {pub}" in out and f"fingerprint:      {fp}" in out
    assert f'allowed_signers:  jane@example.com namespaces="rescind-incident,' \
           f'rescind-approval" {pub}' in out

    assert main(["keys", "init", "--name", "Jane", "--email", "jane@example.com"]) == 1
    _, err = capsys.readouterr()
    assert err.startswith("rescind: an identity already exists") and "--force" in err


def test_keys_init_falls_back_to_file_with_one_warning_line(
        fail_keyring: None, _isolated_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "init", "--name", "Jane", "--email", "jane@example.com"]) == 0
    out, err = capsys.readouterr()
    assert len(err.splitlines()) == 1 and err.startswith("warning: no OS keyring")
    assert f"stored in:    {_isolated_config / 'rescind_ed25519'}" in out


def test_keys_show_other_key_and_no_key(jane: SshKey, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "show"]) == 1
    _, err = capsys.readouterr()
    assert "no signing key" in err and "rescind keys init" in err
    assert main(["keys", "show", "--key", str(jane.path)]) == 0
    out, _ = capsys.readouterr()
    assert "pass --email" in out
    assert main(["keys", "show", "--key", str(jane.pub_path), "--email",
                 "jane@example.com"]) == 0
    out, _ = capsys.readouterr()
    assert "allowed_signers:  jane@example.com " in out
    assert main(["keys", "init", "--name", "Jane", "--email", "not an email"]) == 2


def test_keys_show_agent(ssh_agent: Agent, jane: SshKey,
                         capsys: pytest.CaptureFixture[str]) -> None:
    ssh_agent.add(jane)
    assert main(["keys", "show"]) == 0
    out, _ = capsys.readouterr()
    assert sshsig.fingerprint(jane.private.public_key()) in out and "ssh-agent" in out


def write_plan(tmp_path: Path) -> Path:
    plan = sample_plan()
    path = tmp_path / "incident" / "plans" / f"deactivate.{plan.digest[:12]}.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(plan.canonical_bytes())
    return path


def test_approve_prints_a_token_that_checks(jane: SshKey, omar: SshKey, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    plan_file = write_plan(tmp_path)
    code = main(["approve", str(plan_file), "--key", str(omar.path), "--email",
                 "omar@example.com", "--yes"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith("-----BEGIN SSH SIGNATURE-----\n")
    assert out.endswith("-----END SSH SIGNATURE-----\n")
    for expected in ["incident:  incident", "step:      deactivate",
                     "action:    aws.iam.deactivate_access_key (risk critical, reversible)",
                     "targets:   AKIAIOSFODNN7EXAMPLE",
                     "change:    AKIAIOSFODNN7EXAMPLE Status: 'Active' -> 'Inactive'",
                     f"plan hash: {sample_plan().digest}",
                     "Signing as omar@example.com <omar@example.com>"]:
        assert expected in err
    assert "not byte-for-byte" not in err
    info = check_approval(out, plan_file.read_bytes(),
                          requester_fingerprint=jane.signer().fingerprint, trusted=None)
    assert info.fingerprint == sshsig.fingerprint(omar.private.public_key())


def test_approve_asks_before_signing(omar: SshKey, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    plan_file = write_plan(tmp_path)
    args = ["approve", str(plan_file), "--key", str(omar.path), "--email", "omar@example.com"]
    monkeypatch.setattr("sys.stdin", io.StringIO("approve\n"))
    assert main(args) == 2  # no terminal: refuses rather than signing unseen
    assert "--yes" in capsys.readouterr().err

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Tty("no\n"))
    assert main(args) == 1
    out, err = capsys.readouterr()
    assert out == "" and "nothing was signed" in err
    monkeypatch.setattr("sys.stdin", Tty("approve\n"))
    assert main(args) == 0
    assert capsys.readouterr().out.startswith("-----BEGIN SSH SIGNATURE-----")


def test_approve_bad_plan_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["approve", str(tmp_path / "missing.json"), "--yes"]) == 2
    assert "no such plan file" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["approve", str(bad), "--yes"]) == 2
    assert "not a plan file" in capsys.readouterr().err
    bad.write_text('{"hello": 1}')
    assert main(["approve", str(bad), "--yes"]) == 2


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory, jane: SshKey, omar: SshKey) -> Sample:
    return build_incident(tmp_path_factory.mktemp("cli") / "incident", jane.signer("Jane Doe"),
                          omar.signer("Omar"))


def test_verify_command(sealed: Sample, tmp_path: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "incident"
    shutil.copytree(sealed.dir, folder)
    anchor_args = [arg for a in sealed.anchors for arg in ("--anchor", a.line)]
    assert main(["verify", str(folder), *anchor_args]) == 0
    out, _ = capsys.readouterr()
    assert out.startswith("INTACT: ")
    assert f"{len(sealed.entries)} lines, head {sealed.entries[-1].sha256}" in out
    assert "checkpoints:  4 signatures verified" in out
    assert "SHA256SUMS.sig verified" in out and "signer:       jane@example.com SHA256:" in out
    assert "team's own copy" in out

    assert main(["verify", str(folder), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "ok" and data["exit_code"] == 0

    journal = folder / "journal.jsonl"
    original = journal.read_bytes()
    journal.write_bytes(original.replace(b'"phase":"assess"', b'"phase":"assesz"', 1))
    assert main(["verify", str(folder)]) == 1
    out, _ = capsys.readouterr()
    assert out.startswith("TAMPERED: ") and "problem: seq " in out

    journal.write_bytes(original)
    for name in ("SHA256SUMS", "SHA256SUMS.sig"):
        (folder / name).unlink()
    with journal.open("ab") as f:
        f.write(b'{"prev":"')
    assert main(["verify", str(folder)]) == 2
    assert capsys.readouterr().out.startswith("INCOMPLETE: ")


def test_verify_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(tmp_path / "nope")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert main(["verify", str(tmp_path), "--anchor", "hello"]) == 2
    assert "not an anchor line" in capsys.readouterr().err
    assert main(["verify", str(tmp_path), "--allowed-signers", str(tmp_path / "x")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_verify_a_folder_that_is_not_an_incident(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is not an incident folder" in err and "TAMPERED" not in err


def test_approve_shows_a_crafted_plan_visibly(omar: SshKey, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    # Escapes that would hide a line from the approver, retitle the window, reorder text.
    plan = sample_plan().model_copy(update={
        "summary": "harmless\x1b[1A\x1b[2K", "targets": ["AKIAIOSFODNN7EXAMPLE\x1b[8m", "bоb"],
        "warnings": ["\x1b]0;owned\x07 \u202eevil"]})
    path = tmp_path / "plans" / "deactivate.json"
    path.parent.mkdir()
    path.write_bytes(plan.canonical_bytes())
    assert main(["approve", str(path), "--key", str(omar.path), "--email",
                 "omar@example.com", "--yes"]) == 0
    err = capsys.readouterr().err
    for raw in ("\x1b", "\x07", "\u202e"):
        assert raw not in err
    assert "summary:   harmless\\x1b[1A\\x1b[2K" in err
    assert "targets:   AKIAIOSFODNN7EXAMPLE\\x1b[8m, bоb" in err
    assert "warning:   \\x1b]0;owned\\x07 \\u202eevil" in err
    assert "WARNING:   the name bоb has characters that are not plain ASCII (U+043E " \
           "CYRILLIC SMALL LETTER O at 2)" in err
