from __future__ import annotations

import json
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backends.fail
import pytest

from rescind.errors import RescindError
from rescind.record import keys, sshsig
from rescind.record.keys import (
    AgentSigner,
    KeySigner,
    init_key,
    load_identity,
    load_signer,
)
from tests.memory_keyring import MemoryKeyring
from tests.record.conftest import Agent, SshKey, make_key


@pytest.fixture
def fail_keyring() -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    try:
        yield
    finally:
        keyring.set_keyring(previous)


def ssh_keygen_accepts(signer: keys.Signer, tmp_path: Path) -> bool:
    message = b"checked by ssh-keygen\n"
    sig = tmp_path / "m.sig"
    sig.write_text(signer.sign(message, "rescind-incident"))
    allowed = tmp_path / "allowed"
    allowed.write_text(signer.allowed_signers_line() + "\n")
    res = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", signer.email,
                          "-n", "rescind-incident", "-s", str(sig)], input=message,
                         capture_output=True, check=False)
    return res.returncode == 0


def test_init_key_stores_private_key_in_keyring(_isolated_config: Path,
                                                tmp_path: Path) -> None:
    backend = keyring.get_keyring()
    assert isinstance(backend, MemoryKeyring)
    info = init_key("Jane Doe", "jane@example.com")
    assert info.warning is None
    assert "keyring" in info.stored_in
    pem = backend.store[("rescind", "jane@example.com")]
    assert pem.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert not (_isolated_config / keys.KEY_FILE).exists()
    identity = json.loads((_isolated_config / "identity.json").read_text())
    assert identity["storage"] == "keyring" and identity["email"] == "jane@example.com"
    assert identity["public_key"] == info.public_key_line
    assert pem not in (_isolated_config / "identity.json").read_text()
    assert stat.S_IMODE((_isolated_config / "identity.json").stat().st_mode) == 0o600
    assert info.allowed_signers_line == (
        'jane@example.com namespaces="rescind-incident,rescind-approval" '
        + info.public_key_line)

    signer = load_signer()
    assert isinstance(signer, KeySigner)
    assert (signer.name, signer.email, signer.fingerprint) == ("Jane Doe", "jane@example.com",
                                                                info.fingerprint)
    assert signer.allowed_signers_line() == info.allowed_signers_line
    assert ssh_keygen_accepts(signer, tmp_path)
    assert pem not in repr(signer)


def test_init_key_refuses_to_overwrite_without_force(_isolated_config: Path) -> None:
    first = init_key("Jane", "jane@example.com")
    with pytest.raises(RescindError, match="already exists") as info:
        init_key("Jane", "jane@example.com")
    assert info.value.fix is not None and "--force" in info.value.fix
    assert load_signer().fingerprint == first.fingerprint
    second = init_key("Jane", "jane2@example.com", force=True)
    assert second.fingerprint != first.fingerprint
    assert load_signer().fingerprint == second.fingerprint
    assert ("rescind", "jane@example.com") not in keyring.get_keyring().store


def test_fail_backend_falls_back_to_private_key_file(_isolated_config: Path, tmp_path: Path,
                                                     fail_keyring: None) -> None:
    info = init_key("Jane Doe", "jane@example.com")
    key_file = _isolated_config / keys.KEY_FILE
    assert info.stored_in == str(key_file)
    assert info.warning is not None and "\n" not in info.warning
    assert str(key_file) in info.warning and info.warning.startswith("warning:")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(_isolated_config.stat().st_mode) == 0o700
    # The file is a normal OpenSSH key: ssh-keygen derives the same public key from it.
    derived = subprocess.run(["ssh-keygen", "-y", "-f", str(key_file)], check=True,
                             capture_output=True, text=True).stdout
    assert derived.split()[:2] == info.public_key_line.split()
    assert load_identity() is not None and load_identity().storage == "file"  # type: ignore[union-attr]
    signer = load_signer()
    assert signer.fingerprint == info.fingerprint
    assert ssh_keygen_accepts(signer, tmp_path)


