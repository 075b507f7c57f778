"""The simulated Google Cloud project: both loopback fakes around one seeded state.

``start_gcp_sandbox(scenario)`` starts the IAM gRPC fake and the REST fake, seeded
from a scenario (``runbooks/scenarios/gcp-*.yaml``), and returns the sandbox whose
``provider_settings()`` points the ``gcp`` provider at them as the scenario's
responder. Unlike moto, the state is the sandbox's own, so sandboxes can run side
by side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from rescind.sandbox.fake_exercise import FakeExercise
from rescind.sandbox.gcp_bigquery import SINK_DATASET
from rescind.sandbox.gcp_exercise import GcpFake
from rescind.sandbox.gcp_fakes import IamGrpcFake, RestFake
from rescind.sandbox.gcp_scenario import GcpInjectSpec, GcpScenario
from rescind.sandbox.gcp_state import GcpState, seed


@dataclass
class GcpSandbox:
    """A running simulated project. Use as a context manager, or call ``stop()``."""

    iam_endpoint: str
    rest_endpoint: str
    state: GcpState = field(repr=False)
    scenario: GcpScenario = field(repr=False)
    _servers: list[Any] = field(default_factory=list, repr=False)
    _exercise: FakeExercise | None = field(default=None, repr=False)

    def stop(self) -> None:
        servers, self._servers = self._servers, []
        for server in reversed(servers):
            server.stop()

    def __enter__(self) -> GcpSandbox:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def injects(self) -> list[GcpInjectSpec]:
        return list(self.scenario.injects)

    def exercise(self) -> FakeExercise:
        """Exercise mode's injects and saved state (gcp_exercise.py)."""
        if self._exercise is None:
            self._exercise = FakeExercise(GcpFake(self.state, self.scenario))
        return self._exercise

    @property
    def project(self) -> str:
        return self.state.project

    def provider_settings(self) -> dict[str, Any]:
        """The ``[gcp]`` table that points rescind at this project as the responder."""
        window = self.scenario.rate_limit
        per_minute = max(1, int(window.requests * 60 / window.window_s))
        return {"projects": [self.state.project], "iam_endpoint": self.iam_endpoint,
                "rest_endpoint": self.rest_endpoint, "principal": self.state.responder,
                "break_glass": list(self.scenario.break_glass),
                "bigquery_dataset": f"{self.state.project}.{SINK_DATASET}",
                "log_requests_per_minute": per_minute}

    def operations(self) -> list[str]:
        """Every request that reached the fakes, as the IAM permission it needs."""
        with self.state.lock:
            return list(self.state.requests)

    def mutating(self) -> list[str]:
        return self.state.mutating()

    def clear(self) -> None:
        with self.state.lock:
            self.state.requests.clear()


def start_gcp_sandbox(scenario: GcpScenario | Path | None = None, *,
                      latency_ms: float | None = None) -> GcpSandbox:
    """Start both fakes seeded from ``scenario`` (a GcpScenario, a YAML path, or empty)."""
    if isinstance(scenario, Path):
        scenario = GcpScenario.load(scenario)
    spec = scenario or GcpScenario()
    state = seed(spec)
    iam = IamGrpcFake(state)
    rest = RestFake(state)
    servers: list[Any] = []
    try:
        iam_endpoint = iam.start()
        servers.append(iam)
        rest_endpoint = rest.start()
        servers.append(rest)
    except BaseException:
        for server in servers:
            server.stop()
        raise
    if latency_ms is not None:
        state.latency_ms = latency_ms
    return GcpSandbox(iam_endpoint=iam_endpoint, rest_endpoint=rest_endpoint, state=state,
                      scenario=spec, _servers=servers)
