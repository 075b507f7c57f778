"""Cold start to first paint of the home screen, beside a minimal Textual app.

Each app runs as a fresh process on a pseudo-terminal (120x40), exactly as a
responder starts it; the clock runs from spawning the process until a marker text
from its first frame arrives on the terminal. The baseline is a Textual app with
one Static widget, started and painted the same way, interleaved run by run so
machine noise falls on both. Also reported: the home screen with its runbook
library filled in (loaded in a thread after the first paint; from the index of
an earlier listing, as on every start but the first), the same with no index (a
first start, or after rescind or a runbook changed), and the heaviest imports
before the first paint (`python -X importtime`), and the CPU time each app used
until its first paint (its own runs, stopped at once). Goals (issue 16): first paint
within 1.2x the baseline, the library listed within 2x.

With ``--instructions`` (needs valgrind), each app also runs once under callgrind and
exits as its first frame is handed to the terminal: instructions executed are the same
from run to run whatever the load, unlike the wall clock and, less so, the CPU time.

    python bench/tui_start.py [--runs 9] [--instructions]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import re
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
BASELINE = """
from textual.app import App
from textual.widgets import Static

class Minimal(App):
    def compose(self):
        yield Static("baseline first paint")

Minimal().run()
"""
HOME = "from rescind.cli import main; raise SystemExit(main([]))"
ANSI = re.compile(rb"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-B]|.)")
FIRST_PAINT = {"baseline": re.compile(b"baseline first paint"),
               "home": re.compile(b"walk a leaked-credential")}
# A runbook's severity: only the loaded library shows one.
LIBRARY = re.compile(rb"  (LOW|MEDIUM|HIGH|CRITICAL)  ")


def spawn_until(code: str, markers: list[re.Pattern[bytes]], env: dict[str, str], cwd: Path,
                timeout: float = 30.0, cpu: list[float] | None = None) -> list[float]:
    """Seconds from spawn until each marker has appeared on the terminal, in order.

    ``cpu`` gets the CPU seconds the process used until it was stopped at the last
    marker: on a shared, loaded machine that varies far less than the wall clock."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    start = time.perf_counter()
    proc = subprocess.Popen([PYTHON, "-c", code], stdin=slave, stdout=slave, stderr=slave,
                            env=env, cwd=cwd, start_new_session=True)
    os.close(slave)
    seen = b""
    times: list[float] = []
    try:
        while len(times) < len(markers):
            if time.perf_counter() - start > timeout:
                raise RuntimeError(f"no {markers[len(times)].pattern!r} within {timeout}s: "
                                   f"{ANSI.sub(b'', seen)[-300:]!r}")
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            seen += chunk
            text = ANSI.sub(b"", seen)
            while len(times) < len(markers) and markers[len(times)].search(text):
                times.append(time.perf_counter() - start)
    finally:
        os.killpg(proc.pid, signal.SIGKILL if cpu is not None else signal.SIGTERM)
        if cpu is not None:
            _, _, usage = os.wait4(proc.pid, 0)
            proc.returncode = -signal.SIGKILL
            cpu.append(usage.ru_utime + usage.ru_stime)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        os.close(master)
    return times


def _import_times(probe: str, env: dict[str, str], cwd: Path) -> dict[str, int]:
    """Microseconds each module's own import took (-X importtime's "self" column)."""
    result = subprocess.run([PYTHON, "-X", "importtime", "-c", probe], env=env, cwd=cwd,
                            capture_output=True, text=True, check=True)
    own: dict[str, int] = {}
    for line in result.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[0].split(":")[-1].strip().isdigit():
            own[parts[2].strip()] = int(parts[0].split(":")[-1])
    return own


# Ends the process as the frame holding ``marker`` is handed to Textual's writer thread.
STOP_AT_FRAME = """
import os, textual.drivers.linux_driver as _linux
_write = _linux.LinuxDriver.write
def _stop(self, data, _marker={marker!r}):
    _write(self, data)
    if _marker in data:
        os._exit(0)
_linux.LinuxDriver.write = _stop
"""


def instructions(code: str, marker: str, env: dict[str, str], cwd: Path) -> int:
    """Instructions (all threads) until the frame holding ``marker``, under callgrind."""
    out = cwd / "callgrind.out"
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                             PYTHON, "-c", STOP_AT_FRAME.format(marker=marker) + code],
                            stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                            start_new_session=True)
    os.close(slave)
    try:
        while proc.poll() is None:  # drain the terminal so the app never blocks on it
            if select.select([master], [], [], 0.5)[0]:
                try:
                    os.read(master, 65536)
                except OSError:
                    break
        proc.wait(timeout=300)
    finally:
        os.close(master)
    summary = next(line for line in out.read_text().splitlines()
                   if line.startswith("summary:"))
    return int(summary.split()[1])


