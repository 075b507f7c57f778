"""`rescind timeline convert` at organisation scale: a million CloudTrail records.

Records are generated from a few templates (unique ids and times, a tenth carrying a
secret) into a temporary folder, as ten JSONL files whose times interleave (as one
region's delivery files interleave with another's), so the merge has to sort. Each
format (OCSF, CSV, Timesketch) is converted by the real command in its own process,
beside a floor measured in the same run: a plain loop that parses each record, maps
five fields and writes a JSON line. Wall and CPU time are read from the process itself
(os.wait4's rusage: CPU includes its worker processes'). Convert reads big inputs of
several files in one worker process per core: memory is the peak of the sum of every
process's proportional set size (PSS, so pages the workers share with their parent
count once), sampled every 20 ms from /proc; the parent's own peak RSS is printed too.

Goals (issue 13): within 2x the floor's time, peak memory under 300 MB. CPU time is
printed beside wall time: on a machine shared with other work it is the steadier ratio,
and it shows what the workers cost in all.

    python bench/convert_scale.py [--records 1000000] [--files 10] [-- --workers 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

_IDENTITY = {"type": "IAMUser", "principalId": "AIDAJ45Q7YFFAREXAMPLE",
             "arn": "arn:aws:iam::123456789012:user/deploy-bot", "accountId": "123456789012",
             "accessKeyId": "AKIAIOSFODNN7EXAMPLE", "userName": "deploy-bot",
             "sessionContext": {"attributes": {"creationDate": "2026-11-20T09:55:00Z",
                                               "mfaAuthenticated": "false"}}}
_TEMPLATES: list[tuple[str, str, dict[str, Any], dict[str, Any] | None]] = [
    ("ListBuckets", "s3.amazonaws.com", {"Host": "s3.amazonaws.com"}, None),
    ("DescribeInstances", "ec2.amazonaws.com",
     {"instancesSet": {}, "filterSet": {"items": [{"name": "tag:env", "valueSet": {
         "items": [{"value": "prod"}]}}]}}, None),
    ("GetObject", "s3.amazonaws.com", {"bucketName": "example-logs", "key": "a/b/c.json"}, None),
    ("ListUsers", "iam.amazonaws.com", {"maxItems": 100}, None),
    ("AssumeRole", "sts.amazonaws.com",
     {"roleArn": "arn:aws:iam::123456789012:role/vendor", "roleSessionName": "v"},
     {"credentials": {"accessKeyId": "ASIAIOSFODNN7EXAMPLE", "sessionToken": "CANARYtoken",
                      "expiration": "Nov 20, 2026, 11:06:00 AM"}}),
    ("GetCallerIdentity", "sts.amazonaws.com", {}, None),
    ("PutObject", "s3.amazonaws.com", {"bucketName": "example-logs", "key": "x/y.json"}, None),
    ("DescribeVolumes", "ec2.amazonaws.com", {"volumeSet": {}}, None),
    ("ListRoles", "iam.amazonaws.com", {}, None),
    ("GetBucketAcl", "s3.amazonaws.com", {"bucketName": "example-logs", "acl": ""}, None),
]

# The floor: parse, map five fields, dump a line. What any converter has to do.
_FLOOR = """
import json, sys
with open(sys.argv[1], "w") as out:
    for name in sys.argv[2:]:
        with open(name) as fh:
            for line in fh:
                r = json.loads(line)
                out.write(json.dumps({"time": r["eventTime"], "name": r["eventName"],
                    "source": r["eventSource"], "uid": r["eventID"],
                    "ip": r["sourceIPAddress"]}) + "\\n")