def test_backend_whose_writes_fail_also_falls_back(_isolated_config: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from keyring.errors import PasswordSetError

    def refuse(*_args: object) -> None:
        raise PasswordSetError("locked")

    monkeypatch.setattr(keyring.get_keyring(), "set_password", refuse)
    info = init_key("Jane", "jane@example.com")
    assert info.warning is not None
    assert (_isolated_config / keys.KEY_FILE).exists()


def test_keyring_key_missing_later_is_a_clear_error(_isolated_config: Path) -> None:
    init_key("Jane", "jane@example.com")
    keyring.get_keyring().store.clear()
    with pytest.raises(RescindError, match="not in the OS keyring") as info:
        load_signer()
    assert info.value.fix is not None


def test_bad_email_and_name_are_refused() -> None:
    for email in ["jane", "jane doe@example.com", "a,b@example.com", "*@example.com"]:
        with pytest.raises(RescindError) as info:
            init_key("Jane", email)
        assert info.value.exit_code == 2
    with pytest.raises(RescindError):
        init_key("line\nbreak", "jane@example.com")


def test_no_key_anywhere() -> None:
    with pytest.raises(RescindError, match="no signing key") as info:
        load_signer()
    assert info.value.fix is not None
    assert "rescind keys init --name NAME --email EMAIL" in info.value.fix
    assert "--key ~/.ssh/id_ed25519" in info.value.fix


def test_key_file_needs_an_email_without_identity(jane: SshKey, tmp_path: Path) -> None:
    with pytest.raises(RescindError, match="needs an email") as info:
        load_signer(jane.path)
    assert info.value.fix is not None and "--email" in info.value.fix
    signer = load_signer(jane.path, email="jane@example.com", name="Jane")
    assert isinstance(signer, KeySigner)
    assert signer.fingerprint == sshsig.fingerprint(jane.private.public_key())
    assert signer.sign(b"m", "rescind-incident") == sshsig.sign(jane.private, b"m",
                                                                "rescind-incident")
    assert ssh_keygen_accepts(signer, tmp_path)


def test_rsa_key_is_refused_with_the_fix(keys_dir: Path) -> None:
    rsa = make_key(keys_dir, "rsa_key", "r@example.com", key_type="rsa")
    with pytest.raises(RescindError, match="RSA key; rescind signs with Ed25519") as info:
        load_signer(rsa.path, email="r@example.com")
    assert info.value.fix == "make one with `ssh-keygen -t ed25519`"


def test_passphrase_protected_key(keys_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("bcrypt")
    key = make_key(keys_dir, "protected", "p@example.com", passphrase="correct horse")
    monkeypatch.setenv("RESCIND_KEY_PASSPHRASE", "wrong")
    with pytest.raises(RescindError, match="wrong passphrase"):
        load_signer(key.path, email="p@example.com")
    monkeypatch.setenv("RESCIND_KEY_PASSPHRASE", "correct horse")
    signer = load_signer(key.path, email="p@example.com")
    listed = subprocess.run(["ssh-keygen", "-l", "-f", str(key.pub_path)], check=True,
                            capture_output=True, text=True).stdout.split()
    assert signer.fingerprint == listed[1]


def test_passphrase_without_terminal_or_env(keys_dir: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("bcrypt")
    key = make_key(keys_dir, "protected2", "p@example.com", passphrase="secret words")
    monkeypatch.delenv("RESCIND_KEY_PASSPHRASE", raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    with pytest.raises(RescindError, match="no terminal") as info:
        load_signer(key.path, email="p@example.com")
    assert info.value.fix is not None and "RESCIND_KEY_PASSPHRASE" in info.value.fix


def test_missing_key_file(tmp_path: Path) -> None:
    with pytest.raises(RescindError, match="does not exist"):
        load_signer(tmp_path / "nope", email="jane@example.com")


def test_agent_signer_matches_file_signature(ssh_agent: Agent, jane: SshKey, omar: SshKey,
                                             tmp_path: Path) -> None:
    ssh_agent.add(jane)
    ssh_agent.add(omar)
    # --key with a .pub picks the agent's matching key, not the first one.
    signer = load_signer(omar.pub_path, email="omar@example.com")
    assert isinstance(signer, AgentSigner)
    assert signer.fingerprint == sshsig.fingerprint(omar.private.public_key())
    message = b"signed through the agent\n"
    # Ed25519 is deterministic: the agent's SSHSIG equals the one made from the file.
    assert signer.sign(message, "rescind-incident") == sshsig.sign(omar.private, message,
                                                                   "rescind-incident")
    assert ssh_keygen_accepts(signer, tmp_path)


def test_agent_is_the_last_resort(ssh_agent: Agent, jane: SshKey) -> None:
    ssh_agent.add(jane)
    with pytest.raises(RescindError, match="needs an email"):
        load_signer()
    signer = load_signer(email="jane@example.com")
    assert isinstance(signer, AgentSigner)
    assert signer.fingerprint == sshsig.fingerprint(jane.private.public_key())
    # A rescind identity, once made, wins over the agent.
    init_key("Jane", "jane@example.com")
    assert isinstance(load_signer(), KeySigner)


def test_agent_without_the_key(ssh_agent: Agent, jane: SshKey, mallory: SshKey,
                               keys_dir: Path) -> None:
    with pytest.raises(RescindError, match="no ssh-ed25519 key"):
        load_signer(email="jane@example.com")
    rsa = make_key(keys_dir, "rsa_agent", "r@example.com", key_type="rsa")
    ssh_agent.add(rsa)
    ssh_agent.add(jane)
    with pytest.raises(RescindError, match="does not hold the key") as info:
        load_signer(mallory.pub_path, email="mallory@example.com")
    assert info.value.fix is not None and "ssh-add" in info.value.fix
    assert load_signer(email="jane@example.com").fingerprint == sshsig.fingerprint(
        jane.private.public_key())


def test_dead_agent_socket_is_a_clear_error(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSH_AUTH_SOCK", str(tmp_path / "gone.sock"))
    with pytest.raises(RescindError, match="cannot talk to ssh-agent"):
        load_signer(email="jane@example.com")


def test_key_file_matching_identity_takes_its_name(_isolated_config: Path, jane: SshKey,
                                                   fail_keyring: None) -> None:
    info = init_key("Jane Doe", "jane@example.com")
    key_file = Path(info.stored_in)
    signer = load_signer(key_file)
    assert (signer.name, signer.email) == ("Jane Doe", "jane@example.com")
    with pytest.raises(RescindError, match="needs an email"):
        load_signer(jane.path)  # another key: the identity's email does not apply


def test_ephemeral_signer_is_in_memory_only(_isolated_config: Path, tmp_path: Path) -> None:
    signer = keys.ephemeral_signer("Exercise Approver", "approver@example.com")
    assert ssh_keygen_accepts(signer, tmp_path)
    assert keys.ephemeral_signer("A", "approver@example.com").fingerprint != signer.fingerprint
    assert list(_isolated_config.iterdir()) == []
    assert keyring.get_keyring().store == {}


def test_passphrase_key_without_bcrypt_points_to_the_agent(
        keys_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("bcrypt")  # needed to make the key; then pretend it is missing
    key = make_key(keys_dir, "protected3", "p@example.com", passphrase="words words")
    real_find_spec = keys.importlib.util.find_spec
    monkeypatch.setattr(keys.importlib.util, "find_spec",
                        lambda name, *a: None if name == "bcrypt" else real_find_spec(name, *a))
    with pytest.raises(RescindError, match="needs the bcrypt package") as info:
        load_signer(key.path, email="p@example.com")
    assert info.value.fix is not None and f"--key {key.path}.pub" in info.value.fix
