"""The simulated round trip, and moto serving many requests at once (mass revocation)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from botocore.config import Config

from rescind.sandbox.aws import start_aws_sandbox
from rescind.sandbox.scenario import AccessKeySpec, Scenario, UserSpec


def test_latency_applies_and_requests_run_concurrently() -> None:
    users = [UserSpec(name=f"svc-{i}", access_keys=[AccessKeySpec(id=f"AKIA{i:09d}EXAMPLE")])
             for i in range(8)]
    with start_aws_sandbox(Scenario(users=users, latency_ms=150)) as sandbox:
        assert sandbox.latency_ms == 150
        iam = sandbox.client("iam", config=Config(max_pool_connections=8))

        def deactivate(i: int) -> None:
            iam.update_access_key(UserName=f"svc-{i}", AccessKeyId=f"AKIA{i:09d}EXAMPLE",
                                  Status="Inactive")

        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(deactivate, range(8)))
        assert time.monotonic() - started >= 0.15  # the delay is really added
        assert sandbox.traffic.requests == 8
        assert sandbox.traffic.peak > 1  # served in parallel, not one after another
        sandbox.set_latency(0)
        statuses = {iam.list_access_keys(UserName=f"svc-{i}")["AccessKeyMetadata"][0]["Status"]
                    for i in range(8)}
        assert statuses == {"Inactive"}
