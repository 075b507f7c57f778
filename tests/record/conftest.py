"""Fixtures for the signed record: real OpenSSH keys, a real ssh-agent, a journal."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_ssh_private_key

from rescind.record.keys import KeySigner

needs_ssh_keygen = pytest.mark.skipif(shutil.which("ssh-keygen") is None,
                                      reason="ssh-keygen (openssh-client) is not installed")


@dataclass
class SshKey:
    path: Path  # private key file, as ssh-keygen wrote it
    email: str

    @property
    def pub_path(self) -> Path:
        return self.path.with_name(self.path.name + ".pub")

    @property
    def private(self) -> Ed25519PrivateKey:
        key = load_ssh_private_key(self.path.read_bytes(), None)
        assert isinstance(key, Ed25519PrivateKey)
        return key

    def signer(self, name: str = "Test Person") -> KeySigner:
        return KeySigner(self.private, name=name, email=self.email, source=str(self.path))


def make_key(directory: Path, name: str, email: str, *, key_type: str = "ed25519",
             passphrase: str = "") -> SshKey:
    path = directory / name
    args = ["ssh-keygen", "-q", "-t", key_type, "-N", passphrase, "-C", email, "-f", str(path)]
    if key_type == "rsa":
        args[4:4] = ["-b", "2048"]
    subprocess.run(args, check=True)
    return SshKey(path, email)


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen (openssh-client) is not installed")
    return tmp_path_factory.mktemp("sshkeys")


@pytest.fixture(scope="session")
def jane(keys_dir: Path) -> SshKey:
    return make_key(keys_dir, "jane_ed25519", "jane@example.com")


@pytest.fixture(scope="session")
def omar(keys_dir: Path) -> SshKey:
    return make_key(keys_dir, "omar_ed25519", "omar@example.com")


@pytest.fixture(scope="session")
def mallory(keys_dir: Path) -> SshKey:
    return make_key(keys_dir, "mallory_ed25519", "mallory@example.com")


@dataclass
class Agent:
    sock: str
    pid: int

    def add(self, key: SshKey) -> None:
        subprocess.run(["ssh-add", "-q", str(key.path)], check=True,
                       env={**os.environ, "SSH_AUTH_SOCK": self.sock},
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.fixture
def ssh_agent(tmp_path_factory: pytest.TempPathFactory,
              monkeypatch: pytest.MonkeyPatch) -> Iterator[Agent]:
    """A real ssh-agent on a private socket, stopped (by its pid) after the test."""
    if shutil.which("ssh-agent") is None:
        pytest.skip("ssh-agent is not installed")
    sock = str(tmp_path_factory.mktemp("agent") / "agent.sock")
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", sock],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not os.path.exists(sock):
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail("ssh-agent did not start")
        time.sleep(0.01)
    monkeypatch.setenv("SSH_AUTH_SOCK", sock)
    try:
        yield Agent(sock, proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
