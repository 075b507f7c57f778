"""`rescind timeline pull|convert`: a credential's audit-log timeline, from the API or files."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rescind.errors import UsageError

FORMAT_CHOICES = ("ocsf", "timesketch", "csv", "raw", "jsonl")


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "timeline", help="pull or convert a credential's audit-log timeline",
        description="Build the timeline of what a credential did: pull it from CloudTrail "
        "LookupEvents, or convert CloudTrail files you already have, and write it as OCSF, "
        "Timesketch, CSV, raw evidence or rescind's own JSONL.")
    tsub = p.add_subparsers(dest="timeline_command", metavar="COMMAND", required=True)

    pull = tsub.add_parser(
        "pull", help="pull a credential's events from CloudTrail (LookupEvents)",
        description="Pull every management event of an access key, user or role from "
        "CloudTrail LookupEvents, all regions at once, each held to the API's limit of 2 "
        "requests/s (50 events a page: at most 100 events/s per region).")
    who = pull.add_mutually_exclusive_group(required=True)
    who.add_argument("--aws-access-key-id", metavar="ID", help="an access key (AKIA.../ASIA...)")
    who.add_argument("--aws-user", metavar="NAME", help="an IAM user name (or root)")
    who.add_argument("--aws-role", metavar="ARN",
                     help="a role: its AssumeRole calls, then everything its sessions did")
    pull.add_argument("--since", default="-7d",
                      help="start: an offset like -7d, -36h, or ISO 8601 (default -7d; "
                           "LookupEvents keeps 90 days)")
    pull.add_argument("--until", default="now", help="end: offset or ISO 8601 (default now)")
    pull.add_argument("--regions", metavar="LIST",
                      help="comma-separated regions, or `all` for every enabled region "
                           "(default: the profile's region; in an exercise, the scenario's)")
    _output_options(pull, out_required=False)
    pull.add_argument("--profile", metavar="NAME", help="AWS profile (default: the standard chain)")
    pull.add_argument("--endpoint-url", metavar="URL",
                      help="CloudTrail endpoint (e.g. the simulated account's)")
    pull.add_argument("--exercise", type=Path, metavar="SCENARIO",
                      help="start the simulated account from a scenario file and pull from it")
    pull.set_defaults(func=run_pull)
    # Let `--since -7d` through: argparse otherwise takes "-7d" for an option. (It only
    # lets plain negative numbers through; `--since=-7d` works everywhere regardless.)
    pull._negative_number_matcher = re.compile(r"^-\d+(\.\d+)?[smhdw]?$")

    convert = tsub.add_parser(
        "convert", help="convert CloudTrail files you already have",
        description="Read CloudTrail logs as delivered to S3 ({\"Records\": [...]}, gzipped or "
        "not), LookupEvents or `aws cloudtrail lookup-events` output (JSON or JSONL). "
        "Records that cannot be read are reported with their file and position and skipped.")
    convert.add_argument("files", nargs="+", type=Path, metavar="FILE")
    convert.add_argument("--source", choices=("cloudtrail", "vault"), default="cloudtrail",
                         help="cloudtrail (default), or vault: Vault/OpenBao file audit logs")
    convert.add_argument("--vault-accessor-hmac", action="append", default=[], metavar="HMAC",
                         help="with --source vault: keep the events of the token whose accessor "
                         "has this HMAC (`vault write sys/audit-hash/file input=ACCESSOR`)")
    _output_options(convert, out_required=False)
    convert.set_defaults(func=run_convert)


def _output_options(p: argparse.ArgumentParser, *, out_required: bool) -> None:
    p.add_argument("--out", type=Path, required=out_required, metavar="FILE",
                   help="file to write")
    p.add_argument("--format", choices=FORMAT_CHOICES,
                   help="ocsf (default; .csv files default to csv), timesketch, csv, raw, jsonl")
    p.add_argument("--incident", type=Path, metavar="DIR",
                   help="also add the events to this incident's timeline.jsonl and evidence/")


def _format(args: argparse.Namespace) -> str:
    if args.format:
        return str(args.format)
    if args.out is not None and args.out.suffix.lower() == ".csv":
        return "csv"
    return "ocsf"


def _check_outputs(args: argparse.Namespace) -> None:
    if args.out is None and args.incident is None:
        raise UsageError("nowhere to write the timeline",
                         fix="pass --out FILE, --incident DIR, or both")


class _Progress:
    """One status line on stderr, redrawn in place on a terminal."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last_done = 0

    def __call__(self, p: Any) -> None:
        text = (f"  {p.events:,} events, {p.pages:,} pages, {len(p.regions_done)}/"
                f"{p.regions_total} regions done, {p.throttled} throttled")
        if self.tty:
            print(f"\r{text}\033[K", end="", file=sys.stderr, flush=True)
        elif len(p.regions_done) != self.last_done:
            print(f"{text} ({p.regions_done[-1]} done)", file=sys.stderr)
        self.last_done = len(p.regions_done)

    def end(self) -> None:
        if self.tty:
            print(file=sys.stderr)


