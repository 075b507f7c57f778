"""A small loopback JSON server the Graph and ARM fakes share: routing, a request log,
simulated latency, and a per-tenant request budget answered with 429 + Retry-After.

Each fake registers routes ``(METHOD, regex) -> handler``; a handler returns
``(status, body)`` or ``(status, body, headers)`` and raises ``Reply`` for errors.
Every request is logged as the permission it needed (the least-privileged Graph
permission or Azure RBAC action), which is how tests check that the permissions
an action declares cover the calls it made.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Reply(Exception):
    """An error answer: ``status`` with an OData/ARM error body."""

    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]
    match: re.Match[str]


Handler = Callable[[Request], tuple[Any, ...]]


@dataclass
class Route:
    method: str
    pattern: re.Pattern[str]
    permission: str
    handler: Handler


@dataclass
class Scripted:
    """A test's answer for the next ``times`` requests matching ``method`` and ``pattern``
    (a user deleted between a read and a change, a throttled item inside a batch).
    ``seen`` holds when every matching request arrived, answered by it or not."""

    method: str
    pattern: re.Pattern[str]
    reply: Reply
    times: int = 1
    seen: list[float] = field(default_factory=list)


@dataclass
class RateLimit:
    """At most ``requests`` per ``window_s`` on paths matching ``pattern``."""

    pattern: re.Pattern[str]
    requests: int
    window_s: float
    sent: deque[float] = field(default_factory=deque)

    def retry_after(self, now: float) -> float:
        """0 when a request may go now (and counts it), else seconds to wait."""
        while self.sent and now - self.sent[0] >= self.window_s:
            self.sent.popleft()
        if len(self.sent) >= self.requests:
            return self.window_s - (now - self.sent[0])
        self.sent.append(now)
        return 0.0


class JsonFake:
    """The server: subclasses add routes in ``__init__`` and seed their state."""

    error_shape = "odata"  # or "arm": how error bodies are written
    # The attributes that hold the simulated cloud (plain JSON), saved by exercise mode.
    STATE: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.limits: list[RateLimit] = []
        self.scripted: list[Scripted] = []
        self.log: list[tuple[str, str, str]] = []  # (method, path, permission)
        self.throttled = 0
        self.latency_ms = 0.0
        self.lock = threading.RLock()
        self.server: ThreadingHTTPServer | None = None
        self.url = ""
        self.on_change: Callable[[], None] | None = None  # exercise mode's saver
        self._exercise: Any = None
        # Fakes served with this one (a Log Analytics workspace over its logs): stopped
        # with it and their settings added to its own, so exercise mode needs no more.
        self.beside: list[Any] = []

    # -- exercise mode (fake_exercise.py) -----------------------------------------------
    @property
    def injects(self) -> list[Any]:
        return []

    def play(self, inject: Any, at: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} plays no injects")

    def exercise(self) -> Any:
        """Its saved state across a crash, and its injects (FakeExercise)."""
        from rescind.sandbox.fake_exercise import FakeExercise

        if self._exercise is None:
            self._exercise = FakeExercise(self)
        return self._exercise

    def dump(self) -> dict[str, Any]:
        with self.lock:
            copied: dict[str, Any] = json.loads(json.dumps(
                {name: getattr(self, name) for name in self.STATE}))
            return copied

    def load(self, state: dict[str, Any]) -> None:
        with self.lock:
            for name in self.STATE:
                if name in state:
                    setattr(self, name, state[name])

    def route(self, method: str, pattern: str, permission: str, handler: Handler) -> None:
        self.routes.append(Route(method, re.compile(f"^{pattern}$", re.IGNORECASE),
                                 permission, handler))

    def script(self, method: str, path: str, status: int, code: str, message: str, *,
               headers: dict[str, str] | None = None, times: int = 1) -> Scripted:
        """Answer the next ``times`` ``method`` requests to ``path`` (a regex) with ``status``."""
        entry = Scripted(method, re.compile(f"^{path}$", re.IGNORECASE),
                         Reply(status, code, message, headers), times)
        with self.lock:
            self.scripted.append(entry)
        return entry

    def require(self, permission: str) -> None:
        """From a handler: the request being served needs ``permission`` instead."""
        method, path, _ = self.log[-1]
        self.log[-1] = (method, path, permission)

    # -- what tests read -------------------------------------------------------------
    def operations(self) -> list[str]:
        with self.lock:
            return [perm for _, _, perm in self.log]

    def mutating(self) -> list[str]:
        with self.lock:
            return [f"{m} {p}" for m, p, _ in self.log if m not in READ_METHODS]

    def requests(self) -> list[str]:
        with self.lock:
            return [f"{m} {p}" for m, p, _ in self.log]

    def clear(self) -> None:
        with self.lock:
            self.log.clear()
            self.scripted.clear()
            self.throttled = 0

    # -- serving -----------------------------------------------------------------------
    def start(self) -> str:
        fake = self

        class Http(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                fake._serve(self)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = do_HEAD = _any

            def log_message(self, *args: Any) -> None:
                """No access log in test output."""

        server = ThreadingHTTPServer(("127.0.0.1", 0), Http)
        server.daemon_threads = True
        # stop() waits for the loop's next poll: 0.5 s by default, per fake, per test.
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        self.server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        return self.url

    def beside_settings(self) -> dict[str, Any]:
        """What the fakes served beside this one add to its provider settings."""
        settings: dict[str, Any] = {}
        for other in self.beside:
            settings.update(other.provider_settings())
        return settings

    def stop(self) -> None:
        for other in self.beside:
            other.stop()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def _serve(self, http: BaseHTTPRequestHandler) -> None:
        length = int(http.headers.get("Content-Length") or 0)
        raw = http.rfile.read(length) if length else b""
        parts = urlsplit(http.path)
        path = re.sub(r"/{2,}", "/", unquote(parts.path))
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if self.latency_ms > 0:
            time.sleep(self.latency_ms / 1000)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        status, answer, headers = self.dispatch(http.command, path, query, body,
                                                dict(http.headers.items()))
        data = b"" if answer is None else json.dumps(answer).encode()
        http.send_response(status)
        for key, value in headers.items():
            http.send_header(key, value)
        if data:
            http.send_header("Content-Type", "application/json")
        http.send_header("Content-Length", str(len(data)))
        http.end_headers()
        if data and http.command != "HEAD":
            http.wfile.write(data)

    def dispatch(self, method: str, path: str, query: dict[str, str], body: Any,
                 headers: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        """Route one request (also used for the inner requests of a Graph ``$batch``)."""
        with self.lock:
            scripted = self.scripted_reply(method, path)
            if scripted is not None:
                return scripted
            for limit in self.limits:
                if limit.pattern.search(path):
                    wait = limit.retry_after(time.monotonic())
                    if wait > 0:
                        self.throttled += 1
                        return self._error(Reply(429, "TooManyRequests", "Too many requests",
                                                 {"Retry-After": str(max(1, round(wait)))}))
            for route in self.routes:
                if route.method != method:
                    continue
                match = route.pattern.match(path)
                if match is None:
                    continue
                self.log.append((method, path, route.permission))
                try:
                    out = route.handler(Request(method, path, query, body, headers, match))
                except Reply as reply:
                    return self._error(reply)
                status, answer = out[0], out[1]
                if method not in READ_METHODS and status < 400 and self.on_change is not None:
                    self.on_change()
                return status, answer, (out[2] if len(out) > 2 else {})
            return self._error(Reply(404 if method in READ_METHODS else 405,
                                     "NotFound", f"no route for {method} {path}"))

    def scripted_reply(self, method: str, path: str) -> tuple[int, Any, dict[str, str]] | None:
        """The answer a test scripted for this request, if one is still due."""
        with self.lock:
            for entry in self.scripted:
                if entry.method == method and entry.pattern.match(path):
                    entry.seen.append(time.monotonic())
                    if entry.times > 0:
                        entry.times -= 1
                        self.log.append((method, path, "scripted"))
                        return self._error(entry.reply)
        return None

    def _error(self, reply: Reply) -> tuple[int, Any, dict[str, str]]:
        return reply.status, {"error": {"code": reply.code, "message": reply.message}}, \
            reply.headers
