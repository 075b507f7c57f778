"""Signing identities: the responder's OpenSSH Ed25519 key (file or ssh-agent), or a
key rescind makes and keeps in the OS keyring (a 0600 file where there is none).

The identity (name, email, where the key lives, its public key line) is
``identity.json`` in the config dir: ``$RESCIND_CONFIG_DIR``, else
``platformdirs.user_config_dir("rescind")``.

Longer than most modules (~460 lines) on purpose: every place a signing key can come
from (identity file, key file with or without passphrase, ssh-agent, OS keyring) and
the order :func:`load_signer` tries them in read in one file; the agent's wire
protocol is in agent.py.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import importlib.util
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from rescind.dirs import config_dir
from rescind.errors import RescindError, UsageError
from rescind.record import sshsig
from rescind.record.agent import AgentClient, AgentError, AgentKey
from rescind.record.allowed_signers import signer_line
from rescind.record.journal import ensure_private_dir, write_private_file

KEYRING_SERVICE = "rescind"
IDENTITY_FILE = "identity.json"
KEY_FILE = "rescind_ed25519"
PASSPHRASE_ENV = "RESCIND_KEY_PASSPHRASE"
ED25519_FIX = "make one with `ssh-keygen -t ed25519`"
NO_KEY_FIX = "run `rescind keys init --name NAME --email EMAIL` or pass --key ~/.ssh/id_ed25519"
# A principal in allowed_signers and in `ssh-keygen -I`: no spaces, commas, quotes or
# pattern characters, so the shell commands rescind prints stay exact.
_EMAIL = re.compile(r"[^\s,\"'*?!\\]+@[^\s,\"'*?!\\]+\.[^\s,\"'*?!\\]+")


class Signer(Protocol):
    """Anything that signs as a named person: read-only members, so plain attributes,
    properties and frozen dataclasses all fit."""

    @property
    def name(self) -> str: ...

    @property
    def email(self) -> str: ...

    @property
    def public_key_line(self) -> str:
        """``ssh-ed25519 AAAA...``"""
        ...

    @property
    def fingerprint(self) -> str:
        """``SHA256:...`` as ssh-keygen -l prints it."""
        ...

    def sign(self, message: bytes, namespace: str) -> str:
        """An armored SSHSIG over ``message``."""
        ...

    def sign_digest(self, sha512: bytes, namespace: str) -> str:
        """The same SSHSIG, for a message known by its SHA-512 (a journal's running hash)."""
        ...

    def allowed_signers_line(self) -> str: ...


def check_email(email: str) -> str:
    if not _EMAIL.fullmatch(email):
        raise UsageError(f"{email!r} is not usable as a signer email",
                         fix="give a plain address such as jane@example.com")
    return email


def check_name(name: str) -> str:
    name = name.strip()
    if not name or any(c in name for c in "\r\n\t"):
        raise UsageError("the name must be one non-empty line", fix="e.g. --name 'Jane Doe'")
    return name


class _SignerBase:
    name: str
    email: str
    public_key: Ed25519PublicKey
    source: str  # where the key lives, for people

    @property
    def public_key_line(self) -> str:
        return sshsig.public_key_line(self.public_key)

    @property
    def fingerprint(self) -> str:
        return sshsig.fingerprint(self.public_key)

    def allowed_signers_line(self) -> str:
        return signer_line(self.email, self.public_key_line)


class KeySigner(_SignerBase):
    """Signs with a private key held in memory (from a key file or the keyring)."""

    def __init__(self, private_key: Ed25519PrivateKey, *, name: str, email: str,
                 source: str) -> None:
        self._private_key = private_key
        self.public_key = private_key.public_key()
        self.name = name
        self.email = email
        self.source = source

    def sign(self, message: bytes, namespace: str) -> str:
        return sshsig.sign(self._private_key, message, namespace)

    def sign_digest(self, sha512: bytes, namespace: str) -> str:
        return sshsig.sign_digest(self._private_key, sha512, namespace)

    def __repr__(self) -> str:  # never show key material
        return f"KeySigner({self.email}, {self.fingerprint}, {self.source})"


class AgentSigner(_SignerBase):
    """Signs through ssh-agent: the private key never reaches rescind."""

    def __init__(self, client: AgentClient, key: AgentKey, *, name: str, email: str) -> None:
        self._client = client
        self._key = key
        self.public_key = sshsig.public_key_from_blob(key.blob)
        self.name = name
        self.email = email
        self.source = f"ssh-agent ({key.comment or 'no comment'})"

    def sign(self, message: bytes, namespace: str) -> str:
        return self.sign_digest(hashlib.sha512(message).digest(), namespace)

    def sign_digest(self, sha512: bytes, namespace: str) -> str:
        # SSHSIG signs the message's hash, so the agent never needs the message itself.
        blob = self._client.sign(self._key.blob,
                                 sshsig.signed_data(None, namespace, digest=sha512))
        armored = sshsig.armor(self.public_key, namespace, blob)
        # An agent answering with another key's or a broken signature must not
        # produce a record that fails only later, at the auditor's.
        try:
            sshsig.verify_parsed(sshsig.parse(armored), namespace, digests={"sha512": sha512})
        except sshsig.SignatureInvalid as exc:
            raise AgentError(f"ssh-agent returned a bad signature: {exc.message}") from None
        return armored

    def __repr__(self) -> str:
        return f"AgentSigner({self.email}, {self.fingerprint})"


def ephemeral_signer(name: str, email: str) -> KeySigner:
    """A fresh in-memory key that is never stored: for exercise mode's simulated second
    approver, and tests. Its public key reaches the record through allowed_signers."""
    return KeySigner(Ed25519PrivateKey.generate(), name=check_name(name),
                     email=check_email(email), source="in memory (not stored)")


@dataclass(frozen=True)
class Identity:
    name: str
    email: str
    storage: str  # "keyring" or "file"
    public_key: str  # ssh-ed25519 AAAA...
    key_file: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"version": 1, "name": self.name, "email": self.email, "storage": self.storage,
                "key_file": self.key_file, "public_key": self.public_key}


