"""A cloud that lives only in tests: proof that a provider is a plug-in.

Everything a real cloud brings, in one file and nothing under src/: a loopback
fake (an HTTP server holding users and an audit log, logging every request), a
provider with its own Settings and a transport-level dry-run guard, one read and
one mutating action, and a timeline source. ``register_all`` / ``unregister_all``
use the same registration hooks a plug-in's entry-point module would.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from rescind.actions import registry as actions
from rescind.actions.base import Action, ActionContext, Change, Plan, Result, Risk, Verification
from rescind.errors import ActionError
from rescind.modes import Mode
from rescind.providers import registry as providers
from rescind.providers.base import BlockedCall, ProviderBase, Sandbox
from rescind.settings.types import CommaList
from rescind.timeline import sources
from rescind.timeline.convert import ConvertResult
from rescind.timeline.event import Event
from rescind.timeline.pull import PullProgress, PullResult

NAME = "tiny"
READ_PREFIXES = ("Get", "List", "Lookup", "Who")


# -- the loopback fake --------------------------------------------------------------
class TinyFake:
    """The simulated cloud: state read back by tests, every request logged."""

    def __init__(self) -> None:
        self.users = {"mallory": {"enabled": True}, "alice": {"enabled": True}}
        self.audit = [{"id": "ev-1", "time": "2024-05-01T10:00:00Z", "user": "mallory",
                       "op": "CreateUser", "target": "backdoor"}]
        self.requests: list[str] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                op = self.path.strip("/")
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"] or 0)))
                with fake.lock:
                    fake.requests.append(f"tiny:{op}")
                    status, answer = fake.handle(op, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    def handle(self, op: str, body: dict[str, Any]) -> tuple[int, Any]:
        user = body.get("user")
        if op == "WhoAmI":
            return 200, {"who": "responder@tiny"}
        if op == "LookupEvents":
            return 200, {"events": [e for e in self.audit if e["user"] == user]}
        if user not in self.users:
            return 404, {"error": f"no user {user}"}
        if op == "GetUser":
            return 200, dict(self.users[user])
        if op == "DisableUser":
            self.users[user]["enabled"] = False
            return 200, {}
        return 400, {"error": f"unknown operation {op}"}

    def mutating(self) -> list[str]:
        with self.lock:
            return [r for r in self.requests if not r.split(":", 1)[1].startswith(READ_PREFIXES)]

    def operations(self) -> list[str]:
        with self.lock:
            return list(self.requests)

    def provider_settings(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint}

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def running_fake() -> Iterator[TinyFake]:
    fake = TinyFake()
    try:
        yield fake
    finally:
        fake.stop()


# -- the provider ---------------------------------------------------------------------
class TinySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    endpoint: str = Field(default="", description="The tiny cloud's API")
    token: SecretStr | None = Field(default=None, description="API token")
    break_glass: CommaList = Field(default_factory=list)


class TinyProvider(ProviderBase):
    Settings = TinySettings
    started: ClassVar[list[TinyFake]] = []  # sandboxes exercise mode started

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._on_blocked: Callable[[BlockedCall], None] | None = None
        self.closed = False

    @classmethod
    def from_settings(cls, settings: Any, mode: Mode, *,
                      incident_id: str | None = None) -> TinyProvider:
        if not settings.endpoint:
            raise ActionError("tiny.endpoint is not set", kind="config", retryable=False)
        return cls(settings.endpoint)

    @classmethod
    def start_sandbox(cls, scenario: Path | None) -> Sandbox:
        fake = TinyFake()
        cls.started.append(fake)
        return fake

    @property
    def guarded(self) -> bool:
        return self._on_blocked is not None

    def install_dry_run_guard(self, on_blocked: Callable[[BlockedCall], None]) -> None:
        self._on_blocked = on_blocked

    def call(self, op: str, **params: Any) -> Any:
        """The one transport; the guard sits in it."""
        if self._on_blocked is not None and not op.startswith(READ_PREFIXES):
            self._on_blocked(BlockedCall(NAME, f"tiny:{op}", dict(params)))
            return {}
        request = urllib.request.Request(f"{self.endpoint}/{op}", method="POST",
                                         data=json.dumps(params).encode())
        try:
            with urllib.request.urlopen(request, timeout=10) as reply:
                return json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            kind = "not-found" if exc.code == 404 else "error"
            raise ActionError(f"tiny:{op} failed: {exc.code}", kind=kind,
                              retryable=False) from None

    def identities(self) -> list[tuple[str, str]]:
        return [("tiny", str(self.call("WhoAmI")["who"]))]

    def close(self) -> None:
        self.closed = True


# -- actions ----------------------------------------------------------------------------
class UserParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: str


class DescribeUser(Action[UserParams]):
    name = "tiny.describe_user"
    description = "Read a tiny user"
    params_model = UserParams
    risk = Risk.LOW
    reversible = False
    mutating = False
    providers = (NAME,)
    outputs: ClassVar[tuple[str, ...]] = ("enabled",)
    permissions: ClassVar[tuple[str, ...]] = ("tiny:GetUser",)

    async def plan(self, ctx: ActionContext, params: UserParams, step_id: str) -> Plan:
        return Plan(action=self.name, step_id=step_id, params=params.model_dump(),
                    risk=self.risk, reversible=False, mutating=False,
                    summary=f"Read user {params.user}")

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        user = ctx.provider(NAME).call("GetUser", user=plan.params["user"])
        return Result(outputs={"enabled": user["enabled"]})


class DisableUser(Action[UserParams]):
    name = "tiny.disable_user"
    description = "Disable a tiny user"
    params_model = UserParams
    risk = Risk.MEDIUM
    reversible = True
    mutating = True
    providers = (NAME,)
    outputs: ClassVar[tuple[str, ...]] = ("user",)
    permissions: ClassVar[tuple[str, ...]] = ("tiny:GetUser", "tiny:DisableUser")

    async def plan(self, ctx: ActionContext, params: UserParams, step_id: str) -> Plan:
        before = ctx.provider(NAME).call("GetUser", user=params.user)["enabled"]
        return Plan(action=self.name, step_id=step_id, params=params.model_dump(),
                    risk=self.risk, reversible=True, mutating=True, targets=[params.user],
                    changes=[Change(target=params.user, field="enabled", before=before,
                                    after=False)],
                    summary=f"Disable user {params.user}", state={"enabled": before},
                    outputs={"user": params.user})

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        provider = ctx.provider(NAME)
        user = plan.params["user"]
        if provider.call("GetUser", user=user)["enabled"] != plan.state["enabled"]:
            raise ActionError(f"user {user} changed since the plan", kind="conflict")
        provider.call("DisableUser", user=user)
        return Result(outputs={"user": user})

    async def verify(self, ctx: ActionContext, plan: Plan,
                     result: Result | None) -> Verification:
        if ctx.mode is Mode.DRY_RUN:
            return Verification(ok=True, detail="dry-run: nothing was changed")
        enabled = ctx.provider(NAME).call("GetUser", user=plan.params["user"])["enabled"]
        return Verification(ok=not enabled, detail=f"enabled={enabled}")


# -- timeline source --------------------------------------------------------------------
class TinyLookup(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: str


class TinySource(sources.TimelineSource):
    name = NAME
    provider = NAME
    lookup_model = TinyLookup
    description = "The tiny user to trace"
    permissions = ("tiny:LookupEvents",)

    def describe(self, lookup: TinyLookup) -> str:
        return f"user {lookup.user}"

    def regions(self, provider: Any, requested: list[str], table: dict[str, Any]) -> list[str]:
        return ["global"]

    async def resolve(self, provider: Any, lookup: TinyLookup,
                      account: str | None) -> dict[str, Any]:
        return {"user": lookup.user}

    async def pull(self, provider: Any, state: dict[str, Any], *, regions: list[str],
                   account: str | None, since: datetime, until: datetime,
                   progress: Callable[[PullProgress], None] | None,
                   evidence_dir: Path | None) -> PullResult:
        records = provider.call("LookupEvents", user=state["user"])["events"]
        paths = []
        if evidence_dir is not None:
            evidence_dir.mkdir(parents=True, exist_ok=True)
            path = evidence_dir / f"tiny-{state['user']}.jsonl"
            path.write_text("".join(json.dumps(r) + "\n" for r in records))
            paths.append(path)
        return PullResult(events=[self.normalise(r) for r in records], pages=1,
                          regions_done=list(regions), throttled=0, raw_pages_paths=paths)

    def normalise(self, record: dict[str, Any]) -> Event:
        return Event(uid=f"tiny-{record['id']}", source="tiny", cloud="local",
                     time=datetime.fromisoformat(record["time"].replace("Z", "+00:00")),
                     action=record["op"], actor=record["user"], target=record["target"],
                     result="success", raw=record)

    def convert(self, paths: list[Path]) -> ConvertResult:
        result = ConvertResult()
        for path in paths:
            result.files += 1
            for line in path.read_text().splitlines():
                result.records += 1
                event = self.normalise(json.loads(line))
                result.events.append(event)
                result.by_file.setdefault(str(path), []).append(event)
        return result

    def add_arguments(self, group: Any) -> None:
        group.add_argument("--tiny-user", metavar="NAME", help="a tiny user")

    def lookup_from_args(self, args: Any) -> TinyLookup | None:
        user = getattr(args, "tiny_user", None)
        return TinyLookup(user=user) if user else None


def register_all() -> None:
    providers.register(NAME)(TinyProvider)
    actions.register(DescribeUser)
    actions.register(DisableUser)
    sources.register(TinySource)


def unregister_all() -> None:
    providers.unregister(NAME)
    actions.unregister(DescribeUser.name)
    actions.unregister(DisableUser.name)
    sources.unregister(NAME)
