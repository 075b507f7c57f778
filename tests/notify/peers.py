"""Loopback protocol peers standing in for Slack, Teams, PagerDuty, Jira, webhooks and SMTP.

``HttpPeer`` is a real HTTP server that records every request (method, path,
headers, exact body) and answers each path as told. ``smtp_peer`` is aiosmtpd with
a self-signed certificate, speaking STARTTLS or TLS from the first byte.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Answer = tuple[int, dict[str, str], bytes]


@dataclass
class HttpPeer:
    url: str = ""
    requests: list[Request] = field(default_factory=list)
    # path -> answers given in order; the last one repeats.
    answers: dict[str, list[Answer]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, path: str, *answers: Answer) -> None:
        self.answers[path] = list(answers)

    def to(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def _next(self, path: str) -> Answer:
        with self.lock:
            queue = self.answers.get(path) or [(200, {"Content-Type": "text/plain"}, b"ok")]
            return queue.pop(0) if len(queue) > 1 else queue[0]


@contextmanager
def http_peer() -> Iterator[HttpPeer]:
    peer = HttpPeer()

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            with peer.lock:
                peer.requests.append(Request(self.command, self.path,
                                             {k.lower(): v for k, v in self.headers.items()},
                                             body))
            status, headers, payload = peer._next(self.path)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_POST = do_GET = do_PUT = _any

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """No access log in test output."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    peer.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield peer
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key (the cert is its own CA)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@dataclass
class SmtpPeer:
    host: str
    port: int
    ca_file: str
    received: list[Any] = field(default_factory=list)  # (envelope, message, tls, login)
    logins: list[tuple[str, str]] = field(default_factory=list)


@contextmanager
def smtp_peer(folder: Path, *, security: str, password: str) -> Iterator[SmtpPeer]:
    """aiosmtpd on loopback: ``starttls`` (STARTTLS required before AUTH and MAIL) or
    ``tls`` (TLS from the first byte); AUTH PLAIN/LOGIN with one user."""
    import ssl
    from email import message_from_bytes, policy

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    cert, key = self_signed(folder)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    peer = SmtpPeer("127.0.0.1", 0, str(cert))

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            # A TLS-only listener (security="tls") cannot have taken a plain session.
            tls = session.ssl is not None or security == "tls"
            peer.received.append((envelope, message_from_bytes(envelope.content,
                                                               policy=policy.default), tls))
            return "250 OK"

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        login, given = auth_data.login.decode(), auth_data.password.decode()
        peer.logins.append((login, given))
        return AuthResult(success=login == "rescind@example.com" and given == password)

    # aiosmtpd checks that it is up by connecting to its port, so it cannot take port 0.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    common: dict[str, Any] = {"hostname": "127.0.0.1", "port": port,
                              "authenticator": authenticator,
                              "auth_require_tls": True, "server_hostname": "localhost"}
    if security == "starttls":
        controller = Controller(Handler(), tls_context=context, require_starttls=True, **common)
    else:
        # aiosmtpd does not count TLS from the first byte as TLS for AUTH; it is.
        common["auth_require_tls"] = False
        controller = Controller(Handler(), ssl_context=context, **common)
    controller.start()
    peer.port = port
    try:
        yield peer
    finally:
        controller.stop()
