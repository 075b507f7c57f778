"""Benchmark: revoke one role's sessions in all 100 accounts of a simulated organisation.

30 ms a request. Two ways, same server, same run, the policies removed (off the
clock) between them:

- rescind: ``aws.org.revoke_role_sessions`` with ``accounts: [organization]`` as the
  engine runs it: plan (ListAccounts, then in each account: assume the organisation
  role, GetCallerIdentity, GetRole, GetRolePolicy), apply (one PutRolePolicy per
  account, intent and outcome journaled), verify (read each back);
- a sequential boto3 loop: per account, AssumeRole then PutRolePolicy.

The simulated organisation runs in this process (moto's handling shares the GIL
with the client), which understates rescind's lead over a real API.

    .venv/bin/python bench/org_fanout.py [--accounts 100] [--latency-ms 30]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import tempfile
import time
from pathlib import Path
from typing import Any

ROLE = "vendor-deploy"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=30.0)
    args = parser.parse_args()

    from rescind.actions import registry
    from rescind.actions.aws_iam_principals import REVOKE_POLICY, revoke_document
    from rescind.actions.base import ActionContext
    from rescind.modes import Mode
    from rescind.providers.aws import AwsProvider
    from rescind.sandbox.aws import start_aws_sandbox
    from rescind.sandbox.aws_org import ORG_ROLE, member_client, seed_organisation

    with start_aws_sandbox() as sandbox:
        t0 = time.perf_counter()
        org = seed_organisation(sandbox, args.accounts, role=ROLE)
        print(f"seeded {len(org.members)} member accounts in {time.perf_counter() - t0:.1f} s")
        settings = sandbox.provider_settings()

        def clear() -> None:
            sandbox.set_latency(0)
            for account in org.members:
                iam = member_client(sandbox, account)
                with contextlib.suppress(iam.exceptions.NoSuchEntityException):
                    iam.delete_role_policy(RoleName=ROLE, PolicyName=REVOKE_POLICY)
            sandbox.set_latency(args.latency_ms)

        def revoked() -> int:
            sandbox.set_latency(0)
            count = sum(1 for a in org.members if REVOKE_POLICY in member_client(
                sandbox, a).list_role_policies(RoleName=ROLE)["PolicyNames"])
            sandbox.set_latency(args.latency_ms)
            return count

        # rescind
        clear()
        provider = AwsProvider(region=settings["region"], endpoint_url=settings["endpoint_url"],
                               credentials={"access_key_id": settings["access_key_id"],
                                            "secret_access_key": settings["secret_access_key"]},
                               org_role=ORG_ROLE, incident_id="bench")
        cls = registry.get("aws.org.revoke_role_sessions")
        assert cls is not None
        action = cls()
        journal = Path(tempfile.mkdtemp()) / "journal.jsonl"
        with journal.open("a") as sink:
            def write(kind: str, data: dict[str, Any]) -> None:
                sink.write(json.dumps({"kind": kind, "data": data}) + "\n")
                sink.flush()

            ctx = ActionContext(mode=Mode.LIVE, incident_dir=journal.parent,
                                providers={"aws": provider}, journal=write,
                                settings={"aws": {"max_targets": args.accounts + 1}})

            async def run() -> tuple[float, float, float]:
                a = time.perf_counter()
                plan = await action.plan(ctx, action.parse_params(
                    {"role": ROLE, "accounts": ["organization"]}), "bench")
                b = time.perf_counter()
                result = await action.apply(ctx, plan)
                c = time.perf_counter()
                assert (await action.verify(ctx, plan, result)).ok
                return b - a, c - b, time.perf_counter() - c

            plan_s, apply_s, verify_s = asyncio.run(run())
        provider.close()
        rescind_s = plan_s + apply_s + verify_s
        assert revoked() == len(org.members)
        print(f"rescind: {rescind_s:.2f} s (plan {plan_s:.2f}, apply {apply_s:.2f}, "
              f"verify {verify_s:.2f}), width {provider.width}")

        # sequential loop
        clear()
        document = json.dumps(revoke_document("2026-12-02T00:00:00.000Z"))
        a = time.perf_counter()
        for account in org.members:
            member_client(sandbox, account).put_role_policy(
                RoleName=ROLE, PolicyName=REVOKE_POLICY, PolicyDocument=document)
        loop_s = time.perf_counter() - a
        assert revoked() == len(org.members)
        print(f"sequential loop (AssumeRole + PutRolePolicy each): {loop_s:.2f} s")
        print(f"accounts {len(org.members)}, latency {args.latency_ms:g} ms: rescind "
              f"{loop_s / rescind_s:.1f}x the sequential loop end to end; its apply phase "
              f"alone {loop_s / apply_s:.1f}x")


if __name__ == "__main__":
    main()
