"""``rescind timeline convert`` reading its files in worker processes, a file a job.

A million records spread over many files (an organisation trail's S3 delivery files, a
few big exports) is several minutes of one core's work; the files do not depend on each
other, so each is converted where a core is free. A worker turns one file into finished
rows (``timeline.rows``), sorts them into runs in the merge's own spool folder and hands
back their names and the file's counts; the merge adopts them in file order, so the
output is byte for byte what one process writes. Every source reads a file's events from
that file alone (``TimelineSource.stream_from_args``): an Activity Log operation, a Vault
request and its response, fold within their file.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from rescind.timeline.convert import ConvertResult
from rescind.timeline.event import Event
from rescind.timeline.limits import PARALLEL_MIN_MB, Limits
from rescind.timeline.merge import MergedStream
from rescind.timeline.rows import KIND, Row, spool_rows
from rescind.timeline.spool import ROWS, Spool

MAX_WORKERS = 8


class Job(NamedTuple):
    number: int  # the file's place on the command line: its runs' order in the merge
    path: Path
    source: str
    fmt: str
    with_raw: bool
    folder: Path
    limits: Limits
    args: argparse.Namespace


def worker_count(paths: list[Path], requested: int | None) -> int:
    """How many workers to read ``paths`` with: ``requested`` (``--workers``), else one
    per core this process may use (at most MAX_WORKERS) once the input is big enough to
    be worth it; 1 means none (this process reads every file)."""
    if len(paths) < 2:
        return 1
    if requested is not None:
        return min(requested, len(paths))
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    if cores < 2 or sum(p.stat().st_size for p in paths) < PARALLEL_MIN_MB * 2**20:
        return 1
    return min(cores, MAX_WORKERS, len(paths))


def merge_files(source: str, paths: list[Path], fmt: str, *, with_raw: bool, limits: Limits,
                args: argparse.Namespace, counts: ConvertResult,
                workers: int) -> MergedStream[Row]:
    """What ``rows.merge_lines`` makes of ``source``'s stream over ``paths``, each file
    read by one of ``workers`` processes; ``counts`` gets every file's (close the
    spool when done)."""
    spool = Spool(codec=ROWS)
    try:
        folder = spool.folder()
        jobs = [Job(n, path, source, fmt, with_raw, folder, limits, args)
                for n, path in enumerate(paths)]
        # fork: the workers start with rescind already imported (spawn imports it again)
        context = multiprocessing.get_context(
            "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
        with context.Pool(workers, initializer=_ignore_interrupt) as pool:
            # imap keeps the files' order: the merge breaks ties in the order rows came
            for runs, count, part in pool.imap(_convert_file, jobs):
                spool.adopt(runs, count)
                counts.add(part)
    except BaseException:
        spool.close()
        raise
    return MergedStream(spool, KIND)


def _ignore_interrupt() -> None:
    # Ctrl-C reaches the whole process group: the parent stops the pool and removes the
    # spool; a worker's own KeyboardInterrupt would only print its traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


_writers: dict[str, Callable[[Event, bool], str]] = {}


def _convert_file(job: Job) -> tuple[list[Path], int, ConvertResult]:
    from rescind.timeline import sources
    from rescind.timeline.export import line_writer

    line = _writers.get(job.fmt) or _writers.setdefault(job.fmt, line_writer(job.fmt))
    counts = ConvertResult()
    stream = sources.require(job.source).stream_from_args([job.path], job.limits, job.args,
                                                          counts)
    spool = Spool(codec=ROWS, part=(job.folder, job.number))
    spool_rows(spool, stream, line, with_raw=job.with_raw)
    return spool.spill(), spool.count, counts
