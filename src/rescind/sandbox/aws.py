"""The simulated AWS account: moto's server plus the fake CloudTrail, seeded from a scenario.

moto runs in this process (werkzeug's threaded server around moto's own WSGI app,
as ``moto.server.ThreadedMotoServer`` does, plus a latency middleware), so the
seeding (aws_seed.py) can reach into moto's IAM backend to give access keys the scenario's ids
(``AKIAIOSFODNN7EXAMPLE``) instead of moto's random ones: runbook inputs and the
CloudTrail history name the same key the simulated account knows.

moto's state is global to the process, so one sandbox runs at a time; starting it
resets moto.
"""

from __future__ import annotations

import os
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from rescind.errors import RescindError, UsageError
from rescind.sandbox.aws_seed import RESPONDER_KEY_ID, Seeder, iam_backend, sandbox_client
from rescind.sandbox.cloudtrail import FakeCloudTrail
from rescind.sandbox.scenario import InjectSpec, Scenario

if TYPE_CHECKING:
    from rescind.sandbox.aws_exercise import AwsExercise

_active_lock = threading.Lock()
_active: AwsSandbox | None = None

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class MotoTraffic:
    """Requests to moto: the simulated round trip, a count, and the peak concurrency."""

    def __init__(self) -> None:
        self.latency_ms = 0.0
        self.requests = 0
        self.in_flight = 0
        self.peak = 0
        # Exercise mode's injects and saved state (aws_exercise.py), once an exercise plays.
        self.hook: AwsExercise | None = None
        self._lock = threading.Lock()

    def wrap(self, app: WsgiApp) -> WsgiApp:
        def wrapped(environ: dict[str, Any],
                    start_response: Callable[..., Any]) -> Iterable[bytes]:
            with self._lock:
                self.requests += 1
                self.in_flight += 1
                self.peak = max(self.peak, self.in_flight)
            try:
                if self.latency_ms > 0:
                    time.sleep(self.latency_ms / 1000)
                if self.hook is not None:
                    return self.hook.handle(app, environ, start_response)
                # moto answers with a complete body: materialise it inside the count.
                return list(app(environ, start_response))
            finally:
                with self._lock:
                    self.in_flight -= 1

        return wrapped

    def reset(self) -> None:
        with self._lock:
            self.requests = 0
            self.peak = self.in_flight


