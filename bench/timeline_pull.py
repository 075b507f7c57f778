"""Benchmark: pull 3 regions x 3,000 events from the simulated CloudTrail under its limit.

LookupEvents allows 2 requests/s per account per region and 50 events a page, so
no client can beat 100 events/s per region: the ceiling here is 3 x 100 = 300
events/s. The fake CloudTrail enforces that limit with the real ThrottlingException.
Goal (issue 4): at least 90% of the ceiling, zero events lost or duplicated.

    .venv/bin/python bench/timeline_pull.py [--regions 3] [--events 3000]

Takes about 30 s. The ceiling's ideal time counts the first page free (two pages
may go at once from a full bucket), so a perfect client scores slightly above 100%.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from datetime import UTC, datetime, timedelta

KEY = "AKIAIOSFODNN7EXAMPLE"
ALL_REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2", "eu-central-1"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--regions", type=int, default=3, choices=range(1, 6))
    parser.add_argument("--events", type=int, default=3000, help="events per region")
    args = parser.parse_args()
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

    from rescind.providers.aws import AwsProvider
    from rescind.sandbox.aws import start_aws_sandbox
    from rescind.sandbox.scenario import CloudTrailSpec, GenerateSpec, Identity, Scenario
    from rescind.timeline.pull import PAGE_SIZE, RATE_PER_REGION, pull_cloudtrail

    regions = ALL_REGIONS[: args.regions]
    scenario = Scenario(name="bench", regions=regions, cloudtrail=CloudTrailSpec(
        generate=GenerateSpec(count=args.events, span="-7d",
                              identity=Identity(user="deploy-bot", access_key_id=KEY))))
    started = time.monotonic()
    with start_aws_sandbox(scenario) as sandbox:
        print(f"seeded {args.events:,} events in each of {len(regions)} regions "
              f"({time.monotonic() - started:.1f} s)", file=sys.stderr)
        expected = {r["eventID"] for region in regions for r in sandbox.trail.records(region)}
        settings = sandbox.provider_settings()
        # The same client set-up `rescind timeline pull` uses: the AWS provider's
        # clients (adaptive retry mode, 10 attempts).
        provider = AwsProvider(region=regions[0],
                               cloudtrail_endpoint_url=settings["cloudtrail_endpoint_url"],
                               endpoint_url=settings["endpoint_url"],
                               credentials={"access_key_id": settings["access_key_id"],
                                            "secret_access_key": settings["secret_access_key"]})
        now = datetime.now(UTC)
        sandbox.trail.reset_counters()
        t0 = time.monotonic()
        result = asyncio.run(pull_cloudtrail(
            lambda region: provider.client("cloudtrail", region), regions=regions,
            lookup=("AccessKeyId", KEY), since=now - timedelta(days=8), until=now))
        elapsed = time.monotonic() - t0
        provider.close()
        requests = sum(sandbox.trail.requests.values())
        server_throttled = sum(sandbox.trail.throttled.values())

    uids = [e.uid for e in result.events]
    got = set(uids)
    lost = len(expected - got)
    duplicates = result.duplicates + (len(uids) - len(got))
    total = len(expected)
    rate = len(got) / elapsed
    ceiling = len(regions) * RATE_PER_REGION * PAGE_SIZE
    pages_per_region = -(-args.events // PAGE_SIZE)
    ideal = (pages_per_region - 1) / RATE_PER_REGION
    print(f"timeline pull: {len(regions)} regions x {args.events:,} events = {total:,} events")
    print(f"  pulled        {len(got):,} events in {result.pages} pages, {elapsed:.2f} s "
          f"(ideal at the limit: {ideal:.2f} s)")
    print(f"  throughput    {rate:.1f} events/s; ceiling {ceiling:.0f} events/s "
          f"(2 req/s x 50 events x {len(regions)} regions)")
    print(f"  ratio         {rate / ceiling:.1%} of the ceiling (goal >= 90%)")
    print(f"  requests      {requests} sent, {server_throttled} throttled by the server, "
          f"{result.throttled} throttles seen by the client")
    print(f"  correctness   lost {lost}, duplicated {duplicates} (goal 0 and 0)")
    ok = rate / ceiling >= 0.9 and lost == 0 and duplicates == 0
    print("  result        " + ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
