"""`rescind timeline pull|convert`: a credential's audit-log timeline, from the API or files.

One module (~700 lines) because both commands share their output options, their
status line, their summary and their incident handling; the work itself lives in
``rescind.timeline``.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from rescind.errors import UsageError
from rescind.settings.cli import add_options
from rescind.timeline.limits import (
    DEFAULT_MAX_EXPANDED_MB,
    DEFAULT_MAX_RATIO,
    PARALLEL_BATCH_MB,
    PARALLEL_MIN_MB,
    RATIO_FLOOR_MB,
    Limits,
)

FORMAT_CHOICES = ("ocsf", "timesketch", "csv", "raw", "jsonl")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "timeline", help="pull or convert a credential's audit-log timeline",
        description="Build the timeline of what a credential did: pull it from CloudTrail "
        "LookupEvents, or convert CloudTrail files you already have, and write it as OCSF, "
        "Timesketch, CSV, raw evidence or rescind's own JSONL.")
    tsub = p.add_subparsers(dest="timeline_command", metavar="COMMAND", required=True)

    pull = tsub.add_parser(
        "pull", help="pull a credential's events from its cloud's audit log",
        description="Pull every management event of a credential or principal from its "
        "cloud's audit log (AWS: CloudTrail LookupEvents, all regions at once, each held to "
        "the API's limit of 2 requests/s: at most 100 events/s per region).")
    who = pull.add_mutually_exclusive_group(required=True)
    from rescind.timeline import sources

    for name in sources.names():
        sources.require(name).add_arguments(who)
    for name in sources.names():
        sources.require(name).add_pull_arguments(pull)
    pull.add_argument("--since", default="-7d",
                      help="start: an offset like -7d, -36h, or ISO 8601 (default -7d; "
                           "LookupEvents keeps 90 days)")
    pull.add_argument("--until", default="now", help="end: offset or ISO 8601 (default now)")
    pull.add_argument("--regions", metavar="LIST",
                      help="comma-separated regions, or `all` for every enabled region "
                           "(default: the regions setting, else the profile's region; in an "
                           "exercise, the scenario's); Google Cloud: projects; Vault: audit "
                           "log files")
    _output_options(pull, out_required=False)
    add_options(pull, aliases=False)
    pull.add_argument("--profile", metavar="NAME",
                      help="AWS profile (same as --set aws.profile=NAME)")
    pull.add_argument("--endpoint-url", metavar="URL",
                      help="CloudTrail endpoint (e.g. the simulated account's)")
    pull.add_argument("--exercise", type=Path, metavar="SCENARIO",
                      help="start the simulated account from a scenario file and pull from it")
    pull.set_defaults(func=run_pull)
    # Let `--since -7d` through: argparse otherwise takes "-7d" for an option. (It only
    # lets plain negative numbers through; `--since=-7d` works everywhere regardless.)
    pull._negative_number_matcher = re.compile(r"^-\d+(\.\d+)?[smhdw]?$")

    convert = tsub.add_parser(
        "convert", help="convert audit-log files you already have (CloudTrail, Vault)",
        description="Read CloudTrail logs as delivered to S3 ({\"Records\": [...]}, gzipped or "
        "not), LookupEvents or `aws cloudtrail lookup-events` output (JSON or JSONL). "
        "Records that cannot be read are reported with their file and position and skipped. "
        "Other clouds' logs (Vault's file audit device) with --source NAME.")
    convert.add_argument("files", nargs="+", type=Path, metavar="FILE",
                         help="a file, or a folder: every file under it (an S3 sync of a "
                              "trail's AWSLogs/), hidden files and CloudTrail-Digest/ aside")
    convert.add_argument("--source", metavar="NAME",
                         help="whose log format (default: the first source that reads the "
                              "files, aws for CloudTrail)")
    _output_options(convert, out_required=False)
    own = convert.add_argument_group("options of one source")
    for name in sources.names():
        sources.require(name).add_convert_arguments(own)
    convert.add_argument("--max-expanded-mb", type=_positive, metavar="MB",
                         default=DEFAULT_MAX_EXPANDED_MB,
                         help="read at most this much of a gzip file, decompressed "
                              f"(default {DEFAULT_MAX_EXPANDED_MB})")
    convert.add_argument("--max-ratio", type=_positive, metavar="N", default=DEFAULT_MAX_RATIO,
                         help="read at most N times a gzip file's size, decompressed "
                              f"(default {DEFAULT_MAX_RATIO}; files under {RATIO_FLOOR_MB} MB "
                              "decompressed are never stopped by it)")
    convert.add_argument("--workers", type=_positive, metavar="N",
                         help="read files in N processes (default: one per core for inputs "
                              f"of {PARALLEL_MIN_MB} MB or more, as many as the free memory "
                              "holds; never more than batches of neighbouring files or parts "
                              f"of a big CloudTrail JSONL file, {PARALLEL_BATCH_MB} MB each at "
                              "least; 1: none)")
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


class _StatusLine:
    """One status line on stderr, redrawn in place on a terminal; elsewhere (a log, a
    pipe) only the lines given as ``log`` are written."""

    def __init__(self) -> None:
        self.tty = sys.stderr is not None and sys.stderr.isatty()  # None: started 2>&-
        self.shown = False

    def show(self, text: str, log: str | None = None) -> None:
        if self.tty:
            print(f"\r{text}\033[K", end="", file=sys.stderr, flush=True)
            self.shown = True
        elif log is not None:
            print(log, file=sys.stderr)

    def end(self, *, clear: bool = False) -> None:
        """Done with the line: left as it is on a line of its own, or ``clear``-ed (the
        work finished, and what comes next says how it ended)."""
        if self.shown:
            print("\r\033[K" if clear else "", file=sys.stderr, end="" if clear else "\n")
            self.shown = False

    def __enter__(self) -> _StatusLine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.end()  # what follows (an error, Ctrl-C) starts on a line of its own


class _Progress(_StatusLine):
    """A pull's totals after each page; ``place``: what the source's regions are,
    ``name``: one as messages name it."""

    def __init__(self, place: str, name: Callable[[str], str]) -> None:
        super().__init__()
        self.last_done = 0
        self.place, self.name = place, name

    def __call__(self, p: Any) -> None:
        from rescind.actions.common import plural

        text = (f"  {p.events:,} events, {p.pages:,} pages, {len(p.regions_done):,}/"
                f"{plural(p.regions_total, self.place)} done, {p.throttled:,} throttled")
        self.show(text, f"{text} ({self.name(p.regions_done[-1])} done)"
                  if len(p.regions_done) != self.last_done else None)
        self.last_done = len(p.regions_done)


# How often a convert's status line is redrawn: a million records take a minute or two.
_EVERY = 20_000


def _counted(stream: Iterator[tuple[str, Any, bool]], files: int,
             status: _StatusLine) -> Iterator[tuple[str, Any, bool]]:
    """``stream`` as it is, the records read and files begun shown as they pass."""
    names: set[str] = set()
    for n, item in enumerate(stream, start=1):
        names.add(item[0])
        if n % _EVERY == 0:
            status.show(f"  {n:,} events read, file {len(names):,} of {files:,}")
        yield item


def _lock(incident: Path) -> Any:
    from rescind.engine.lock import IncidentLock
    from rescind.timeline.incident import check_incident

    check_incident(incident)
    lock = IncidentLock(incident)
    lock.acquire()
    return lock


def _chosen(args: argparse.Namespace) -> tuple[Any, Any]:
    """The timeline source whose options were given, and its lookup."""
    from rescind.timeline import sources

    for name in sources.names():
        source = sources.require(name)
        lookup = source.lookup_from_args(args)
        if lookup is not None:
            return source, lookup
    raise UsageError("no credential named: whose history should be pulled?",
                     fix="name one, e.g. --aws-access-key-id ID, --aws-user NAME, --entra-user "
                         "UPN, --gcp-principal EMAIL or --vault-accessor ACCESSOR (every "
                         "option: rescind timeline pull --help)")


def _check_scenario(path: Path, source: Any) -> None:
    """Refuse a scenario that simulates none of the source's cloud: its pull would read
    an empty account, or stop at the file as if it were broken."""
    from rescind.sandbox.scenario_check import scenarios_of, simulated_clouds
    from rescind.sandbox.scenario_file import read_mapping
    from rescind.timeline import sources

    clouds = simulated_clouds(read_mapping(path, first_keys="name:, injects:"))
    if not clouds or source.provider in clouds:
        return  # no cloud recognised: the sandbox's own reading says what is wrong
    theirs = [s for n in sources.names() for s in [sources.require(n)] if s.provider in clouds]
    fixes = []
    ours = scenarios_of(source.provider, path.parent)
    if ours:
        fixes.append(f"pull from a scenario of {source.cloud} (e.g. {ours[0]})")
    if theirs:
        flags = argparse.ArgumentParser(add_help=False)
        theirs[0].add_arguments(flags)
        options = [a.option_strings[0] for a in flags._actions]
        fixes.append(f"name its credential with {' or '.join(options)}")
    names = [s.cloud for s in theirs] or clouds
    simulated = " and ".join(filter(None, [", ".join(names[:-1]), names[-1]]))
    raise UsageError(f"the scenario {path.name} simulates {simulated}, not {source.cloud}",
                     fix=", or ".join(fixes) or f"give a scenario of {source.cloud}")


def run_pull(args: argparse.Namespace) -> int:
    import asyncio

    from rescind.actions.common import plural
    from rescind.timeline.window import parse_when

    _check_outputs(args)
    fmt = _format(args)
    since, until = parse_when(args.since), parse_when(args.until)
    source, lookup = _chosen(args)
    if args.exercise is not None:
        _check_scenario(args.exercise, source)
    lock = _lock(args.incident) if args.incident else None
    stop: Callable[[], None] = lambda: None  # noqa: E731
    try:
        provider, table, stop = _open_provider(args, source)
        requested = [r.strip() for r in (args.regions or "").split(",") if r.strip()]
        if args.exercise is not None and requested == ["all"]:
            requested = []  # every region of the simulated account
        regions = source.regions(provider, requested, table)
        note = source.default_places_note(regions, requested, table)
        if note:
            print(f"rescind: {note}", file=sys.stderr)
        evidence_dir = args.incident / "evidence" if args.incident else None

        def name(region: str) -> str:
            return str(source.place_name(provider, lookup, region))

        progress = _Progress(source.place, name)
        print(f"rescind: pulling {source.describe(lookup)} from "
              f"{', '.join(map(name, regions))} ({since:%Y-%m-%d %H:%M} to "
              f"{until:%Y-%m-%d %H:%M} UTC)", file=sys.stderr)

        async def pull() -> Any:
            state = await source.resolve(provider, lookup, None)
            cost = await source.estimate(provider, state, regions=regions, since=since,
                                         until=until)
            if cost:
                print(f"rescind: {cost}", file=sys.stderr)
            return await source.pull(provider, state, regions=regions, account=None,
                                     since=since, until=until, progress=progress,
                                     evidence_dir=evidence_dir)

        try:
            result = asyncio.run(pull())
        finally:
            progress.end()
        try:
            relevant = sum(e.relevant for e in result.events)
            print(f"rescind: {len(result.events):,} events ({relevant:,} flagged) in "
                  f"{result.pages:,} pages from "
                  f"{plural(len(result.regions_done), source.place)}; "
                  f"{result.throttled:,} throttled requests retried", file=sys.stderr)
            for note in result.notes:
                print(f"rescind: {note}", file=sys.stderr)
            with _StatusLine() as status:  # a long pull's events take a while to write
                pulled = len(result.events)
                _write(args, fmt, _shown(result.events, status, f"events written, of "
                                                                f"{pulled:,}"), status)
                if args.incident:
                    from rescind.timeline.incident import add_events

                    added = add_events(
                        args.incident, _shown(result.events, status,
                                              f"of {pulled:,} new events merged"),
                        lambda events, what: _shown(events, status, what))
                    status.end(clear=True)
                    print(f"rescind: {added:,} new events in "
                          f"{args.incident / 'timeline.jsonl'}; raw pages in "
                          f"{args.incident / 'evidence'}", file=sys.stderr)
        finally:
            result.close()  # the spooled events' runs
    finally:
        stop()
        if lock is not None:
            lock.release()
    return 0


def _write(args: argparse.Namespace, fmt: str, events: Iterable[Any],
           status: _StatusLine | None = None) -> None:
    if args.out is None:
        return
    from rescind.timeline.export import export

    count = export(events, args.out, fmt)
    if status is not None:
        status.end(clear=True)
    print(f"rescind: wrote {count:,} records to {args.out} ({fmt})", file=sys.stderr)


def _open_provider(args: argparse.Namespace, source: Any) -> tuple[Any, dict[str, Any],
                                                                    Callable[[], None]]:
    """(provider, its settings table, stopper) for the source, live or in an exercise.

    The provider is guarded as in a dry-run: a pull only reads.
    """
    from rescind.modes import Mode
    from rescind.providers import registry
    from rescind.settings.cli import effective
    from rescind.settings.tree import merge

    cls = registry.require(source.provider)
    mode = Mode.DRY_RUN
    if args.exercise is not None:
        if args.profile or args.endpoint_url:
            raise UsageError("--exercise uses the simulated account only",
                             fix="drop --profile and --endpoint-url")
        table: dict[str, Any] = {}
    else:
        values = effective(args).values
        table = merge(dict(values.get(source.provider, {})), source.settings_from_args(args))
        if "region" not in table and source.provider == "aws":
            table["region"] = _profile_region(table.get("profile"))
    stop_sandbox: Callable[[], None] = lambda: None  # noqa: E731
    if args.exercise is not None:
        sandbox = cls.start_sandbox(args.exercise)
        if sandbox is None:
            raise UsageError(f"no simulated cloud for {source.provider} yet",
                             fix="drop --exercise")
        stop_sandbox = sandbox.stop
        table = sandbox.provider_settings()
        mode = Mode.EXERCISE
    try:
        from rescind.settings.validate import provider_settings

        provider = cls.from_settings(provider_settings(cls, table), mode)
        provider.install_dry_run_guard(_refuse_write)
    except BaseException:
        stop_sandbox()
        raise

    def stop() -> None:
        provider.close()
        stop_sandbox()

    return provider, table, stop


def _refuse_write(call: Any) -> None:
    print(f"rescind: blocked {call.operation}: a timeline pull only reads", file=sys.stderr)


def _profile_region(profile: str | None) -> str:
    import boto3

    try:
        return boto3.session.Session(profile_name=profile).region_name or "us-east-1"
    except Exception as exc:  # botocore's ProfileNotFound and friends
        raise UsageError(f"cannot use AWS profile {profile!r}: {exc}",
                         fix="check ~/.aws/config, or drop --profile") from None


def _expand_folders(paths: list[Path], outputs: list[Path]) -> list[Path]:
    """Each folder given as the files under it, in path order: a trail synced from S3 is
    thousands of files in dated folders, more than a command line holds. Hidden files
    (``.DS_Store``), CloudTrail's digest files (hashes of the log files, not events) and
    the convert's own ``outputs`` (an earlier run's file, the incident) are not read."""
    from rescind.actions.common import plural

    files: list[Path] = []
    written = [output.resolve() for output in outputs]
    for given in paths:
        if given.is_file():
            files.append(given)
            continue
        if not given.is_dir():
            raise UsageError(f"no such file: {given}", fix="check the path")
        found = _files_under(given, written)
        if not found:
            raise UsageError(f"{given} is a folder with no files to read",
                             fix="pass the folder that holds the exported logs")
        print(f"rescind: {plural(len(found), 'file')} under {given}", file=sys.stderr)
        files.extend(found)
    return files


def _files_under(folder: Path, written: list[Path]) -> list[Path]:
    """The files under ``folder`` (see ``_expand_folders``), symlinked folders followed
    once each. A folder that cannot be read stops the convert: its logs would be missing
    from the timeline without a word."""
    import os

    unreadable: list[str] = []
    seen: set[tuple[int, int]] = set()
    found: list[Path] = []
    for top, dirs, names in os.walk(folder, followlinks=True,
                                    onerror=lambda exc: unreadable.append(str(exc.filename))):
        real = Path(os.path.realpath(top))
        info = os.stat(top)
        if (info.st_dev, info.st_ino) in seen or any(
                real.is_relative_to(output) for output in written):
            dirs[:] = []  # a symlink loop, or the convert's own incident folder
            continue
        seen.add((info.st_dev, info.st_ino))
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "CloudTrail-Digest")
        found += [Path(top) / name for name in names if not name.startswith(".")
                  and (real / name) not in written and (Path(top) / name).is_file()]
    if unreadable:
        raise UsageError(f"cannot read {_folders_named(unreadable)} under {folder}",
                         fix="check their permissions (the logs in them would be missing "
                             "from the timeline)")
    return sorted(found)


def _folders_named(names: list[str]) -> str:
    return f"folder {names[0]}" if len(names) == 1 else (
        f"{len(names)} folders: {', '.join(names[:3])}" + (" ..." if len(names) > 3 else ""))


def run_convert(args: argparse.Namespace) -> int:
    """Stream: records are normalised as they are read, into a merge whose sorted runs
    wait on disk, then written out oldest first (docs/timeline.md, "Streaming")."""
    _check_outputs(args)
    fmt = _format(args)
    args.files = _expand_folders(args.files, [p for p in (args.out, args.incident) if p])
    if args.out is not None:
        from rescind.timeline.export import check_destination

        check_destination(args.out, fmt)  # before the files are read, not after
    lock = _lock(args.incident) if args.incident else None
    try:
        with _sigterm_interrupts():
            return _run_convert(args, fmt)
    finally:
        if lock is not None:
            lock.release()


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM (``timeout``, systemd, a CI cancel) stops a convert as Ctrl-C does: the
    spool removed, the status line ended, one message. Its default would kill the
    process and leave the spool's runs, copies of the evidence, in the temp folder."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_convert(args: argparse.Namespace, fmt: str) -> int:
    from rescind.timeline.limits import Limits
    from rescind.timeline.merge import merge_stream

    limits = Limits(args.max_expanded_mb * 2**20, args.max_ratio)
    if args.incident is None:
        found = _convert_in_workers(args, fmt, limits)
        if found is not None:
            _convert_to_file(args, fmt, found)
        return 0
    if args.workers not in (None, 1):
        print("rescind: --workers is not used with --incident: the incident's timeline "
              "merges events in one process", file=sys.stderr)
    source, counts, stream = _convert(args, limits)
    with _StatusLine() as status:
        merged = merge_stream([(event for _, event in _with_evidence(
            args, source, _counted(stream, len(args.files), status)))])
        try:
            read = merged.spool.count  # before identical copies are dropped
            sorted_ = _shown(merged, status, f"events sorted{' and written' * bool(args.out)}"
                                             f", of {read:,} read")
            if args.out is not None:
                _write(args, fmt, sorted_, status)
            else:
                for _ in sorted_:  # the counts below need one pass
                    pass
                status.end(clear=True)
            _report_convert(counts, merged)
            from rescind.timeline.incident import add_events

            # The incident's own timeline is read and written again whole: on a big one
            # this is the longest part, and it is shown too.
            added = add_events(
                args.incident, _shown(merged, status, f"of {read:,} new events merged"),
                lambda events, what: _shown(events, status, what))
            status.end(clear=True)
            print(f"rescind: {added:,} new events in {args.incident / 'timeline.jsonl'}",
                  file=sys.stderr)
        finally:
            merged.spool.close()
    return 0


def _shown(items: Iterable[Any], status: _StatusLine, what: str) -> Iterator[Any]:
    """``items`` as they are, how many have passed shown as ``N {what}``."""
    for n, item in enumerate(items, start=1):
        if n % _EVERY == 0:
            status.show(f"  {n:,} {what}")
        yield item


def _convert_in_workers(args: argparse.Namespace, fmt: str,
                        limits: Limits) -> tuple[Any, Any, Iterator[Any]] | None:
    """Convert to a file in worker processes (``timeline.workers``) when ``plan`` says the
    input is worth it and the first file tells whose log it is: None when done, else
    what one process reads (``_convert``'s), found without reading any file twice."""
    from rescind.actions.common import plural
    from rescind.timeline.convert import ConvertResult, Part
    from rescind.timeline.workers import merge_files, plan, wanted

    wanted_ = wanted(args.files, args.workers)
    workers, cut = plan(args.files, wanted_, split=True)
    if workers == 1:  # before reading anything: one file that cannot be cut is read once
        return _convert(args, limits)
    # The source, from the first file (the workers read every file afresh); nothing
    # of the detection's reading is kept when the workers are forked.
    found = source, counts, stream = _convert(args, limits, args.files[:1])
    head = None if args.source else next(stream, None)
    if head is not None:
        found = source, counts, itertools.chain([head], stream)
    alone = len(args.files) == 1  # what was read to tell the source is all one process reads
    if not args.source and head is None:
        return found if alone else _convert(args, limits)
    if not args.source and not alone and source.name != _first_source():
        # One process takes the first source (by name) that reads an event in any file;
        # knowing it here would mean reading them all, so the files are read that way.
        print(f"rescind: reading in one process (name the source, --source {source.name}, "
              "to read the files in parallel)", file=sys.stderr)
        return _convert(args, limits)
    if not source.reads_parts:
        workers, cut = plan(args.files, wanted_)
        if workers == 1:
            return found if alone else _convert(args, limits)
    del found, stream
    counts = ConvertResult()
    cut_into = [p for batch in cut for p in batch if isinstance(p, Part)]
    cut_files = sum(p.start == 0 for p in cut_into)
    print(f"rescind: reading {plural(len(args.files), 'file')} in {workers:,} processes"
          + (f" ({'' if len(args.files) == 1 else plural(cut_files, 'file') + ' '}"
             f"cut into {len(cut_into):,} parts)" if cut_into else ""), file=sys.stderr)
    with _StatusLine() as status:
        def read(done: int, total: int) -> None:
            status.show(f"  {done / 2**20:,.1f} of {total / 2**20:,.1f} MB read "
                        f"({done * 100 // max(total, 1)}%)")

        _write_rows(args, fmt, counts, merge_files(
            source.name, cut, fmt, with_raw=fmt != "ocsf", limits=limits, args=args,
            counts=counts, workers=workers, progress=read), status)
    return None


def _convert_to_file(args: argparse.Namespace, fmt: str,
                     found: tuple[Any, Any, Iterator[Any]]) -> None:
    """Each event's output line written as it is read, and only lines spooled and merged
    (``timeline.rows``): no event is built, parsed or checked for secrets twice.
    ``found``: ``_convert``'s (source, counts, stream)."""
    from rescind.timeline.export import line_writer
    from rescind.timeline.rows import merge_lines

    _, counts, stream = found
    with _StatusLine() as status:
        _write_rows(args, fmt, counts, merge_lines(
            _counted(stream, len(args.files), status), line_writer(fmt),
            with_raw=fmt != "ocsf"), status)


def _write_rows(args: argparse.Namespace, fmt: str, counts: Any, merged: Any,
                status: _StatusLine) -> None:
    """The merged rows' lines to ``--out``, then the summary; the spool closed."""
    from rescind.timeline.export import export_lines

    read = merged.spool.count  # before identical copies are dropped
    try:
        count = export_lines((row[3] for row in _shown(
            merged, status, f"events sorted and written, of {read:,} read")), args.out, fmt)
        status.end(clear=True)
        print(f"rescind: wrote {count:,} records to {args.out} ({fmt})", file=sys.stderr)
        _report_convert(counts, merged)
    finally:
        merged.spool.close()


def _with_evidence(args: argparse.Namespace, source: Any,
                   stream: Iterator[tuple[str, Any, bool]]) -> Iterator[tuple[str, Any]]:
    """The stream, each event's raw record also written to the incident's evidence/
    (one file per file read, as they pass)."""
    from rescind.timeline.incident import EvidenceFiles

    evidence = EvidenceFiles(args.incident, [
        (str(path), f"{_evidence_prefix(source)}-{path.name}.jsonl") for path in args.files])
    try:
        for name, event, _ in stream:
            if event.raw is not None:
                evidence.write(name, event.raw)
            yield name, event
    finally:
        evidence.close()


def _report_convert(counts: Any, merged: Any) -> None:
    from rescind.actions.common import plural
    from rescind.textsafe import visible

    print(f"rescind: {counts.records:,} records in {plural(counts.files, 'file')}: "
          f"{merged.events:,} events, {len(counts.malformed):,} unreadable, identical "
          f"copies dropped: {merged.duplicates:,}", file=sys.stderr)
    for used, count in sorted(counts.placed_by.items()):
        print(f"  {count:,} records have no eventTime: placed in time by {used}",
              file=sys.stderr)
    if counts.synthetic_ids:
        print(f"  {counts.synthetic_ids:,} records have no eventID: given an id made "
              "from their content", file=sys.stderr)
    for (uid, first, action), (_, other, other_action) in merged.collision_labels()[:20]:
        print(f"  kept both: {visible(uid)} names two different records "
              f"({first:%Y-%m-%dT%H:%M:%SZ} {visible(action)}, "
              f"{other:%Y-%m-%dT%H:%M:%SZ} {visible(other_action)})", file=sys.stderr)
    if merged.collision_count > 20:
        print(f"  ... and {merged.collision_count - 20:,} more shared ids", file=sys.stderr)
    for bad in counts.malformed[:20]:
        print(f"  skipped {visible(bad)}", file=sys.stderr)
    if len(counts.malformed) > 20:
        print(f"  ... and {len(counts.malformed) - 20:,} more", file=sys.stderr)


def _first_source() -> str:
    from rescind.timeline import sources

    return sources.names()[0]


def _convert(args: argparse.Namespace, limits: Limits,
             files: list[Path] | None = None) -> tuple[Any, Any, Iterator[Any]]:
    """(source, counts, stream of (file, event)) of ``files`` (default: all): the named
    source's reading, else the first whose stream yields an event (its first event is
    read to know)."""
    from rescind.timeline import sources
    from rescind.timeline.convert import ConvertResult

    files = list(args.files if files is None else files)
    if args.source:
        source = sources.require(args.source)
        counts = ConvertResult()
        return source, counts, source.stream_from_args(files, limits, args, counts)
    first: tuple[Any, Any, Iterator[Any]] | None = None
    for name in sources.names():
        source = sources.require(name)
        counts = ConvertResult()
        stream = source.stream_from_args(files, limits, args, counts)
        head = next(stream, None)
        if head is not None:
            return source, counts, itertools.chain([head], stream)
        first = first or (source, counts, stream)
    if first is None:
        raise UsageError("no timeline source is installed", fix="reinstall rescind")
    return first


def _evidence_prefix(source: Any) -> str:
    # CloudTrail's evidence files keep the name they always had.
    return "cloudtrail" if source.name == "aws" else str(source.name)