@dataclass
class AwsSandbox:
    """A running simulated account. Use as a context manager, or call ``stop()``."""

    endpoint_url: str
    cloudtrail_url: str
    regions: list[str]
    account_id: str
    trail: FakeCloudTrail = field(repr=False)
    traffic: MotoTraffic = field(default_factory=MotoTraffic, repr=False)
    responder_user: str = "responder"
    responder_key_id: str = RESPONDER_KEY_ID
    break_glass: list[str] = field(default_factory=list)
    scenario: Scenario | None = field(default=None, repr=False)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    _stop: Callable[[], None] | None = field(default=None, repr=False)
    _responder_secret: str = field(default="", repr=False)

    # -- lifecycle ------------------------------------------------------------
    def stop(self) -> None:
        global _active
        if self._stop is not None:
            self._stop()
            self._stop = None
        with _active_lock:
            if _active is self:
                _active = None

    def __enter__(self) -> AwsSandbox:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- use --------------------------------------------------------------------
    @property
    def responder_arn(self) -> str:
        return str(iam_backend(self.account_id).get_user(self.responder_user).arn)

    def env(self) -> dict[str, str]:
        """Environment for a process (or boto3 session) to act as the responder here.

        Fake credentials of the scenario's responder, every AWS service pointed at
        moto and CloudTrail at the fake, no instance metadata, no real config files.
        """
        return {
            "AWS_ACCESS_KEY_ID": self.responder_key_id,
            "AWS_SECRET_ACCESS_KEY": self._responder_secret,
            "AWS_DEFAULT_REGION": self.regions[0],
            "AWS_REGION": self.regions[0],
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ENDPOINT_URL_CLOUDTRAIL": self.cloudtrail_url,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }

    def provider_settings(self) -> dict[str, Any]:
        """The ``[aws]`` settings table that points rescind at this account as the responder.

        Keys as ``rescind.providers.aws_settings.AwsSettings`` reads them.
        """
        return {
            "region": self.regions[0],
            "regions": list(self.regions),
            "endpoint_url": self.endpoint_url,
            "cloudtrail_endpoint_url": self.cloudtrail_url,
            "access_key_id": self.responder_key_id,
            "secret_access_key": self._responder_secret,
            "break_glass": list(self.break_glass),
            "event_data_store": self.trail.lake.arn,
        }

    def client(self, service: str, region: str | None = None, **kwargs: Any) -> Any:
        """A boto3 client acting as the responder against this sandbox."""
        endpoint = self.cloudtrail_url if service == "cloudtrail" else self.endpoint_url
        return sandbox_client(
            service, region_name=region or self.regions[0], endpoint_url=endpoint,
            aws_access_key_id=self.responder_key_id,
            aws_secret_access_key=self._responder_secret, **kwargs)

    @property
    def latency_ms(self) -> float:
        return self.traffic.latency_ms

    def set_latency(self, latency_ms: float) -> None:
        """Change the simulated round trip for moto and the fake CloudTrail."""
        self.traffic.latency_ms = latency_ms
        self.trail.latency_ms = latency_ms

    # -- exercise ---------------------------------------------------------------
    @property
    def injects(self) -> list[InjectSpec]:
        return list(self.scenario.injects) if self.scenario else []

    def exercise(self) -> AwsExercise:
        """Injects, denials and the saved state of this account (made on first use)."""
        from rescind.sandbox.aws_exercise import AwsExercise

        if self.traffic.hook is None:
            self.traffic.hook = AwsExercise(self)
        return self.traffic.hook

    def reseed(self, now: datetime) -> None:
        """Empty the account and seed its scenario again as of ``now`` (a restore's anchor).

        The responder keeps the secret it was given: providers already hold it.
        """
        scenario, secret = self.scenario, self._responder_secret
        if scenario is None:
            return
        _reset_moto(self.endpoint_url)
        self.trail.clear()
        self.now = now
        self.seed(scenario)
        iam_backend(self.account_id).access_keys[self.responder_key_id].secret_access_key = secret
        self._responder_secret = secret

    # -- seeding ----------------------------------------------------------------
    def seed(self, scenario: Scenario | Path) -> None:
        """Create the scenario's account state in moto and its history in CloudTrail."""
        if isinstance(scenario, Path):
            scenario = Scenario.load(scenario)
        if scenario.account_id != self.account_id:
            raise UsageError(f"scenario account {scenario.account_id} is not the sandbox's "
                             f"{self.account_id}", fix="start a sandbox for that scenario")
        Seeder(self, scenario).run()
        self.scenario = scenario
        self.break_glass = list(dict.fromkeys([*self.break_glass, *scenario.break_glass]))


def start_aws_sandbox(scenario: Scenario | Path | None = None, *,
                      latency_ms: float | None = None) -> AwsSandbox:
    """Start moto (IAM, STS, Secrets Manager, Organizations) and the fake CloudTrail.

    Seeds ``scenario`` if given (a Scenario or a YAML path). ``latency_ms``
    overrides the scenario's simulated round trip.
    """
    global _active
    if isinstance(scenario, Path):
        scenario = Scenario.load(scenario)
    spec = scenario or Scenario()
    with _active_lock:
        if _active is not None:
            raise RescindError("a simulated AWS account is already running in this process",
                               fix="stop it first (moto's state is shared by the process)")
        delay_ms = spec.latency_ms if latency_ms is None else latency_ms
        traffic = MotoTraffic()
        stop_moto, endpoint = _start_moto(traffic)
        trail = FakeCloudTrail(spec.account_id, latency_ms=0.0)
        try:
            cloudtrail_url = trail.start()
        except OSError:
            stop_moto()
            raise

        def stop_all() -> None:
            trail.stop()
            stop_moto()

        sandbox = AwsSandbox(endpoint_url=endpoint, cloudtrail_url=cloudtrail_url,
                             regions=list(spec.regions), account_id=spec.account_id,
                             trail=trail, traffic=traffic, _stop=stop_all)
        _active = sandbox
    try:
        _reset_moto(endpoint)
        if scenario is not None:
            sandbox.seed(scenario)
        else:
            Seeder(sandbox, spec).run()
        sandbox.set_latency(delay_ms)  # after seeding: the delay simulates the API, not setup
        traffic.reset()
    except BaseException:
        sandbox.stop()
        raise
    return sandbox


def _start_moto(traffic: MotoTraffic) -> tuple[Callable[[], None], str]:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import ThreadedWSGIServer

    class QuietHandler(MotoRequestHandler):
        def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002
            """moto's access log would scribble over the responder's terminal."""

    class Server(ThreadedWSGIServer):
        request_queue_size = 256  # moto closes every connection; a pool reconnects in bursts
        daemon_threads = True

    from rescind.sandbox.athena_pages import paged

    app = DomainDispatcherApplication(create_backend_app)
    server = Server("127.0.0.1", 0, traffic.wrap(paged(app)), handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="moto", daemon=True)
    thread.start()
    port = server.server_address[1]

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop, f"http://127.0.0.1:{port}"


def _reset_moto(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