@dataclass(frozen=True)
class KeyInfo:
    name: str
    email: str
    public_key_line: str
    fingerprint: str
    stored_in: str  # for people: "OS keyring (...)" or the key file's path
    allowed_signers_line: str
    warning: str | None = None  # one line for stderr when the key fell back to a file


def identity_path() -> Path:
    return config_dir() / IDENTITY_FILE


def load_identity() -> Identity | None:
    path = identity_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return Identity(name=raw["name"], email=raw["email"], storage=raw["storage"],
                        public_key=raw["public_key"], key_file=raw.get("key_file"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RescindError(f"{path} is damaged ({exc})",
                           fix="run `rescind keys init --force` to make a new identity") from None


def _usable_keyring() -> Any | None:
    """The keyring backend, or None when only the fail backend exists."""
    try:
        import keyring
        import keyring.backends.fail
    except ImportError:
        return None
    backend = keyring.get_keyring()
    if isinstance(backend, keyring.backends.fail.Keyring):
        return None
    try:
        if float(backend.priority) <= 0:
            return None
    except (AttributeError, TypeError, ValueError):
        return None
    return backend


def _store_in_keyring(email: str, pem: str) -> bool:
    backend = _usable_keyring()
    if backend is None:
        return False
    from keyring.errors import KeyringError

    try:
        backend.set_password(KEYRING_SERVICE, email, pem)
        # Some backends accept a write and drop it; only a read-back proves it is kept.
        return bool(backend.get_password(KEYRING_SERVICE, email) == pem)
    except (KeyringError, OSError, RuntimeError):
        return False


def _private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                             serialization.NoEncryption())


def init_key(name: str, email: str, *, force: bool = False) -> KeyInfo:
    """Make a new Ed25519 signing identity; the key goes to the OS keyring if there is
    one, else to a 0600 OpenSSH key file in the config dir (with ``warning`` set)."""
    name, email = check_name(name), check_email(email)
    existing = load_identity()
    if existing is not None and not force:
        raise RescindError(
            f"an identity already exists: {existing.email} "
            f"{sshsig.fingerprint(sshsig.parse_public_key_line(existing.public_key))}",
            fix="pass --force to replace it (records it signed stay verifiable with their "
                "allowed_signers)")
    key = Ed25519PrivateKey.generate()
    pub_line = sshsig.public_key_line(key.public_key())
    pem = _private_pem(key)
    cfg = config_dir()
    ensure_private_dir(cfg)
    warning = None
    if _store_in_keyring(email, pem.decode("ascii")):
        identity = Identity(name, email, "keyring", pub_line)
        stored_in = f"OS keyring (service {KEYRING_SERVICE!r}, user {email!r})"
        key_file = cfg / KEY_FILE
        if existing is not None and existing.storage == "file" and key_file.exists():
            key_file.unlink()  # the replaced key must not linger beside the new one
    else:
        key_file = cfg / KEY_FILE
        write_private_file(key_file, pem)
        write_private_file(key_file.with_name(KEY_FILE + ".pub"),
                           f"{pub_line} {email}\n".encode())
        identity = Identity(name, email, "file", pub_line, str(key_file))
        stored_in = str(key_file)
        warning = (f"warning: no OS keyring is available; the private key is in {key_file} "
                   "(0600): protect it like an SSH private key")
    if existing is not None and existing.storage == "keyring" and existing.email != email:
        _forget_keyring_key(existing.email)
    write_private_file(identity_path(), (json.dumps(identity.to_json(), indent=2) + "\n").encode())
    fp = sshsig.fingerprint(key.public_key())
    return KeyInfo(name, email, pub_line, fp, stored_in, signer_line(email, pub_line), warning)


def _forget_keyring_key(email: str) -> None:
    backend = _usable_keyring()
    if backend is None:
        return
    from keyring.errors import KeyringError

    # Nothing to delete, or the backend is gone: the identity no longer points to it.
    with contextlib.suppress(KeyringError, OSError, RuntimeError):
        backend.delete_password(KEYRING_SERVICE, email)


def _passphrase(path: Path) -> bytes:
    env = os.environ.get(PASSPHRASE_ENV)
    if env is not None:
        return env.encode()
    if not sys.stdin.isatty():
        raise RescindError(f"{path} is passphrase-protected and there is no terminal to ask on",
                           fix=f"set {PASSPHRASE_ENV}, or `ssh-add {path}` and pass "
                               f"--key {path}.pub to sign through ssh-agent")
    return getpass.getpass(f"Passphrase for {path}: ").encode()


def load_private_key(data: bytes, path: Path) -> Ed25519PrivateKey:
    """An OpenSSH Ed25519 private key from ``data``, asking for its passphrase if needed."""
    try:
        key = serialization.load_ssh_private_key(data, None)
    except TypeError:  # encrypted
        key = _load_encrypted(data, path)
    except UnsupportedAlgorithm as exc:
        raise RescindError(f"{path}: {exc}; rescind signs with plain Ed25519 keys",
                           fix=ED25519_FIX) from None
    except ValueError as exc:
        raise RescindError(f"{path} is not an OpenSSH private key ({exc})",
                           fix=ED25519_FIX) from None
    if not isinstance(key, Ed25519PrivateKey):
        kind = type(key).__name__.removeprefix("_").replace("PrivateKey", "")
        raise RescindError(f"{path} is an {kind} key; rescind signs with Ed25519 keys only",
                           fix=ED25519_FIX)
    return key


def _load_encrypted(data: bytes, path: Path) -> Any:
    # Reading OpenSSH's bcrypt-KDF key format needs the bcrypt package: say so before
    # asking for a passphrase that could not be used anyway.
    if importlib.util.find_spec("bcrypt") is None:
        raise RescindError(
            f"{path} is passphrase-protected and reading it needs the bcrypt package",
            fix=f"`pip install bcrypt`, or `ssh-add {path}` and pass --key {path}.pub "
                "to sign through ssh-agent")
    password = _passphrase(path)
    try:
        return serialization.load_ssh_private_key(data, password)
    except (ValueError, TypeError, InvalidTag):
        raise RescindError(f"wrong passphrase for {path}",
                           fix=f"check {PASSPHRASE_ENV} if it is set") from None
    except UnsupportedAlgorithm as exc:
        raise RescindError(f"{path}: {exc}", fix=ED25519_FIX) from None


def _read_key_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise RescindError(f"key file {path} does not exist", fix=NO_KEY_FIX) from None
    except OSError as exc:
        raise RescindError(f"cannot read key file {path}: {exc.strerror}") from None


def _agent() -> AgentClient | None:
    sock = os.environ.get("SSH_AUTH_SOCK")
    return AgentClient(sock) if sock else None


def _naming(pub_line: str, name: str | None, email: str | None, what: str) -> tuple[str, str]:
    """Name and email for a key that is not (necessarily) the rescind identity."""
    identity = load_identity()
    if email is None and identity is not None and _same_key(identity.public_key, pub_line):
        return name or identity.name, identity.email
    if email is None:
        raise UsageError(f"{what} needs an email to sign as (it names the signer in "
                         "allowed_signers and in the record)",
                         fix="pass --email you@example.com, or use `rescind keys init`")
    check_email(email)
    return check_name(name) if name else email, email


def _same_key(line_a: str, line_b: str) -> bool:
    return line_a.split()[:2] == line_b.split()[:2]


def agent_signer(pub_line: str | None, *, name: str | None, email: str | None) -> AgentSigner:
    """The agent's Ed25519 key matching ``pub_line``, or its first Ed25519 key."""
    client = _agent()
    if client is None:
        raise RescindError("SSH_AUTH_SOCK is not set, so there is no ssh-agent to sign with",
                           fix="`eval $(ssh-agent)` and `ssh-add KEY`, or pass the private "
                               "key file with --key")
    keys = [k for k in client.identities() if k.key_type == sshsig.KEY_TYPE]
    if pub_line is not None:
        want = sshsig.public_key_blob(sshsig.parse_public_key_line(pub_line))
        keys = [k for k in keys if k.blob == want]
        if not keys:
            raise RescindError("ssh-agent does not hold the key "
                               f"{sshsig.fingerprint(sshsig.parse_public_key_line(pub_line))}",
                               fix="add it with `ssh-add PRIVATE_KEY_FILE`")
    elif not keys:
        raise RescindError("ssh-agent holds no ssh-ed25519 key", fix=NO_KEY_FIX)
    key = keys[0]
    line = sshsig.public_key_line(sshsig.public_key_from_blob(key.blob))
    signer_name, signer_email = _naming(line, name, email, "the ssh-agent key")
    return AgentSigner(client, key, name=signer_name, email=signer_email)


def _identity_signer(identity: Identity) -> KeySigner:
    if identity.storage == "keyring":
        from keyring.errors import KeyringError

        backend = _usable_keyring()
        pem = None
        if backend is not None:
            try:
                pem = backend.get_password(KEYRING_SERVICE, identity.email)
            except (KeyringError, OSError, RuntimeError):
                pem = None
        if pem is None:
            raise RescindError(f"the key of {identity.email} is not in the OS keyring here",
                               fix="unlock the keyring, or run `rescind keys init --force` "
                                   "(or pass --key)")
        data, source = pem.encode(), f"OS keyring ({identity.email})"
        origin = Path(f"keyring:{KEYRING_SERVICE}/{identity.email}")
    else:
        origin = Path(identity.key_file or config_dir() / KEY_FILE)
        data, source = _read_key_file(origin), str(origin)
    key = load_private_key(data, origin)
    if not _same_key(sshsig.public_key_line(key.public_key()), identity.public_key):
        raise RescindError(f"the key in {source} is not the one {identity_path()} names",
                           fix="run `rescind keys init --force` to make a new identity")
    return KeySigner(key, name=identity.name, email=identity.email, source=source)


def load_signer(key_path: Path | None = None, *, name: str | None = None,
                email: str | None = None) -> Signer:
    """The key to sign with, in order: ``--key PATH`` (a private key file, or a .pub
    meaning "the agent's matching key"), the rescind identity, an Ed25519 key in
    ssh-agent. Raises RescindError with the fix when there is none."""
    if key_path is not None:
        path = Path(key_path).expanduser()
        data = _read_key_file(path)
        if path.suffix == ".pub" or data.lstrip().startswith(b"ssh-"):
            return agent_signer(data.decode("utf-8", "replace"), name=name, email=email)
        key = load_private_key(data, path)
        signer_name, signer_email = _naming(sshsig.public_key_line(key.public_key()), name,
                                            email, f"the key file {path}")
        return KeySigner(key, name=signer_name, email=signer_email, source=str(path))
    identity = load_identity()
    if identity is not None:
        signer = _identity_signer(identity)
        if email is not None and email != identity.email:
            raise UsageError(f"the rescind identity signs as {identity.email}, not {email}",
                             fix="drop --email, or pass --key for another key")
        return signer
    if _agent() is not None:
        return agent_signer(None, name=name, email=email)
    raise RescindError("no signing key", fix=NO_KEY_FIX)


def public_key_of(path: Path) -> Ed25519PublicKey:
    """The public key for ``--key PATH`` without decrypting anything if avoidable:
    PATH itself if it is a public key, else PATH.pub beside it, else the private key."""
    path = path.expanduser()
    data = _read_key_file(path)
    if path.suffix == ".pub" or data.lstrip().startswith(b"ssh-"):
        return sshsig.parse_public_key_line(data.decode("utf-8", "replace"))
    pub = path.with_name(path.name + ".pub")
    if pub.exists():
        key = sshsig.parse_public_key_line(pub.read_text(encoding="utf-8", errors="replace"))
        return key
    return load_private_key(data, path).public_key()


def agent_public_keys() -> list[str]:
    """Public key lines of the Ed25519 keys in ssh-agent, in its order ([] without one)."""
    client = _agent()
    if client is None:
        return []
    return [sshsig.public_key_line(sshsig.public_key_from_blob(k.blob))
            for k in client.identities() if k.key_type == sshsig.KEY_TYPE]
