"""Run a computation in a forked child under a time and memory budget.

Used for ``when:`` conditions with comprehensions: the CEL extension evaluates in
native code that holds the GIL, so a thread cannot be stopped and even Ctrl-C waits
for it. A forked child can be killed. Forking costs ~20 ms (measured in a process
that has imported the engine and the TUI, two busy cores); starting a new
interpreter costs about a second. The child writes its JSON result to a pipe; the
parent reads at most ``MAX_RESULT_BYTES`` of it.
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import os
import resource
import select
import signal
import time
import warnings
from collections.abc import Callable
from typing import Any

MAX_RESULT_BYTES = 64 * 1024


class BudgetExceeded(Exception):
    """The computation ran out of time or memory, or gave too large a result."""


def _virtual_size() -> int | None:
    """This process's virtual memory size in bytes (Linux), else None."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            pages = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pages * resource.getpagesize()


def _child(compute: Callable[[], Any], write_fd: int, memory_bytes: int,
           mask: set[int | signal.Signals]) -> None:
    """In the forked child: never returns."""
    code = 1
    try:
        # Ctrl-C reaches the whole foreground process group: let it kill the child at
        # once (the parent's handler would only run once the native call returns). A
        # Ctrl-C held since the fork kills it here.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        # Native code out of memory prints to stderr and aborts: keep that off the
        # responder's screen (and do not spend the budget symbolising a backtrace).
        os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
        faulthandler.disable()  # it may hold its own copy of stderr (pytest's does)
        os.environ["RUST_BACKTRACE"] = "0"
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # an abort writes no core file
        size = _virtual_size()
        if size is not None:
            limit = size + memory_bytes
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        data = json.dumps(compute()).encode("utf-8")
        view = memoryview(data)
        while view:
            view = view[os.write(write_fd, view):]
        code = 0
    except BaseException:  # MemoryError above all; the parent reports no result
        pass
    finally:
        os._exit(code)


def run_bounded(compute: Callable[[], Any], *, seconds: float, memory_bytes: int) -> Any:
    """``compute()``'s JSON-able result, computed in a child process.

    Raises BudgetExceeded when it takes longer than ``seconds``, needs more than
    ``memory_bytes`` beyond what this process already uses (Linux only; elsewhere only
    the time is bounded), or returns more than MAX_RESULT_BYTES. The child is always
    killed and reaped, also when the wait is interrupted (Ctrl-C).
    """
    # Ctrl-C is held over the fork. Arriving during it, it could reach the child before
    # Python forgets the signals pending at a fork (so the child would compute on), and
    # the parent before its pid is known (so nothing would kill the child): it is taken
    # below, in each process, where it ends both. One already pending is raised here.
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    read_fd, write_fd = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns about forking a threaded process; the child only runs
        # ``compute`` and leaves with os._exit, taking no lock another thread may hold.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _child(compute, write_fd, memory_bytes, mask)
    os.close(write_fd)
    reaped = False
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        data = _read(read_fd, seconds)
        _, status = os.waitpid(pid, 0)
        reaped = True
    finally:
        os.close(read_fd)
        if not reaped:
            _kill(pid)
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGINT:
        # Ctrl-C killed the child; this process's own KeyboardInterrupt may not have been
        # raised yet (no Python code ran between the wait and here): the same answer.
        raise KeyboardInterrupt
    if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0:
        raise BudgetExceeded(f"it needed more than {memory_bytes // 2**20} MB of memory")
    return json.loads(data)


def _read(fd: int, seconds: float) -> bytes:
    deadline = time.monotonic() + seconds
    chunks: list[bytes] = []
    total = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise BudgetExceeded(f"it took longer than {seconds:g} s")
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > MAX_RESULT_BYTES:
            raise BudgetExceeded(f"its result is larger than {MAX_RESULT_BYTES // 1024} KB")
        chunks.append(chunk)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
