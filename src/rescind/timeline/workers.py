"""``rescind timeline convert`` reading its files in worker processes.

A million records spread over many files (an organisation trail's S3 delivery files, a
few big exports) is several minutes of one core's work; the files do not depend on each
other, so batches of neighbouring files are converted where a core is free. A worker
turns its batch into finished rows (``timeline.rows``), sorts them into runs in the
merge's own spool folder and hands back their names and the batch's counts; the merge
adopts them in the files' order, so the output is byte for byte what one process
writes. Every source reads a file's events from that file alone
(``TimelineSource.stream_from_args``): an Activity Log operation, a Vault request and
its response, fold within their file.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import itertools
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import NamedTuple, cast

from rescind.errors import UsageError
from rescind.timeline.convert import ConvertResult, Part, parts
from rescind.timeline.event import Event
from rescind.timeline.limits import PARALLEL_BATCH_MB, PARALLEL_MIN_MB, Limits
from rescind.timeline.merge import MergedStream
from rescind.timeline.rows import KIND, Row, spool_rows
from rescind.timeline.spool import ROWS, Spool

MAX_WORKERS = 8
# What one worker may hold: a file's document, or one line, and up to 20,000 finished
# rows (bench/convert_scale.py: about 70 MB reading JSONL). Fewer workers start when
# the memory free would not hold them: a worker the kernel kills ends the convert.
WORKER_MB = 150
CGROUPS = Path("/sys/fs/cgroup")  # cgroup v2's root, or a container's own cgroup


class Job(NamedTuple):
    number: int  # the batch's place in the files' order: its runs' order in the merge
    paths: list[Path | Part]  # files (or parts) next to each other on the command line
    source: str
    fmt: str
    with_raw: bool
    folder: Path
    limits: Limits
    args: argparse.Namespace


def wanted(paths: list[Path], requested: int | None) -> int:
    """How many workers to read ``paths`` with: ``requested`` (``--workers``), else one
    per core this process may use (at most MAX_WORKERS) once the input is big enough to
    be worth it. One: this process reads."""
    if requested is not None:
        return max(1, requested)
    cores = _cores()
    if cores < 2 or sum(p.stat().st_size for p in paths) < PARALLEL_MIN_MB * 2**20:
        return 1
    return max(1, min(cores, MAX_WORKERS, _free_mb() // WORKER_MB))


def plan(paths: list[Path], workers: int, *,
         split: bool = False) -> tuple[int, list[list[Path | Part]]]:
    """(workers, batches) to read ``paths`` with, at most ``workers`` (``wanted``'s) and
    never more than batches; ``split``: the source reads parts of files
    (``TimelineSource.reads_parts``), so a big JSONL file is cut into parts too, each
    about a batch."""
    if workers < 2:
        return 1, [list(paths)]
    size = _target(sum(p.stat().st_size for p in paths), workers)
    pieces: list[Path | Part] = []
    for path in paths:
        cut = parts(path, size) if split else []
        pieces.extend(cut if len(cut) > 1 else [path])
    batched = batches(pieces, size)
    return min(workers, len(batched)), batched


def _target(total: int, workers: int) -> int:
    """A batch's size: about a quarter of a worker's share, at least PARALLEL_BATCH_MB."""
    return max(total // (workers * 4), PARALLEL_BATCH_MB * 2**20)


def _cores(cgroup: Path | None = None, root: Path = CGROUPS) -> int:
    """The cores this process may use: its affinity, and the tightest CPU quota (cgroup
    v2 ``cpu.max``) on its cgroup and each one above it up to ``root`` (a pod's is set on
    a parent), which the affinity does not show."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
    for level in _levels(cgroup or _cgroup(), root):
        try:
            quota, period = (level / "cpu.max").read_text().split()[:2]
            if quota != "max":
                cores = max(1, min(cores, int(quota) // int(period)))
        except (OSError, ValueError):
            continue  # no quota there
    return cores


def _levels(cgroup: Path, root: Path) -> list[Path]:
    """``cgroup`` and each one above it up to ``root``, not past it: the folders above
    are not cgroups (``..`` resolved first, or it would climb past the root)."""
    cgroup = Path(os.path.normpath(cgroup))
    return [cgroup, *(up for up in cgroup.parents if up.is_relative_to(root))]


def _free_mb(meminfo: Path = Path("/proc/meminfo"), cgroup: Path | None = None,
             root: Path = CGROUPS) -> int:
    """The memory free for new processes now, in MB: the kernel's estimate
    (MemAvailable), and the tightest of the limits on this process's cgroup and each
    one above it up to ``root`` (cgroup v2), less what each holds beyond the page cache
    it can drop, which MemAvailable does not show: a pod's or a systemd slice's limit is
    set on a parent, not on the cgroup the process is in. Unknown (not Linux) counts as
    plenty."""
    try:
        with meminfo.open() as fh:
            free = next(int(line.split()[1]) // 1024 for line in fh
                        if line.startswith("MemAvailable:"))
    except (OSError, ValueError, StopIteration):
        return MAX_WORKERS * WORKER_MB
    return min([free, *(room for level in _levels(cgroup or _cgroup(), root)
                        if (room := _room_mb(level)) is not None)])


def _room_mb(folder: Path) -> int | None:
    """What one cgroup's ``memory.max`` leaves, in MB, after what it holds beyond the
    page cache it can drop; None: no limit there (``max``, or no files to read)."""
    try:
        limit = (folder / "memory.max").read_text().strip()
        if limit == "max":
            return None
        room = int(limit) - int((folder / "memory.current").read_text())
    except (OSError, ValueError):
        return None
    try:
        with (folder / "memory.stat").open() as fh:
            room += next((int(line.split()[1]) for line in fh
                          if line.startswith("inactive_file ")), 0)
    except (OSError, ValueError):
        pass  # all it uses counts, cache too: fewer workers, never too many
    return room // 2**20


def _cgroup() -> Path:
    """This process's own cgroup v2 folder (a container's root, or a systemd unit's)."""
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                return CGROUPS / line[3:].lstrip("/")
    except OSError:
        pass
    return CGROUPS


def batches(pieces: list[Path | Part], size: int) -> list[list[Path | Part]]:
    """``pieces`` (files, parts of files) cut, in order, into batches of about ``size``
    bytes: a worker's runs hold rows of neighbouring files only, so ties keep the files'
    order; and ten thousand small S3 delivery files make a few hundred runs, not ten
    thousand the merge would have to merge again and again."""
    sizes = [_size(p) for p in pieces]
    cut: list[list[Path | Part]] = [[]]
    held = 0
    for piece, length in zip(pieces, sizes, strict=True):
        if cut[-1] and held + length > size:
            cut.append([])
            held = 0
        cut[-1].append(piece)
        held += length
    return cut


def _size(piece: Path | Part) -> int:
    if isinstance(piece, Path):
        return piece.stat().st_size
    return (piece.path.stat().st_size if piece.end is None else piece.end) - piece.start


def merge_files(source: str, cut: list[list[Path | Part]], fmt: str, *, with_raw: bool,
                limits: Limits, args: argparse.Namespace, counts: ConvertResult,
                workers: int,
                progress: Callable[[int, int], None] = lambda done, total: None,
                ) -> MergedStream[Row]:
    """What ``rows.merge_lines`` makes of ``source``'s stream over the files, each batch
    of ``cut`` (``plan``'s) read by one of ``workers`` processes; ``counts`` gets every
    file's, ``progress`` the bytes read and in all after each batch (close the spool
    when done)."""
    read = list(itertools.accumulate(sum(_size(piece) for piece in batch) for batch in cut))
    spool = Spool(codec=ROWS)
    try:
        folder = spool.folder()
        jobs = [Job(n, batch, source, fmt, with_raw, folder, limits, args)
                for n, batch in enumerate(cut)]
        # fork on Linux: the workers start with rescind already imported (spawn imports
        # it again; macOS forks unsafely). An executor, not a Pool: a worker that dies
        # (killed for memory) breaks it with an error, where a Pool would wait for the
        # lost batch for ever.
        executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(
            "fork" if sys.platform == "linux" else "spawn"), initializer=_orphan_dies,
            initargs=(os.getpid(),))
        with _interrupts_held() as interrupted:
            try:
                # Read in the batches' order: the merge breaks ties in the order rows came.
                # Not executor.map: its cancelling of what is left on Ctrl-C races the
                # executor's own thread (a traceback from Python's pool code).
                futures = [executor.submit(_convert_file, job) for job in jobs]
                for number, future in enumerate(futures):
                    while True:
                        try:
                            runs, count, part = future.result(timeout=0.2)
                            break
                        except TimeoutError:
                            interrupted()
                    spool.adopt(runs, count)
                    counts.add(part)
                    progress(read[number], read[-1])
            except BaseException as exc:
                _stop(executor)
                if isinstance(exc, BrokenProcessPool):
                    raise UsageError("a worker process stopped before its files were read "
                                     "(killed, or out of memory)",
                                     fix="run again with --workers 1, or fewer files at once"
                                     ) from None
                raise
            executor.shutdown(wait=True)
    except BaseException:
        spool.close()
        raise
    return MergedStream(spool, KIND)


def _stop(executor: ProcessPoolExecutor) -> None:
    """Stop the workers now, not after their batches (Ctrl-C, an error), and wait for
    them: a worker still writing a run would put it in the folder being removed. (The
    executor has no public way to stop a running worker before Python 3.14.)"""
    processes = list((executor._processes or {}).values())
    for process in processes:
        process.kill()
    for process in processes:
        process.join()
    executor.shutdown(wait=True)  # its thread sees the workers gone and ends


_STOPS = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def _interrupts_held() -> Iterator[Callable[[], None]]:
    """Ctrl-C and SIGTERM (``timeout``, systemd, a CI cancel) held while the workers run,
    and raised as KeyboardInterrupt only where the caller checks (the check it gets): a
    KeyboardInterrupt landing inside the executor's own code could leave one of its locks
    held, and stopping it would then wait for ever. Either signal stops the workers and
    removes the spool, as Ctrl-C does."""
    if (threading.current_thread() is not threading.main_thread()
            or not hasattr(signal, "sigtimedwait")):  # macOS, Windows: as any interrupt
        yield lambda: None
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)

    def interrupted() -> None:
        if signal.sigpending() & _STOPS:
            signal.sigtimedwait(_STOPS, 0)  # taken: it is handled here
            raise KeyboardInterrupt

    try:
        yield interrupted
        interrupted()  # one that came while the last batch was read
    finally:
        while signal.sigpending() & _STOPS:  # an error's exit: not delivered late
            signal.sigtimedwait(_STOPS, 0)
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _orphan_dies(parent: int) -> None:
    # Ctrl-C reaches the whole process group: the parent stops the workers and removes
    # the spool; a worker's own KeyboardInterrupt would only print its traceback. The
    # signals the parent held (forked while holding them) are the worker's own again.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's (convert's) handler
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPS)
    if sys.platform == "linux":  # and a parent killed outright takes its workers along
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the line above
            os._exit(1)


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


_writers: dict[str, Callable[[Event, bool], str]] = {}


def _convert_file(job: Job) -> tuple[list[Path], int, ConvertResult]:
    from rescind.timeline import sources
    from rescind.timeline.export import line_writer

    line = _writers.get(job.fmt) or _writers.setdefault(job.fmt, line_writer(job.fmt))
    counts = ConvertResult()
    source = sources.require(job.source)
    stream = (source.stream_parts(job.paths, job.limits, counts) if source.reads_parts
              else source.stream_from_args(cast(list[Path], job.paths),  # (``plan``)
                                           job.limits, job.args, counts))
    spool = Spool(codec=ROWS, part=(job.folder, job.number))
    spool_rows(spool, stream, line, with_raw=job.with_raw)
    return spool.spill(), spool.count, counts
