"""Benchmark: deactivate 1,000 access keys on the simulated account, 30 ms a request.

Three ways, same server, same run, keys reset to Active (off the clock) between them:

- rescind: the ``aws.iam.deactivate_access_key`` action exactly as the engine runs
  it: plan (find each key's owner and status), apply (one UpdateAccessKey per key,
  its intent and outcome appended to a real fsynced journal around the call), a
  signed checkpoint, and verify (read every key back);
- a bare ``ThreadPoolExecutor`` of the same width calling UpdateAccessKey per key;
- a sequential boto3 loop (on fewer keys by default, scaled to the full count, and
  said so in the output).

The simulated account runs in its own process (a real API is not on the client's
CPU; in-process, moto's request handling would compete with the client for one
GIL). Goals (issue 4): rescind at least 5x the sequential loop and within 1.3x of the
bare pool. The loop and the pool only send the 1,000 updates; rescind also plans
(a read per user) and verifies (another), so its apply phase (the revocation
itself) is compared too, the pool is also run sending rescind's exact requests,
and the requests each side sent are printed.

    .venv/bin/python bench/mass_revoke.py [--keys 1000] [--latency-ms 30]
                                          [--sequential-keys 200] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any


def key_id(n: int) -> str:
    return f"AKIABENCH{n:07d}EXAM"


def build_scenario(keys: int) -> Any:
    from rescind.sandbox.scenario import AccessKeySpec, Scenario, UserSpec

    users = [UserSpec(name=f"ci-{u:04d}",
                      access_keys=[AccessKeySpec(id=key_id(2 * u + k)) for k in range(2)
                                   if 2 * u + k < keys])
             for u in range((keys + 1) // 2)]  # IAM allows two keys per user
    return Scenario(name="mass-revoke", users=users)


def serve(keys: int, latency_ms: float) -> int:
    """The child process: run the simulated account, obey one-line commands on stdin."""
    from rescind.sandbox.aws import start_aws_sandbox

    with start_aws_sandbox(build_scenario(keys), latency_ms=latency_ms) as sandbox:
        print(json.dumps(sandbox.provider_settings()), flush=True)
        for line in sys.stdin:
            command, _, arg = line.strip().partition(" ")
            if command == "latency":
                sandbox.set_latency(float(arg))
                reply = "ok"
            elif command == "requests":
                reply = str(sandbox.traffic.requests)
            elif command == "reset":
                sandbox.traffic.reset()
                reply = "ok"
            else:
                break
            print(reply, flush=True)
    return 0


class RemoteSandbox:
    """The simulated account in a child process (``serve``)."""

    def __init__(self, keys: int, latency_ms: float) -> None:
        self.latency_ms = latency_ms
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", "--keys", str(keys), "--latency-ms",
             str(latency_ms)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit("the simulated account did not start")
        self.settings: dict[str, Any] = json.loads(line)

    def _ask(self, command: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def set_latency(self, latency_ms: float) -> None:
        self.latency_ms = latency_ms
        self._ask(f"latency {latency_ms}")

    def requests(self) -> int:
        return int(self._ask("requests"))

    def reset_traffic(self) -> None:
        self._ask("reset")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self._ask("stop")
            self.proc.wait(timeout=30)


class Bench:
    def __init__(self, sandbox: RemoteSandbox, keys: list[str], width: int) -> None:
        import boto3
        from botocore.config import Config

        self.sandbox = sandbox
        self.keys = keys
        self.owner = {k: f"ci-{int(k[9:16]) // 2:04d}" for k in keys}
        self.width = width
        settings = sandbox.settings
        self.settings = settings
        self.client = boto3.client(
            "iam", region_name="us-east-1", endpoint_url=settings["endpoint_url"],
            aws_access_key_id=settings["access_key_id"],
            aws_secret_access_key=settings["secret_access_key"],
            config=Config(max_pool_connections=width, retries={"mode": "standard"}))

    def update(self, key: str, status: str = "Inactive") -> None:
        self.client.update_access_key(UserName=self.owner[key], AccessKeyId=key, Status=status)

    def reset(self) -> None:
        """Every key Active again, without the simulated latency (not measured)."""
        latency = self.sandbox.latency_ms
        self.sandbox.set_latency(0)
        with ThreadPoolExecutor(self.width) as pool:
            list(pool.map(lambda k: self.update(k, "Active"), self.keys))
        self.sandbox.set_latency(latency)
        self.sandbox.reset_traffic()

    def inactive(self) -> int:
        latency = self.sandbox.latency_ms
        self.sandbox.set_latency(0)
        users = sorted(set(self.owner.values()))
        with ThreadPoolExecutor(self.width) as pool:
            pages = pool.map(lambda u: self.client.list_access_keys(UserName=u), users)
            count = sum(int(k["Status"] == "Inactive") for p in pages
                        for k in p["AccessKeyMetadata"])
        self.sandbox.set_latency(latency)
        return count

    def timed(self, fn: Callable[[], Any], expect: int | None = None) -> tuple[float, int]:
        """(seconds, requests) of one run of ``fn``, after resetting every key to Active."""
        self.reset()
        start = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - start
        requests = self.sandbox.requests()
        done = self.inactive()
        if done != (len(self.keys) if expect is None else expect):
            raise SystemExit(f"{done} keys were deactivated, not {expect or len(self.keys)}")
        return elapsed, requests

    def sequential(self, count: int) -> Callable[[], None]:
        def run() -> None:
            for key in self.keys[:count]:
                self.update(key)

        return run

    def pool(self) -> None:
        with ThreadPoolExecutor(self.width) as pool:
            list(pool.map(self.update, self.keys))

    def pool_same_requests(self) -> None:
        """The bare pool sending what rescind sends: find the keys' users and status,
        change them, and read them back."""
        pages = self.client.get_paginator("list_users").paginate(
            PaginationConfig={"PageSize": 1000})
        users = [u["UserName"] for page in pages for u in page["Users"]]

        def read(user: str) -> Any:
            return self.client.list_access_keys(UserName=user)

        with ThreadPoolExecutor(self.width) as pool:
            list(pool.map(read, users))
            list(pool.map(self.update, self.keys))
            list(pool.map(read, users))

    def rescind(self, phases: dict[str, float]) -> Callable[[], None]:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        from rescind.actions import registry
        from rescind.actions.base import ActionContext
        from rescind.modes import Mode
        from rescind.providers.registry import build_providers
        from rescind.record.checkpoint import checkpoint
        from rescind.record.journal import Journal
        from rescind.record.keys import KeySigner

        signer = KeySigner(Ed25519PrivateKey.generate(), name="Bench", email="bench@example.com",
                           source="memory")
        settings = {"aws": self.settings | {"concurrency": self.width}}
        # Made (and its clients loaded) off the clock, as the bare pool's client is; in an
        # incident the provider lives for the whole session.
        providers = build_providers({"aws"}, Mode.EXERCISE, settings)
        providers["aws"].client("iam")  # type: ignore[attr-defined]
        providers["aws"].caller_identity()  # type: ignore[attr-defined]

        def run() -> None:
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                journal = Journal.create(folder / "journal.jsonl")
                ctx = ActionContext(mode=Mode.EXERCISE, incident_dir=folder,
                                    providers=providers,
                                    journal=lambda kind, data: journal.append(kind, data).seq,
                                    settings=settings)
                cls = registry.get("aws.iam.deactivate_access_key")
                assert cls is not None
                action = cls()
                params = action.parse_params({"access_key_ids": self.keys,
                                              "max_targets": len(self.keys)})

                async def steps() -> None:
                    t0 = time.perf_counter()
                    plan = await action.plan(ctx, params, "mass-revoke")
                    journal.append("action.plan", {"step": "mass-revoke",
                                                   "plan_hash": plan.digest})
                    t1 = time.perf_counter()
                    result = await action.apply(ctx, plan)
                    journal.append("action.outcome", {"step": "mass-revoke", "ok": True,
                                                      "outputs": {"count": len(plan.targets)}})
                    checkpoint(journal, signer, "bench", "after mass-revoke")
                    t2 = time.perf_counter()
                    verification = await action.verify(ctx, plan, result)
                    t3 = time.perf_counter()
                    assert verification.ok, verification.detail
                    phases["plan"], phases["apply"], phases["verify"] = t1 - t0, t2 - t1, t3 - t2
                    phases["journal_entries"] = journal.next_seq

                asyncio.run(steps())

        return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=30.0)
    parser.add_argument("--sequential-keys", type=int, default=200,
                        help="keys for the sequential loop (its time is scaled to --keys)")
    parser.add_argument("--width", type=int, default=16,
                        help="rescind's concurrency and the bare pool's width")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of rescind and of the bare pool (medians are reported)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    if args.serve:
        return serve(args.keys, args.latency_ms)

    started = time.monotonic()
    sandbox = RemoteSandbox(args.keys, args.latency_ms)
    try:
        keys = [key_id(n) for n in range(args.keys)]
        print(f"seeded {args.keys:,} keys of {(args.keys + 1) // 2:,} users in "
              f"{time.monotonic() - started:.1f} s; {args.latency_ms:g} ms a request, "
              f"width {args.width}", file=sys.stderr)
        bench = Bench(sandbox, keys, args.width)
        seq_keys = min(args.sequential_keys, args.keys)
        seq_time, seq_requests = bench.timed(bench.sequential(seq_keys), expect=seq_keys)
        seq_scaled = seq_time * args.keys / seq_keys
        pool_runs, same_runs, rescind_runs, phase_runs = [], [], [], []
        for _ in range(args.repeat):
            pool_runs.append(bench.timed(bench.pool))
            same_runs.append(bench.timed(bench.pool_same_requests))
            phases: dict[str, float] = {}
            rescind_runs.append(bench.timed(bench.rescind(phases)))
            phase_runs.append(phases)
    finally:
        sandbox.stop()
    pool_time = statistics.median(t for t, _ in pool_runs)
    same_time = statistics.median(t for t, _ in same_runs)
    rescind_time = statistics.median(t for t, _ in rescind_runs)
    middle = sorted(range(len(rescind_runs)), key=lambda i: rescind_runs[i][0])[
        len(rescind_runs) // 2]
    phases = phase_runs[middle]
    n = args.keys
    print(f"\nmass revocation: {n:,} access keys, {args.latency_ms:g} ms a request, "
          f"width {args.width}, median of {args.repeat}")
    print(f"  sequential boto3 loop  {seq_scaled:8.2f} s  ({seq_time:.2f} s for {seq_keys} keys, "
          f"scaled x{n / seq_keys:g}; {seq_requests} requests)")
    print(f"  bare thread pool       {pool_time:8.2f} s  ({pool_runs[0][1]} requests: the "
          "updates only)")
    print(f"  bare pool, rescind's requests {same_time:5.2f} s  ({same_runs[0][1]} requests: "
          "users' keys read, updated, read back)")
    print(f"  rescind, all phases    {rescind_time:8.2f} s  ({rescind_runs[middle][1]} requests; "
          f"plan {phases['plan']:.2f} s, apply {phases['apply']:.2f} s, verify "
          f"{phases['verify']:.2f} s; {int(phases['journal_entries'])} journal entries "
          "fsynced, 1 signed checkpoint)")
    print(f"\n  rescind vs sequential loop:        {seq_scaled / rescind_time:5.1f}x faster "
          "(goal >= 5x)")
    print(f"  rescind vs bare pool:              {rescind_time / pool_time:5.2f}x the time "
          "(goal <= 1.3x)")
    print(f"  rescind apply phase vs sequential: {seq_scaled / phases['apply']:5.1f}x faster "
          "(the revocation alone: updates, journal, checkpoint)")
    print(f"  rescind apply phase vs bare pool:  {phases['apply'] / pool_time:5.2f}x the time")
    print(f"  rescind vs bare pool, same requests: {rescind_time / same_time:5.2f}x the time "
          "(rescind's own overhead: asyncio, journal fsyncs, signing)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