def _lock(incident: Path) -> Any:
    from rescind.engine.lock import IncidentLock
    from rescind.timeline.incident import check_incident

    check_incident(incident)
    lock = IncidentLock(incident)
    lock.acquire()
    return lock


def run_pull(args: argparse.Namespace) -> int:
    import asyncio

    from rescind.timeline.pull import pull_cloudtrail, pull_cloudtrail_role
    from rescind.timeline.window import parse_when

    _check_outputs(args)
    fmt = _format(args)
    since, until = parse_when(args.since), parse_when(args.until)
    lock = _lock(args.incident) if args.incident else None
    stop: Callable[[], None] = lambda: None  # noqa: E731
    try:
        factory, regions, stop = _client_factory(args)
        evidence_dir = args.incident / "evidence" if args.incident else None
        progress = _Progress()
        print(f"rescind: pulling CloudTrail from {', '.join(regions)} "
              f"({since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC)", file=sys.stderr)
        try:
            if args.aws_role:
                result = asyncio.run(pull_cloudtrail_role(
                    factory, regions=regions, role=args.aws_role, since=since, until=until,
                    progress=progress, evidence_dir=evidence_dir))
            else:
                lookup = (("AccessKeyId", args.aws_access_key_id) if args.aws_access_key_id
                          else ("Username", args.aws_user))
                result = asyncio.run(pull_cloudtrail(
                    factory, regions=regions, lookup=lookup, since=since, until=until,
                    progress=progress, evidence_dir=evidence_dir))
        finally:
            progress.end()
        relevant = sum(e.relevant for e in result.events)
        print(f"rescind: {len(result.events):,} events ({relevant} flagged) in "
              f"{result.pages:,} pages from {len(result.regions_done)} regions; "
              f"{result.throttled} throttled requests retried", file=sys.stderr)
        _write(args, fmt, result.events)
        if args.incident:
            from rescind.timeline.incident import add_events

            added = add_events(args.incident, result.events)
            print(f"rescind: {added} new events in {args.incident / 'timeline.jsonl'}; raw "
                  f"pages in {args.incident / 'evidence'}", file=sys.stderr)
    finally:
        stop()
        if lock is not None:
            lock.release()
    return 0


def _write(args: argparse.Namespace, fmt: str, events: list[Any]) -> None:
    if args.out is None:
        return
    from rescind.timeline.export import export

    count = export(events, args.out, fmt)
    print(f"rescind: wrote {count:,} records to {args.out} ({fmt})", file=sys.stderr)


