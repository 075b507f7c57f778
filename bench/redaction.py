"""Redaction's share of `timeline convert`: 50,000 CloudTrail records to OCSF and raw.

Records are generated from a few templates (unique ids and times), a fifth of them
carrying a secret (an access key's secret, a session token, a password, an external
id inside a trust policy held as JSON text). The run times the steps `rescind
timeline convert` takes, separately: parse and normalise (which redacts each
record's ``raw``), then each export (which redacts again on the way out), and the
time spent in ``redact`` alone over the same records. Issue 13 measured redaction
as 83% of convert time, from a per-character decision on every key of every record.

Times are CPU seconds of this process, steadier than wall time on a shared machine.

    python bench/redaction.py [--records 50000]
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import json
import pstats
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rescind.redaction import redact
from rescind.timeline.convert import convert_files
from rescind.timeline.export import export

_IDENTITY = {"type": "IAMUser", "principalId": "AIDAJ45Q7YFFAREXAMPLE",
             "arn": "arn:aws:iam::123456789012:user/deploy-bot", "accountId": "123456789012",
             "accessKeyId": "AKIAIOSFODNN7EXAMPLE", "userName": "deploy-bot",
             "sessionContext": {"attributes": {"creationDate": "2026-11-20T09:55:00Z",
                                               "mfaAuthenticated": "false"}}}
_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
    "Action": "sts:AssumeRole",
    "Condition": {"StringEquals": {"sts:ExternalId": "CANARYexternalId"}}}]})
_TEMPLATES: list[tuple[str, str, dict[str, Any], dict[str, Any] | None]] = [
    ("ListBuckets", "s3.amazonaws.com", {"Host": "s3.amazonaws.com"}, None),
    ("DescribeInstances", "ec2.amazonaws.com",
     {"instancesSet": {}, "filterSet": {"items": [{"name": "tag:env", "valueSet": {
         "items": [{"value": "prod"}]}}]}}, None),
    ("GetObject", "s3.amazonaws.com", {"bucketName": "example-logs", "key": "a/b/c.json"}, None),
    ("ListUsers", "iam.amazonaws.com", {"maxItems": 100}, None),
    ("CreateAccessKey", "iam.amazonaws.com", {"userName": "backup-admin"},
     {"accessKey": {"accessKeyId": "AKIABACKUPAD1EXAMPLE", "status": "Active",
                    "secretAccessKey": "CANARYsecret"}}),
    ("AssumeRole", "sts.amazonaws.com",
     {"roleArn": "arn:aws:iam::123456789012:role/vendor", "roleSessionName": "v",
      "externalId": "CANARYexternalId"},
     {"credentials": {"accessKeyId": "ASIAIOSFODNN7EXAMPLE", "sessionToken": "CANARYtoken",
                      "expiration": "Nov 20, 2026, 11:06:00 AM"}}),
    ("CreateLoginProfile", "iam.amazonaws.com",
     {"userName": "backup-admin", "password": "CANARYpassword"}, None),
    ("GetCallerIdentity", "sts.amazonaws.com", {}, None),
    ("UpdateAssumeRolePolicy", "iam.amazonaws.com",
     {"roleName": "vendor", "policyDocument": _TRUST}, None),
    ("ListRoles", "iam.amazonaws.com", {}, None),
]


def records(n: int) -> list[dict[str, Any]]:
    start = datetime(2026, 11, 20, tzinfo=UTC)
    out = []
    for i in range(n):
        name, source, params, response = _TEMPLATES[i % len(_TEMPLATES)]
        out.append({
            "eventVersion": "1.09", "userIdentity": _IDENTITY,
            "eventTime": (start + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": source, "eventName": name, "awsRegion": "us-east-1",
            "sourceIPAddress": "203.0.113.50", "userAgent": "aws-cli/2.15.30",
            "requestParameters": copy.deepcopy(params), "responseElements": response,
            "requestID": f"req-{i}", "eventID": f"00000000-0000-4000-8000-{i:012d}",
            "readOnly": name.startswith(("List", "Get", "Describe")),
            "eventType": "AwsApiCall", "managementEvent": True,
            "recipientAccountId": "123456789012", "eventCategory": "Management"})
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--profile", action="store_true", help="print the top functions")
    args = parser.parse_args()
    generated = records(args.records)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "big.jsonl"
        source.write_text("".join(json.dumps(r) + "\n" for r in generated))
        profiler = cProfile.Profile() if args.profile else None
        if profiler:
            profiler.enable()
        t0 = time.process_time()
        result = convert_files([source])
        t1 = time.process_time()
        export(result.events, Path(tmp) / "out.ocsf.jsonl", "ocsf")
        t2 = time.process_time()
        export(result.events, Path(tmp) / "out.raw.jsonl", "raw")
        t3 = time.process_time()
        if profiler:
            profiler.disable()
        leaked = [p.name for p in Path(tmp).glob("out.*") if "CANARY" in p.read_text()]
        t4 = time.process_time()
        for record in generated:
            redact(record)
        t5 = time.process_time()
    print(f"records            {args.records}")
    print(f"parse + normalise  {t1 - t0:7.2f} s")
    print(f"export ocsf        {t2 - t1:7.2f} s")
    print(f"export raw         {t3 - t2:7.2f} s")
    print(f"convert total      {t3 - t0:7.2f} s")
    print(f"redact alone       {t5 - t4:7.2f} s  (once over every record)")
    print(f"canary in exports  {leaked or 'none'}")
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(15)


if __name__ == "__main__":
    main()
