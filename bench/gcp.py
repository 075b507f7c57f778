"""Benchmarks of the Google Cloud provider against the simulated project (issue 10).

1. Log pull at the quota: ``entries:list`` against the fake holding its per-project
   limit (Google: 60 per minute; ``--limit`` per second, 1 by default, as a sliding
   one-second window), the provider configured with the same limit, measured as the
   fake saw the requests arrive. Goal: at least 90% of the ceiling, no entry lost or
   duplicated.
2. Mass key disable: ``gcp.sa_key.disable`` on 200 keys (20 service accounts x 10,
   IAM's maximum per account) with 30 ms per request, against a sequential loop of
   DisableServiceAccountKey calls through the same client. Goal: at least 5x.

The fakes run in this process; their latency is a sleep, which releases the GIL.

    .venv/bin/python bench/gcp.py [--entries 15000] [--limit 1] [--keys 200] [--latency-ms 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("NO_GCE_CHECK", "true")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

PRINCIPAL = "tailpipe-connector@example-project.iam.gserviceaccount.com"


def _provider(sandbox: Any, **overrides: Any) -> Any:
    from rescind.modes import Mode
    from rescind.providers.gcp import GcpProvider
    from rescind.providers.gcp_settings import GcpSettings

    settings = GcpSettings.model_validate({**sandbox.provider_settings(), **overrides})
    return GcpProvider.from_settings(settings, Mode.LIVE)


def bench_pull(entries: int, limit: int) -> bool:
    from rescind.sandbox.gcp import start_gcp_sandbox
    from rescind.sandbox.gcp_scenario import GcpScenario
    from rescind.timeline.gcp_pull import pull_audit_logs

    scenario = GcpScenario.model_validate({
        "service_accounts": [{"email": PRINCIPAL}],
        "rate_limit": {"requests": limit, "window_s": 1.0},
        "audit_log": {"attacker": {"principal": PRINCIPAL},
                      "generate": {"count": entries, "span": "-6d"}}})
    with start_gcp_sandbox(scenario) as sandbox:
        provider = _provider(sandbox, log_requests_per_minute=limit * 60)
        now = datetime.now(UTC)
        expected = {e["insertId"] for e in sandbox.state.log}
        try:
            start = time.perf_counter()
            result = asyncio.run(pull_audit_logs(
                provider, projects=["example-project"], lookup=("principal", PRINCIPAL),
                since=now - timedelta(days=7), until=now))
            elapsed = time.perf_counter() - start
        finally:
            provider.close()
        arrivals = list(sandbox.state.arrivals)
    got = [e.uid for e in result.events]
    lost, repeated = len(expected - set(got)), len(got) - len(set(got))
    # As the server saw it: requests per second between the first and the last arrival.
    rate = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    ratio = rate / limit
    print(f"log pull: {len(got):,} entries in {result.pages} pages, {elapsed:.2f} s; the fake "
          f"received {rate:.2f} requests/s against a limit of {limit}/s (Google: 60/min): "
          f"{ratio:.0%} of the ceiling; {result.throttled} refused and retried, {lost} lost, "
          f"{repeated} duplicated")
    return ratio >= 0.9 and lost == 0 and repeated == 0


def bench_disable(keys: int, latency_ms: float) -> bool:
    from rescind.actions import registry
    from rescind.actions.base import ActionContext
    from rescind.modes import Mode
    from rescind.sandbox.gcp import start_gcp_sandbox
    from rescind.sandbox.gcp_scenario import GcpScenario

    per = 10  # IAM allows 10 keys per service account
    accounts = [{"email": f"svc-{a:03d}@example-project.iam.gserviceaccount.com",
                 "keys": [{"id": f"{a * per + k:040x}"} for k in range(per)
                          if a * per + k < keys]}
                for a in range((keys + per - 1) // per)]
    scenario = GcpScenario.model_validate({"service_accounts": accounts})
    emails = [a["email"] for a in accounts]
    with start_gcp_sandbox(scenario, latency_ms=latency_ms) as sandbox:
        provider = _provider(sandbox)
        try:
            action = registry.get("gcp.sa_key.disable")()  # type: ignore[misc]
            ctx = ActionContext(mode=Mode.LIVE, incident_dir=Path(tempfile.mkdtemp()),
                                providers={"gcp": provider}, journal=lambda kind, data: 0,
                                settings={})
            params = action.parse_params({"service_accounts": emails, "all_keys": True,
                                          "max_targets": keys})

            async def run() -> tuple[float, float]:
                plan = await action.plan(ctx, params, "bench")
                start = time.perf_counter()
                await action.apply(ctx, plan)
                applied = time.perf_counter() - start
                assert (await action.verify(ctx, plan, None)).ok
                return applied, time.perf_counter() - start

            provider.iam()  # connect before the clock starts, for both sides
            applied, with_verify = asyncio.run(run())
            assert all(k.disabled for k in sandbox.state.keys.values())
            for key in sandbox.state.keys.values():
                key.disabled = False
            start = time.perf_counter()
            for key in sandbox.state.keys.values():
                provider.iam_call("disable_service_account_key",
                                  {"name": f"projects/-/serviceAccounts/{key.account}/keys/"
                                           f"{key.id}"},
                                  permission="iam.serviceAccountKeys.disable")
            sequential = time.perf_counter() - start
        finally:
            provider.close()
    speedup = sequential / applied
    print(f"disable {keys} keys at {latency_ms:.0f} ms: rescind apply {applied:.2f} s "
          f"({with_verify:.2f} s with verify), sequential loop {sequential:.2f} s: "
          f"{speedup:.1f}x (width {provider.width})")
    return speedup >= 5


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=15_000)
    parser.add_argument("--limit", type=int, default=1,
                        help="entries.list per second (Google: 60 per minute, 1/s)")
    parser.add_argument("--keys", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=30.0)
    args = parser.parse_args()
    ok = bench_pull(args.entries, args.limit)
    ok = bench_disable(args.keys, args.latency_ms) and ok
    print("goals met" if ok else "GOALS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