"""


def generate(folder: Path, records: int, files: int) -> list[Path]:
    """``records`` records in ``files`` JSONL files; record i goes to file i % files."""
    start = datetime(2026, 11, 20, tzinfo=UTC)
    paths = [folder / f"cloudtrail-{k:02d}.jsonl" for k in range(files)]
    handles = [p.open("w", encoding="utf-8") for p in paths]
    try:
        for i in range(records):
            name, source, params, response = _TEMPLATES[i % len(_TEMPLATES)]
            record = {
                "eventVersion": "1.09", "userIdentity": _IDENTITY,
                "eventTime": (start + timedelta(seconds=i // 3)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "eventSource": source, "eventName": name, "awsRegion": "us-east-1",
                "sourceIPAddress": "203.0.113.50", "userAgent": "aws-cli/2.15.30",
                "requestParameters": params, "responseElements": response,
                "requestID": f"req-{i}", "eventID": f"00000000-0000-4000-8000-{i:012d}",
                "readOnly": name.startswith(("List", "Get", "Describe")),
                "eventType": "AwsApiCall", "managementEvent": True,
                "recipientAccountId": "123456789012", "eventCategory": "Management"}
            handles[i % files].write(json.dumps(record) + "\n")
    finally:
        for fh in handles:
            fh.close()
    return paths


def measure(argv: list[str]) -> tuple[float, float, float, float]:
    """(wall seconds, CPU seconds, peak RSS of the process and peak PSS of it and its
    children together, in MB) of one process running ``argv``."""
    env = dict(os.environ, AWS_EC2_METADATA_DISABLED="true", NO_GCE_CHECK="true")
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    assert proc.stderr is not None
    peak = [0]
    done = threading.Event()
    sampler = threading.Thread(target=_sample, args=(proc.pid, peak, done))
    sampler.start()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{argv[2:5]} failed ({proc.returncode}): {err.decode()[-2000:]}")
    cpu = usage.ru_utime + usage.ru_stime
    return elapsed, cpu, usage.ru_maxrss / 1024, peak[0] / 1024  # kilobytes on Linux


def _sample(pid: int, peak: list[int], done: threading.Event) -> None:
    while not done.wait(0.02):
        peak[0] = max(peak[0], sum(_pss(p) for p in _tree(pid)))


def _tree(pid: int) -> list[int]:
    found, pending = [], [pid]
    while pending:
        p = pending.pop()
        found.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    pending.extend(int(c) for c in fh.read().split())
        except OSError:
            continue
    return found


def _pss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("convert_args", nargs="*", metavar="-- CONVERT_ARG",
                        help="more arguments for convert (e.g. -- --workers 1)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rescind-bench-") as tmp:
        folder = Path(tmp)
        paths = generate(folder, args.records, args.files)
        size = sum(p.stat().st_size for p in paths) / 2**20
        print(f"{args.records:,} records in {args.files} files ({size:,.0f} MB)")
        floor_t, floor_cpu, floor_rss, _ = measure(
            [sys.executable, "-c", _FLOOR, str(folder / "floor.jsonl"), *map(str, paths)])
        print(f"{'':28} {'wall':>8}    {'CPU':>7}    {'peak RSS':>8}  {'all PSS':>8}")
        print(f"{'floor (parse, map, dump)':28} {floor_t:8.1f} s  {floor_cpu:7.1f} s  "
              f"{floor_rss:6.0f} MB")
        for fmt in ("ocsf", "csv", "timesketch"):
            out = folder / f"out.{fmt}"
            elapsed, cpu, rss, pss = measure([
                sys.executable, "-m", "rescind", "timeline", "convert", *map(str, paths),
                "--format", fmt, "--out", str(out), *args.convert_args])
            with out.open(encoding="utf-8") as fh:
                lines = sum(1 for _ in fh) - (fmt == "csv")
                fh.seek(0)
                leaked = any("CANARY" in line for line in fh)
            print(f"{'convert --format ' + fmt:28} {elapsed:8.1f} s  {cpu:7.1f} s  "
                  f"{rss:6.0f} MB  {pss:6.0f} MB  {elapsed / floor_t:4.1f}x floor wall, "
                  f"{cpu / floor_cpu:4.1f}x CPU (goal 2x)  memory "
                  f"{'ok' if pss < 300 else 'OVER'} (goal < 300 MB)  {lines:,} lines  "
                  f"{'LEAKED' if leaked else 'no canary'}")
            out.unlink()


if __name__ == "__main__":
    main()
