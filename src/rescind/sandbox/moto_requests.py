"""The responder's requests to moto, as exercise mode sees them: which operation a
request is, an AccessDenied answer for a denied one, and a crash-safe log of the
mutating ones that a resumed exercise replays onto a freshly seeded account.

The log never holds a secret: the signature is dropped from ``Authorization`` (moto
does not check it; the key id in its scope tells moto who calls), and every
parameter the one redaction (``rescind.redaction``) hides (a new console password, a
rotated secret's value, a new external id inside a trust policy) is replaced by its
marker before it is written. A replayed account therefore has the login profile or
the new secret version, not the value the responder saw once.
"""

from __future__ import annotations

import json
import os
import re
import threading
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from rescind.redaction import REDACTED, hides, redact

_SCOPE = re.compile(r"Credential=([^/,\s]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request")
_KEPT_HEADERS = ("CONTENT_TYPE", "HTTP_X_AMZ_TARGET", "HTTP_X_MOTO_ACCOUNT_ID")
_KEY_ID = re.compile(rb"<AccessKeyId>([A-Z0-9]{16,128})</AccessKeyId>")


def read_body(environ: dict[str, Any]) -> bytes:
    """The request body, with ``wsgi.input`` replaced so moto can read it again."""
    import io

    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def scope(environ: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(key id, region, service) from the SigV4 Authorization header."""
    match = _SCOPE.search(str(environ.get("HTTP_AUTHORIZATION", "")))
    return (match.group(1), match.group(3), match.group(4)) if match else None


def operation(environ: Mapping[str, Any], body: bytes) -> str | None:
    """The API operation: ``Action=`` of the query protocol, or the JSON target's."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return str(target).rsplit(".", 1)[-1]
    query = urllib.parse.parse_qs(str(environ.get("QUERY_STRING", "")))
    if "Action" in query:
        return query["Action"][0]
    if body and "json" not in str(environ.get("CONTENT_TYPE", "")):
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        if "Action" in form:
            return form["Action"][0]
    return None


def denied_reply(environ: Mapping[str, Any], op: str,
                 arn: str) -> tuple[str, list[tuple[str, str]], bytes]:
    """AWS's AccessDenied for ``op``, in the request's protocol."""
    found = scope(environ)
    service = found[2] if found else "iam"
    message = f"User: {arn} is not authorized to perform: {service}:{op}"
    request_id = str(uuid.uuid4())
    if environ.get("HTTP_X_AMZ_TARGET"):
        body = json.dumps({"__type": "AccessDeniedException", "Message": message}).encode()
        return "400 Bad Request", [("Content-Type", "application/x-amz-json-1.1"),
                                   ("x-amzn-RequestId", request_id)], body
    xml = (f"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
           f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId>"
           "</ErrorResponse>")
    return "403 Forbidden", [("Content-Type", "text/xml")], xml.encode()


def _scrub_form(body: bytes) -> str:
    pairs = urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    # A document in a value (a trust policy's sts:ExternalId) is redacted inside.
    return urllib.parse.urlencode([(k, REDACTED if hides(_field(k), v) else redact(v))
                                   for k, v in pairs])


def _field(name: str) -> str:
    # Query-protocol lists are ``Tags.member.1.Value``: judge the last named part.
    parts = [p for p in name.split(".") if not p.isdigit() and p != "member"]
    return parts[-1] if parts else name


class RequestLog:
    """An append-only JSON-lines log: one line per replayable event, flushed to disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def write(self, line: dict[str, Any]) -> None:
        text = json.dumps(line, separators=(",", ":"), sort_keys=True) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())

    def request(self, environ: Mapping[str, Any], body: bytes, op: str, reply: bytes) -> None:
        """Log one answered mutating request of the responder's, without its secrets."""
        found = scope(environ)
        headers = {k: str(environ[k]) for k in _KEPT_HEADERS if environ.get(k)}
        if found is not None:
            key_id, region, service = found
            headers["HTTP_AUTHORIZATION"] = (
                f"AWS4-HMAC-SHA256 Credential={key_id}/20000101/{region}/{service}/"
                "aws4_request, SignedHeaders=host, Signature=replayed")
        if environ.get("HTTP_X_AMZ_TARGET"):
            try:
                text = json.dumps(redact(json.loads(body or b"{}")))
            except ValueError:
                text = ""
        else:
            text = _scrub_form(body)
        line: dict[str, Any] = {"op": "request", "operation": op,
                                "method": environ.get("REQUEST_METHOD", "POST"),
                                "path": environ.get("PATH_INFO", "/"),
                                "query": environ.get("QUERY_STRING", ""),
                                "headers": headers, "body": text}
        if op == "CreateAccessKey":  # the id the responder saw; replay gives it again
            line["made_key"] = made_key(reply)
        self.write(line)

    def lines(self) -> Iterator[dict[str, Any]]:
        """The logged lines in order; a torn last line (a crash mid-write) is dropped."""
        if not self.path.is_file():
            return
        for raw in self.path.read_text(encoding="utf-8").splitlines():
            try:
                yield json.loads(raw)
            except ValueError:
                return


def replay_request(endpoint: str, line: Mapping[str, Any]) -> bytes:
    """Send a logged request to moto again; its reply body."""
    query = f"?{line['query']}" if line.get("query") else ""
    headers = {_header_name(k): v for k, v in dict(line["headers"]).items()}
    request = urllib.request.Request(f"{endpoint}{line['path']}{query}",
                                     data=str(line["body"]).encode("utf-8"),
                                     method=str(line["method"]), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return bytes(response.read())
    except urllib.error.HTTPError as exc:  # answered once, refused now: the state moved on
        return bytes(exc.read())


def _header_name(key: str) -> str:
    name = key.removeprefix("HTTP_") if key.startswith("HTTP_") else key
    return "-".join(part.capitalize() for part in name.split("_"))


def made_key(reply: bytes) -> str | None:
    found = _KEY_ID.search(reply)
    return found.group(1).decode() if found else None
