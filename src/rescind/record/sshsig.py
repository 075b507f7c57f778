"""OpenSSH SSHSIG signatures (PROTOCOL.sshsig) for Ed25519, with ``cryptography`` only.

Output is byte-identical to ``ssh-keygen -Y sign`` on the same key and input
(Ed25519 is deterministic), so anything signed here verifies with
``ssh-keygen -Y verify``. The layout is in record-format.md, "SSHSIG".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from rescind.errors import RescindError

MAGIC = b"SSHSIG"
VERSION = 1
KEY_TYPE = "ssh-ed25519"
BEGIN = "-----BEGIN SSH SIGNATURE-----"
END = "-----END SSH SIGNATURE-----"
_HASHES = {"sha512": hashlib.sha512, "sha256": hashlib.sha256}


class SignatureInvalid(RescindError):
    """An SSHSIG signature is malformed, for another namespace, or does not verify."""


def ssh_string(data: bytes | str) -> bytes:
    raw = data.encode() if isinstance(data, str) else data
    return struct.pack(">I", len(raw)) + raw


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise SignatureInvalid("signature is truncated")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def uint32(self) -> int:
        value: int = struct.unpack(">I", self.take(4))[0]
        return value

    def string(self) -> bytes:
        return self.take(self.uint32())

    def done(self) -> bool:
        return self.pos == len(self.data)


def public_key_blob(pub: Ed25519PublicKey) -> bytes:
    """The SSH wire form of the key: what a .pub line holds in base64."""
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return ssh_string(KEY_TYPE) + ssh_string(raw)


def public_key_from_blob(blob: bytes) -> Ed25519PublicKey:
    r = _Reader(blob)
    key_type = r.string().decode("ascii", "replace")
    if key_type != KEY_TYPE:
        raise SignatureInvalid(f"key type {key_type} is not supported; rescind signs and "
                               "verifies ssh-ed25519 keys only")
    raw = r.string()
    if len(raw) != 32 or not r.done():
        raise SignatureInvalid("malformed ssh-ed25519 public key")
    return Ed25519PublicKey.from_public_bytes(raw)


def public_key_line(pub: Ed25519PublicKey, comment: str | None = None) -> str:
    line = f"{KEY_TYPE} {base64.b64encode(public_key_blob(pub)).decode()}"
    return f"{line} {comment}" if comment else line


def fingerprint(pub: Ed25519PublicKey) -> str:
    """As ``ssh-keygen -l`` prints it: SHA256 of the key blob, unpadded base64."""
    digest = hashlib.sha256(public_key_blob(pub)).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def parse_public_key_line(line: str) -> Ed25519PublicKey:
    """Parse ``ssh-ed25519 AAAA... [comment]``. Raises RescindError if it is not one."""
    parts = line.strip().split()
    if len(parts) < 2:
        raise RescindError(f"not an OpenSSH public key line: {line.strip()[:60]!r}")
    if parts[0] != KEY_TYPE:
        raise RescindError(f"{parts[0]} keys are not supported; rescind uses ssh-ed25519 keys",
                           fix="make one with `ssh-keygen -t ed25519`")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except binascii.Error:
        raise RescindError("the public key's base64 is damaged") from None
    try:
        return public_key_from_blob(blob)
    except SignatureInvalid as exc:
        raise RescindError(exc.message) from None


def signed_data(message: bytes | None, namespace: str, *, digest: bytes | None = None,
                hash_alg: str = "sha512") -> bytes:
    """The blob that is actually Ed25519-signed (``to_sign`` in record-format.md).

    Pass ``digest`` instead of ``message`` when the hash was computed incrementally.
    """
    if digest is None:
        if message is None:
            raise ValueError("give the message or its digest")
        digest = _HASHES[hash_alg](message).digest()
    return (MAGIC + ssh_string(namespace) + ssh_string(b"") + ssh_string(hash_alg)
            + ssh_string(digest))


def armor(pub: Ed25519PublicKey, namespace: str, signature_blob: bytes,
          hash_alg: str = "sha512") -> str:
    """Wrap a signature blob (``string("ssh-ed25519") || string(sig)``) as SSHSIG text."""
    blob = (MAGIC + struct.pack(">I", VERSION) + ssh_string(public_key_blob(pub))
            + ssh_string(namespace) + ssh_string(b"") + ssh_string(hash_alg)
            + ssh_string(signature_blob))
    b64 = base64.b64encode(blob).decode()
    lines = [b64[i:i + 70] for i in range(0, len(b64), 70)]
    return "\n".join([BEGIN, *lines, END]) + "\n"


def sign(private_key: Ed25519PrivateKey, message: bytes, namespace: str) -> str:
    """Sign ``message`` as ``ssh-keygen -Y sign -n NAMESPACE`` would; returns armored text."""
    return sign_digest(private_key, hashlib.sha512(message).digest(), namespace)


def sign_digest(private_key: Ed25519PrivateKey, sha512: bytes, namespace: str) -> str:
    """Sign a message known only by its SHA-512 (hashed incrementally by the caller);
    the result is the same as ``sign`` over the message."""
    if not namespace:
        raise ValueError("SSHSIG needs a namespace")
    sig = private_key.sign(signed_data(None, namespace, digest=sha512))
    return armor(private_key.public_key(), namespace,
                 ssh_string(KEY_TYPE) + ssh_string(sig))


@dataclass(frozen=True)
class Signature:
    """A parsed (not yet verified) SSHSIG."""

    public_key: Ed25519PublicKey
    namespace: str
    hash_alg: str
    signature: bytes  # the raw 64-byte Ed25519 signature

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)

    def armored(self) -> str:
        """The canonical armored form (as ssh-keygen writes it)."""
        return armor(self.public_key, self.namespace,
                     ssh_string(KEY_TYPE) + ssh_string(self.signature), self.hash_alg)


def parse(armored: str | bytes) -> Signature:
    """Parse armored SSHSIG text, tolerating re-wrapped lines and stray whitespace
    (tokens pasted through chat often lose their line breaks)."""
    text = armored.decode("ascii", "replace") if isinstance(armored, bytes) else armored
    start = text.find(BEGIN)
    stop = text.find(END, start + 1)
    if start < 0 or stop < 0:
        raise SignatureInvalid("not an SSH signature (no BEGIN/END SSH SIGNATURE lines)")
    body = "".join(text[start + len(BEGIN):stop].split())
    try:
        blob = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):  # ValueError: non-ASCII text pasted in
        raise SignatureInvalid("the signature's base64 is damaged") from None
    r = _Reader(blob)
    if r.take(6) != MAGIC:
        raise SignatureInvalid("not an SSHSIG blob (bad magic)")
    version = r.uint32()
    if version != VERSION:
        raise SignatureInvalid(f"unsupported SSHSIG version {version}")
    pub = public_key_from_blob(r.string())
    namespace = r.string().decode("utf-8", "replace")
    r.string()  # reserved
    hash_alg = r.string().decode("ascii", "replace")
    if hash_alg not in _HASHES:
        raise SignatureInvalid(f"unsupported hash algorithm {hash_alg!r}")
    sig_reader = _Reader(r.string())
    if not r.done():
        raise SignatureInvalid("trailing bytes after the signature")
    sig_type = sig_reader.string().decode("ascii", "replace")
    sig = sig_reader.string()
    if sig_type != KEY_TYPE or len(sig) != 64 or not sig_reader.done():
        raise SignatureInvalid(f"malformed {sig_type} signature")
    return Signature(pub, namespace, hash_alg, sig)


def verify_parsed(sig: Signature, namespace: str, *, message: bytes | None = None,
                  digests: dict[str, bytes] | None = None) -> Ed25519PublicKey:
    """Verify a parsed signature over ``message`` (or precomputed ``digests`` by
    hash name, for callers that hash incrementally). Returns the signing key."""
    if sig.namespace != namespace:
        raise SignatureInvalid(f"signature is for namespace {sig.namespace!r}, "
                               f"expected {namespace!r}")
    digest = digests.get(sig.hash_alg) if digests else None
    if digest is None and message is None:
        raise ValueError(f"no {sig.hash_alg} digest given")
    try:
        sig.public_key.verify(sig.signature, signed_data(message, namespace, digest=digest,
                                                         hash_alg=sig.hash_alg))
    except InvalidSignature:
        raise SignatureInvalid(f"signature by {sig.fingerprint} does not match these bytes "
                               "(they were changed, or it was made over other bytes)") from None
    return sig.public_key


def verify(armored: str, message: bytes, namespace: str) -> Ed25519PublicKey:
    """Check an armored SSHSIG over ``message``; returns the key that made it.

    This proves only that the key signed the bytes: whether the key is trusted is
    the caller's question (see allowed_signers.py).
    """
    return verify_parsed(parse(armored), namespace, message=message)
