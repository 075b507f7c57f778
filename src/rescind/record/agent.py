"""A minimal ssh-agent client (draft-miller-ssh-agent): list keys and sign.

Only what SSHSIG needs: REQUEST_IDENTITIES and SIGN_REQUEST over the Unix socket
named by SSH_AUTH_SOCK, so a responder's passphrase-protected or hardware-held key
signs without its private half ever reaching rescind.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from rescind.errors import RescindError
from rescind.record.sshsig import ssh_string

AGENT_FAILURE = 5
AGENTC_REQUEST_IDENTITIES = 11
AGENT_IDENTITIES_ANSWER = 12
AGENTC_SIGN_REQUEST = 13
AGENT_SIGN_RESPONSE = 14
_MAX_REPLY = 256 * 1024  # OpenSSH's own cap on an agent message
# Generous: an agent may ask the user to confirm (ssh-add -c) or touch a token.
TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class AgentKey:
    blob: bytes  # SSH wire form of the public key
    comment: str

    @property
    def key_type(self) -> str:
        n = struct.unpack(">I", self.blob[:4])[0] if len(self.blob) >= 4 else 0
        return self.blob[4:4 + n].decode("ascii", "replace")


class AgentError(RescindError):
    """ssh-agent could not be reached or refused a request."""


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks = []
    while n:
        chunk = sock.recv(n)
        if not chunk:
            raise AgentError("ssh-agent closed the connection mid-reply")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


class AgentClient:
    def __init__(self, sock_path: str) -> None:
        self.sock_path = sock_path

    def _request(self, msg_type: int, payload: bytes) -> tuple[int, bytes]:
        body = bytes([msg_type]) + payload
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(TIMEOUT_SECONDS)
                sock.connect(self.sock_path)
                sock.sendall(struct.pack(">I", len(body)) + body)
                (length,) = struct.unpack(">I", _recv_exact(sock, 4))
                if not 0 < length <= _MAX_REPLY:
                    raise AgentError(f"ssh-agent sent a malformed reply (length {length})")
                reply = _recv_exact(sock, length)
        except TimeoutError:
            raise AgentError("ssh-agent did not answer in time",
                             fix="check whether it is waiting for a confirmation") from None
        except OSError as exc:
            raise AgentError(f"cannot talk to ssh-agent at {self.sock_path}: {exc.strerror or exc}",
                             fix="start one with `eval $(ssh-agent)` and `ssh-add`, "
                                 "or pass --key with a private key file") from None
        return reply[0], reply[1:]

    def identities(self) -> list[AgentKey]:
        kind, body = self._request(AGENTC_REQUEST_IDENTITIES, b"")
        if kind != AGENT_IDENTITIES_ANSWER:
            raise AgentError("ssh-agent refused to list its keys")
        keys = []
        try:
            (count,) = struct.unpack(">I", body[:4])
            pos = 4
            for _ in range(count):
                fields = []
                for _field in range(2):
                    (n,) = struct.unpack(">I", body[pos:pos + 4])
                    fields.append(body[pos + 4:pos + 4 + n])
                    pos += 4 + n
                keys.append(AgentKey(fields[0], fields[1].decode("utf-8", "replace")))
        except struct.error:
            raise AgentError("ssh-agent sent a malformed key list") from None
        return keys

    def sign(self, key_blob: bytes, data: bytes, flags: int = 0) -> bytes:
        """Returns the signature blob: ``string(type) || string(signature)``."""
        kind, body = self._request(AGENTC_SIGN_REQUEST,
                                   ssh_string(key_blob) + ssh_string(data)
                                   + struct.pack(">I", flags))
        if kind == AGENT_FAILURE:
            raise AgentError("ssh-agent refused to sign (the key may have been removed, "
                             "or a confirmation was declined)")
        if kind != AGENT_SIGN_RESPONSE or len(body) < 4:
            raise AgentError(f"ssh-agent sent an unexpected reply (type {kind})")
        (n,) = struct.unpack(">I", body[:4])
        blob = body[4:4 + n]
        if len(blob) != n:
            raise AgentError("ssh-agent sent a truncated signature")
        return blob