def _client_factory(args: argparse.Namespace) -> tuple[Callable[[str], Any], list[str],
                                                       Callable[[], None]]:
    """(region → CloudTrail client, regions, stopper) for live use or an exercise."""
    from rescind.providers.aws import AwsProvider

    requested = [r.strip() for r in (args.regions or "").split(",") if r.strip()]
    if args.exercise is not None:
        if args.profile or args.endpoint_url:
            raise UsageError("--exercise uses the simulated account only",
                             fix="drop --profile and --endpoint-url")
        from rescind.sandbox.aws import start_aws_sandbox

        sandbox = start_aws_sandbox(args.exercise)
        settings = sandbox.provider_settings()
        provider = AwsProvider(
            region=sandbox.regions[0], endpoint_url=settings["aws_endpoint_url"],
            cloudtrail_endpoint_url=settings["aws_cloudtrail_endpoint_url"],
            credentials={"access_key_id": settings["aws_access_key_id"],
                         "secret_access_key": settings["aws_secret_access_key"]})
        regions = sandbox.regions if requested in ([], ["all"]) else requested

        def stop() -> None:
            provider.close()
            sandbox.stop()

        return (lambda region: provider.client("cloudtrail", region)), list(regions), stop
    home = requested[0] if requested and requested != ["all"] else None
    provider = AwsProvider(profile=args.profile, region=home or _profile_region(args.profile),
                           cloudtrail_endpoint_url=args.endpoint_url)
    if requested == ["all"]:
        regions = _enabled_regions(provider)
    elif requested:
        regions = requested
    else:
        regions = [provider.region]
        print(f"rescind: only {provider.region}; pass --regions all to search every enabled "
              "region", file=sys.stderr)
    return (lambda region: provider.client("cloudtrail", region)), regions, provider.close


def _profile_region(profile: str | None) -> str:
    import boto3

    try:
        return boto3.session.Session(profile_name=profile).region_name or "us-east-1"
    except Exception as exc:  # botocore's ProfileNotFound and friends
        raise UsageError(f"cannot use AWS profile {profile!r}: {exc}",
                         fix="check ~/.aws/config, or drop --profile") from None


def _enabled_regions(provider: Any) -> list[str]:
    try:
        answer = provider.client("ec2").describe_regions()
    except Exception as exc:
        raise UsageError(f"cannot list the account's regions: {exc}",
                         fix="name them with --regions us-east-1,eu-west-1") from None
    return sorted(r["RegionName"] for r in answer.get("Regions", []))


def run_convert(args: argparse.Namespace) -> int:
    from rescind.timeline.convert import ConvertResult, convert_files
    from rescind.timeline.merge import merge

    _check_outputs(args)
    fmt = _format(args)
    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        raise UsageError(f"no such file: {', '.join(missing)}", fix="check the paths")
    lock = _lock(args.incident) if args.incident else None
    result: ConvertResult
    try:
        if args.source == "vault":
            from rescind.timeline.vault_audit import AuditFilter, convert_audit_files

            result = convert_audit_files(list(args.files),
                                         AuditFilter(set(args.vault_accessor_hmac)))
        else:
            result = convert_files(list(args.files))
        events = merge([result.events])
        print(f"rescind: {result.records:,} records in {result.files} files: "
              f"{len(events):,} events, {len(result.events) - len(events)} duplicates, "
              f"{len(result.malformed)} unreadable", file=sys.stderr)
        for bad in result.malformed[:20]:
            print(f"  skipped {bad}", file=sys.stderr)
        if len(result.malformed) > 20:
            print(f"  ... and {len(result.malformed) - 20} more", file=sys.stderr)
        _write(args, fmt, events)
        if args.incident:
            from rescind.timeline.incident import add_events, write_raw_evidence

            for path in args.files:
                records = [e.raw for e in result.by_file.get(str(path), []) if e.raw is not None]
                write_raw_evidence(args.incident, f"{args.source}-{path.name}.jsonl", records)
            added = add_events(args.incident, events)
            print(f"rescind: {added} new events in {args.incident / 'timeline.jsonl'}",
                  file=sys.stderr)
    finally:
        if lock is not None:
            lock.release()
    return 0