def heaviest_imports(env: dict[str, str], cwd: Path, top: int = 8) -> list[str]:
    """The modules home imports before its first frame that the baseline does not, by
    their own import time. (This listed top-level packages by cumulative time before,
    which named only rescind.tui.app: Textual's import, common to both, was inside it.)"""
    # What runs before the first frame: the CLI module, then the app and its home screen.
    home = _import_times("import rescind.cli; from rescind.tui.app import RescindApp", env, cwd)
    base = _import_times("from textual.app import App; from textual.widgets import Static",
                         env, cwd)
    extra = sorted(((name, micros) for name, micros in home.items() if name not in base),
                   key=lambda kv: -kv[1])
    total = sum(micros for _, micros in extra)
    return [f"{len(extra)} modules, {total / 1000:.0f} ms in all"] + \
        [f"{name} {micros / 1000:.1f} ms" for name, micros in extra[:top]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--instructions", action="store_true",
                        help="also count instructions to first paint under callgrind")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        # Bytecode is written to (and read from) a private folder: an installed rescind
        # has its .pyc files as Textual does, and timing the compiler on every start
        # (PYTHONDONTWRITEBYTECODE, with sources outside site-packages) is no fair race.
        env = dict(os.environ, TERM="xterm-256color", COLORTERM="truecolor",
                   RESCIND_CONFIG_DIR=str(cwd / "config"),
                   PYTHONPYCACHEPREFIX=str(cwd / "pycache"))
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        # The apps run in a temporary folder: a relative PYTHONPATH (`PYTHONPATH=src`)
        # found nothing there, and the installed rescind was measured instead.
        env["PYTHONPATH"] = os.pathsep.join(
            str(Path(entry).resolve()) for entry in env.get("PYTHONPATH", "").split(os.pathsep)
            if entry)
        env.pop("NO_COLOR", None)
        env.pop("TEXTUAL", None)
        env["RESCIND_RUNBOOK_PATH"] = str(ROOT / "runbooks")
        # Warm the disk cache and compiled bytecode once for both, then measure.
        spawn_until(BASELINE, [FIRST_PAINT["baseline"]], env, cwd)
        spawn_until(HOME, [FIRST_PAINT["home"], LIBRARY], env, cwd)
        base: list[float] = []
        home: list[float] = []
        library: list[float] = []
        cold: list[float] = []
        base_cpu: list[float] = []
        home_cpu: list[float] = []
        for _ in range(args.runs):
            base += spawn_until(BASELINE, [FIRST_PAINT["baseline"]], env, cwd)
            spawn_until(BASELINE, [FIRST_PAINT["baseline"]], env, cwd, cpu=base_cpu)
            spawn_until(HOME, [FIRST_PAINT["home"]], env, cwd, cpu=home_cpu)
            first, loaded = spawn_until(HOME, [FIRST_PAINT["home"], LIBRARY], env, cwd)
            home.append(first)
            library.append(loaded)
            shutil.rmtree(cwd / "config" / "cache", ignore_errors=True)
            cold.append(spawn_until(HOME, [FIRST_PAINT["home"], LIBRARY], env, cwd)[1])
        imports = heaviest_imports(env, cwd)
        counted = None
        if args.instructions:
            # Hash seeds fixed: set iteration order would otherwise vary the count a little.
            fixed = dict(env, PYTHONHASHSEED="0")
            counted = (instructions(BASELINE, "baseline first paint", fixed, cwd),
                       instructions(HOME, "walk a leaked-credential", fixed, cwd))
    b, h, lib, unindexed = (statistics.median(x) for x in (base, home, library, cold))
    print(f"runs: {args.runs} each, 120x40 pseudo-terminal, medians; load average "
          f"{load_before:.2f} before, {os.getloadavg()[0]:.2f} after ({os.cpu_count()} CPUs)")
    print(f"baseline (one Static) first paint: {b * 1000:7.1f} ms")
    print(f"rescind home first paint:          {h * 1000:7.1f} ms   ratio {h / b:.2f}x "
          f"(goal < 1.2x)")
    bc, hc = statistics.median(base_cpu), statistics.median(home_cpu)
    print(f"  CPU time to first paint: baseline {bc * 1000:.1f} ms, home {hc * 1000:.1f} ms"
          f"   ratio {hc / bc:.2f}x")
    print(f"rescind home with runbook library: {lib * 1000:7.1f} ms   ratio {lib / b:.2f}x "
          "(goal < 2x)")
    print(f"  the same without the index:      {unindexed * 1000:7.1f} ms   ratio "
          f"{unindexed / b:.2f}x")
    print("imports before first paint that the baseline has not: " + ", ".join(imports))
    if counted is not None:
        print(f"instructions to first paint (callgrind): baseline {counted[0] / 1e6:.0f}M, "
              f"home {counted[1] / 1e6:.0f}M   ratio {counted[1] / counted[0]:.3f}x")
    return 0 if h / b < 1.2 and lib / b < 2 else 1


if __name__ == "__main__":
    raise SystemExit(main())
