"""`rescind timeline convert` reading its files in worker processes (issue 13).

The workers' output must be the one process's output byte for byte (the golden files of
``test_streaming``), whether a big JSONL file is cut into parts or not; leave no spool
behind; stop cleanly on Ctrl-C and SIGTERM; and never split a source whose records fold
within a file.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rescind.timeline import convert, sources, spool, workers
from rescind.timeline.export import FORMATS
from tests.timeline.test_streaming import INPUTS, STREAM

SRC = Path(spool.__file__).parents[2]
# Runs of a few rows, batches of no least size (a JSONL file cut into parts): every
# batch spills several runs, so the adopted runs' order matters.
_CHILD = """
import sys
from rescind.timeline import spool, workers
spool.RUN_SIZE = 2
workers.PARALLEL_BATCH_MB = 0
from rescind.cli import main
sys.exit(main(["timeline", "convert", *sys.argv[1:]]))
"""


# The first batch is converted, every other one waits for ever: the convert is still
# running whenever the test stops it (a fast machine could otherwise finish first).
_STUCK = _CHILD.replace("from rescind.cli import main", """
import time
convert_file = workers._convert_file
def first_only(job):
    if job.number == 0:
        return convert_file(job)
    while True:
        time.sleep(1)
workers._convert_file = first_only
from rescind.cli import main""")


def _convert(args: list[str], temp: Path, child: str = _CHILD,
             new_session: bool = False) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(SRC), TMPDIR=str(temp))
    return subprocess.Popen([sys.executable, "-c", child, *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=new_session)


def _stopped_mid_work(tmp_path: Path,
                      new_session: bool = False) -> tuple[subprocess.Popen[str], Path]:
    """A convert whose first batch's runs are in the spool and whose second never ends."""
    temp = tmp_path / "temp"
    temp.mkdir()
    proc = _convert([*map(str, INPUTS), "--format", "csv", "--out", str(tmp_path / "out.csv"),
                     "--workers", "2"], temp, _STUCK, new_session)
    while not list(temp.glob("rescind-spool-*/part00000-*")):
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    return proc, temp


def test_workers_write_what_one_process_writes(tmp_path: Path) -> None:
    temp = tmp_path / "temp"
    temp.mkdir()
    for fmt in FORMATS:
        out = tmp_path / f"timeline.{fmt}"
        proc = _convert([*map(str, INPUTS), "--format", fmt, "--out", str(out),
                         "--workers", "2"], temp)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert out.read_bytes() == (STREAM / "before" / f"timeline.{fmt}").read_bytes(), fmt
        # Batches of no least size: both JSONL files are read in parts, lines numbered.
        assert "reading 2 files in 2 processes (1 file cut into 6 parts)" in err, err
        # The same summary as one process: copies, shared ids, unreadable lines by position.
        said = {line.replace(str(STREAM) + "/", "") for line in err.splitlines()
                if line.startswith(("rescind: 28", "  "))}
        before = {line.replace("tests/timeline/data/stream/", "")
                  for line in (STREAM / "before" / "stderr.txt").read_text().splitlines()
                  if not line.startswith("rescind: wrote")}
        assert said == before
    assert list(temp.iterdir()) == []  # every run, the workers' too, removed


def test_one_jsonl_file_read_in_parts_is_what_one_process_writes(tmp_path: Path) -> None:
    """A single export cut into parts: the same lines, the same unreadable lines by
    number, one file counted."""
    temp = tmp_path / "temp"
    temp.mkdir()
    export = next(p for p in INPUTS if p.suffix == ".jsonl")
    said = []
    for count in ("2", "1"):
        out = tmp_path / f"out{count}.csv"
        proc = _convert([str(export), "--format", "csv", "--out", str(out), "--workers", count],
                        temp)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert ("reading 1 file in 2 processes (cut into" in err) == (count == "2"), err
        said.append((out.read_bytes(), [line.replace(out.name, "out.csv")
                                        for line in err.splitlines()
                                        if not line.startswith("rescind: reading")]))
    assert said[0] == said[1]
    assert "in 1 file:" in said[0][1][1] and "skipped" in said[0][1][-1]
    assert list(temp.iterdir()) == []


# stderr a terminal, and the status line redrawn every 5 records.
_ON_A_TERMINAL = _CHILD.replace("from rescind.cli import main", """
class Terminal:
    def __init__(self, stream):
        self.stream = stream
    def isatty(self):
        return True
    def __getattr__(self, name):
        return getattr(self.stream, name)
sys.stderr = Terminal(sys.stderr)
from rescind.commands import timeline
timeline._EVERY = 5
from rescind.cli import main""")


@pytest.mark.parametrize("count", ["2", "1"])
def test_a_terminal_sees_the_convert_progress_on_one_line(tmp_path: Path, count: str) -> None:
    temp = tmp_path / "temp"
    temp.mkdir()
    out = tmp_path / "out.csv"
    done = subprocess.run(  # bytes: text mode would read each \r as a new line
        [sys.executable, "-c", _ON_A_TERMINAL, *map(str, INPUTS), "--format", "csv",
         "--out", str(out), "--workers", count],
        env=dict(os.environ, PYTHONPATH=str(SRC), TMPDIR=str(temp)), capture_output=True,
        timeout=120)
    err = done.stderr.decode()
    assert done.returncode == 0, err
    assert out.read_bytes() == (STREAM / "before" / "timeline.csv").read_bytes()
    read = "0.0 MB read (100%)" if count == "2" else "25 events read, file 2 of 2"
    assert f"{read}\x1b[K\r  " in err, err  # redrawn in place
    # Cleared once written: what follows says how it ended.
    assert "\r  15 events sorted and written, of 26 read\x1b[K\r\x1b[Krescind: wrote 16" in err


def test_ctrl_c_stops_the_workers_and_removes_their_runs(tmp_path: Path) -> None:
    proc, temp = _stopped_mid_work(tmp_path, new_session=True)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole group
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    assert list(temp.iterdir()) == []
    assert not (tmp_path / "out.csv").exists()


# One process, stopped for ever after its tenth event: a run (eight rows, or two events)
# is on disk.
_STUCK_ALONE = _CHILD.replace("from rescind.cli import main", """
import time
from rescind.commands import timeline
counted = timeline._counted
def stuck(stream, files, status):
    for n, item in enumerate(counted(stream, files, status)):
        if n == 10:
            while True:
                time.sleep(1)
        yield item
timeline._counted = stuck
from rescind.cli import main""")


@pytest.mark.parametrize("incident", [False, True])
def test_sigterm_stops_a_one_process_convert_as_ctrl_c_does(
        tmp_path: Path, incident: bool) -> None:
    temp = tmp_path / "temp"
    temp.mkdir()
    target = ["--out", str(tmp_path / "out.csv")]
    if incident:
        (tmp_path / "IR-1").mkdir()
        (tmp_path / "IR-1" / "journal.jsonl").write_text("")
        target = ["--incident", str(tmp_path / "IR-1")]
    proc = _convert([*map(str, INPUTS), "--format", "csv", *target, "--workers", "1"], temp,
                    _STUCK_ALONE)
    while not list(temp.glob("rescind-spool-*/run*")):
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert list(temp.iterdir()) == []  # no run, no copy of the evidence, left behind
    assert not (tmp_path / "out.csv").exists()


def _workers_of(pid: int) -> set[int]:
    found: set[int] = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        found |= {int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()}
    return found


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_a_killed_parent_takes_its_workers_along(tmp_path: Path, how: signal.Signals) -> None:
    """``timeout``, systemd or a CI cancel (SIGTERM): the workers stop and the spool is
    removed; the out-of-memory killer (SIGKILL): at least no worker lives on."""
    proc, temp = _stopped_mid_work(tmp_path)
    workers_ = _workers_of(proc.pid)
    assert workers_
    proc.send_signal(how)
    _, err = proc.communicate(timeout=120)
    deadline = time.monotonic() + 60  # the kernel's SIGKILL lands at once; a hang does not
    while any(_running(pid) for pid in workers_) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(_running(pid) for pid in workers_), "a worker outlived its parent"
    if how == signal.SIGTERM:
        assert proc.returncode == 130 and "Traceback" not in err, err
        assert list(temp.iterdir()) == []


_DYING = """
import os, sys
from rescind.timeline import workers
workers.PARALLEL_BATCH_MB = 0  # a file a batch: two workers
def die(job):
    os._exit(9)  # as the kernel's out-of-memory killer would stop it
workers._convert_file = die
from rescind.cli import main
sys.exit(main(["timeline", "convert", *sys.argv[1:]]))
"""


def test_a_worker_that_dies_ends_in_one_clear_message_not_a_hang(tmp_path: Path) -> None:
    temp = tmp_path / "temp"
    temp.mkdir()
    env = dict(os.environ, PYTHONPATH=str(SRC), TMPDIR=str(temp))
    done = subprocess.run([sys.executable, "-c", _DYING, *map(str, INPUTS), "--format", "csv",
                           "--out", str(tmp_path / "out.csv"), "--workers", "2"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "a worker process stopped" in done.stderr and "--workers 1" in done.stderr
    assert "Traceback" not in done.stderr
    assert list(temp.iterdir()) == []


def test_an_operation_folded_within_its_file_is_folded_by_a_worker_too(
        tmp_path: Path) -> None:
    """Entra/Azure: an Activity Log operation's start and outcome fold within their file;
    a worker reading that file folds them as one process does."""
    for name, correlation in (("a", "c1"), ("b", "c2")):
        _activity_log(tmp_path / f"{name}.jsonl", correlation)
    temp = tmp_path / "temp"
    temp.mkdir()
    outputs = []
    for count in ("1", "2"):
        out = tmp_path / f"out{count}.jsonl"
        proc = _convert([str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"), "--source",
                         "entra", "--workers", count, "--format", "jsonl", "--out", str(out)],
                        temp)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert ("in 2 processes" in err) == (count == "2")
        outputs.append(out.read_bytes())
    events = [json.loads(line) for line in outputs[1].splitlines()]
    assert [e["uid"] for e in events] == ["c1-Succeeded", "c2-Succeeded"]
    assert all("started" in e["description"] for e in events)
    assert outputs[0] == outputs[1]


def _activity_log(path: Path, correlation: str) -> Path:
    """An Entra/Azure Activity Log export: one operation's start and outcome."""
    list_keys = {"value": "Microsoft.Storage/storageAccounts/listKeys/action"}
    path.write_text("".join(json.dumps({
        "event_timestamp": f"2024-05-01T12:00:0{n}+00:00", "correlation_id": correlation,
        "event_data_id": f"{correlation}-{status}", "caller": "x",
        "status": {"value": status}, "operation_name": list_keys}) + "\n"
        for n, status in enumerate(("Started", "Succeeded"))))
    return path


def test_files_of_another_source_first_are_read_as_one_process_reads_them(
        tmp_path: Path) -> None:
    """One process takes the first source that reads an event in any file (CloudTrail
    here, from the second file); the workers, told the source by the first file alone,
    would have read the Activity Log instead. Without --source, such files are read in
    one process, and the command says how to read them in parallel."""
    files = [str(_activity_log(tmp_path / "activity.jsonl", "c1")), str(INPUTS[1])]
    temp = tmp_path / "temp"
    temp.mkdir()
    outputs = []
    for count in ("2", "1"):
        out = tmp_path / f"out{count}.jsonl"
        proc = _convert([*files, "--workers", count, "--format", "jsonl", "--out", str(out)],
                        temp)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert ("--source azure, to read the files in parallel" in err) == (count == "2"), err
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    assert json.loads(outputs[0].splitlines()[0])["source"] == "cloudtrail"


@pytest.mark.parametrize("kind", ["gzip", "activity log"])
def test_one_file_is_read_once_when_no_worker_reads_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    """A gzip file is not cut, and is not read to find its source; an Activity Log is
    read to find it, then converted from that same reading, not read again."""
    from rescind.commands import timeline
    from rescind.timeline.limits import Limits

    if kind == "gzip":
        path = tmp_path / "delivery.json.gz"
        path.write_bytes(gzip.compress(b"\n".join([b'{"eventName": "x"}'] * 5000)))
    else:
        path = tmp_path / "activity.jsonl"
        path.write_text("".join(_activity_log(tmp_path / "one.jsonl", f"c{n}").read_text()
                                for n in range(300)))
    monkeypatch.setattr(workers, "PARALLEL_BATCH_MB", 0)
    monkeypatch.setattr(workers, "wanted", lambda paths, requested: 2)
    read: list[str] = []

    def counted(source: sources.TimelineSource) -> object:
        stream = type(source).stream_from_args
        return lambda *args: (read.append(source.name), stream(source, *args))[1]

    for name in sources.names():
        source = sources.require(name)
        monkeypatch.setattr(source, "stream_from_args", counted(source))
    args = argparse.Namespace(files=[path], workers=None, source=None, exercise=None)
    found = timeline._convert_in_workers(args, "csv", Limits())
    assert found is not None
    events = [event for _, event, _ in found[2]]
    assert len(events) == (0 if kind == "gzip" else 300)
    assert len(read) == len(set(read)), read  # no source reads the file twice
    assert kind == "gzip" or read == ["aws", "azure"]


def test_workers_are_started_only_for_big_inputs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small, other = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    small.write_text("{}\n")
    other.write_text("{}\n")
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1, 2, 3})
    assert workers.wanted([small, other], None) == 1  # too small
    assert workers.plan([small], 4, split=True) == (1, [[small]])  # one small file
    # Asked for: small files still make one batch of PARALLEL_BATCH_MB, so one worker.
    assert workers.plan([small, other], workers.wanted([small, other], 8)) == (
        1, [[small, other]])
    monkeypatch.setattr(workers, "PARALLEL_MIN_MB", 0)
    monkeypatch.setattr(workers, "PARALLEL_BATCH_MB", 0)
    assert workers.wanted([small, other], None) == 4
    assert workers.plan([small, other], 4) == (2, [[small], [other]])  # a batch each at most
    monkeypatch.setattr(workers, "_free_mb", lambda: 3 * workers.WORKER_MB - 1)
    assert workers.wanted([small, other], None) == 2  # memory for two workers only
    monkeypatch.setattr(workers, "_free_mb", lambda: 0)
    assert workers.wanted([small, other], None) == 1
    assert workers.wanted([small, other], 3) == 3  # asked for: as asked
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0})
    assert workers.wanted([small, other], None) == 1  # one core


def test_the_memory_free_is_read_from_the_kernel_and_a_containers_limit(
        tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24000000 kB\nMemAvailable:    2048000 kB\n")
    cgroup = tmp_path / "cgroup"  # no cgroup v2 files: the kernel's figure
    assert workers._free_mb(meminfo, cgroup) == 2000
    cgroup.mkdir()
    (cgroup / "memory.max").write_text("max\n")
    (cgroup / "memory.current").write_text(f"{300 * 2**20}\n")
    (cgroup / "memory.stat").write_text(f"anon 1\ninactive_file {200 * 2**20}\n")
    assert workers._free_mb(meminfo, cgroup) == 2000
    (cgroup / "memory.max").write_text(f"{600 * 2**20}\n")  # a container of 600 MB
    assert workers._free_mb(meminfo, cgroup) == 500  # its page cache can be dropped
    (cgroup / "memory.stat").unlink()
    assert workers._free_mb(meminfo, cgroup) == 300  # no cache known: all of it counts
    assert workers._free_mb(tmp_path / "none", cgroup) == workers.MAX_WORKERS * workers.WORKER_MB


def _limit(folder: Path, limit_mb: int | str, used_mb: int, cache_mb: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "memory.max").write_text(
        f"{limit_mb}\n" if isinstance(limit_mb, str) else f"{limit_mb * 2**20}\n")
    (folder / "memory.current").write_text(f"{used_mb * 2**20}\n")
    (folder / "memory.stat").write_text(f"anon 1\ninactive_file {cache_mb * 2**20}\n")


def test_a_limit_on_a_cgroup_above_this_ones_counts_too(tmp_path: Path) -> None:
    """A pod's or a systemd slice's limit is set on a parent of the process's cgroup."""
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemAvailable:    2048000 kB\n")
    root = tmp_path / "cgroup"  # the root's own files: a container's limit
    pod = root / "kubepods.slice" / "pod1"
    own = pod / "container1"
    _limit(own, "max", 100, 0)
    _limit(root / "kubepods.slice", "max", 400, 0)
    assert workers._free_mb(meminfo, own, root) == 2000  # no limit anywhere
    _limit(pod, 900, 400, 100)  # only the pod has one: 900 - (400 - 100)
    assert workers._free_mb(meminfo, own, root) == 600
    _limit(own, 1500, 100, 0)  # its own is looser than the pod's
    assert workers._free_mb(meminfo, own, root) == 600
    _limit(own, 550, 100, 0)  # and tighter
    assert workers._free_mb(meminfo, own, root) == 450
    _limit(root, 700, 500, 0)  # the container's, at the root: the tightest
    assert workers._free_mb(meminfo, own, root) == 200
    _limit(tmp_path, 100, 0, 0)  # above the root: not a cgroup, not read
    assert workers._free_mb(meminfo, own, root) == 200


def test_a_cpu_quota_on_a_cgroup_above_this_ones_counts_too(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1, 2, 3})
    root = tmp_path / "cgroup"
    own = root / "kubepods.slice" / "pod1" / "container1"
    own.mkdir(parents=True)
    (own / "cpu.max").write_text("max 100000\n")
    assert workers._cores(own, root) == 4  # no quota anywhere
    (own.parent / "cpu.max").write_text("200000 100000\n")  # the pod's: two cores
    assert workers._cores(own, root) == 2
    (own / "cpu.max").write_text("300000 100000\n")  # its own is looser
    assert workers._cores(own, root) == 2
    (tmp_path / "cpu.max").write_text("100000 100000\n")  # above the root: not a cgroup
    assert workers._cores(own, root) == 2
    assert workers._cores(root / ".." / "elsewhere", root) == 4  # not climbing past it
    (root / "cpu.max").write_text("50000 100000\n")  # half a core at the root: one
    assert workers._cores(own, root) == 1


def test_many_small_files_are_read_in_a_few_batches_in_order(tmp_path: Path) -> None:
    """Ten thousand S3 delivery files are not ten thousand runs to merge."""
    paths = []
    for n in range(40):
        path = tmp_path / f"{n:02d}.json"
        path.write_bytes(b" " * (2**20))  # 1 MB each: 40 MB
        paths.append(path)
    cut = workers.batches(paths, workers._target(40 * 2**20, 2))
    assert [p for batch in cut for p in batch] == paths
    assert len(cut) == 3 and all(len(batch) <= 16 for batch in cut)


def test_adopted_runs_keep_the_order_items_were_added_for_ties(tmp_path: Path) -> None:
    whole = spool.Spool(run_size=2, directory=tmp_path, codec=spool.ROWS)
    try:
        whole.add(((("t", "s", "u")), "first", None, "1"))
        part = spool.Spool(run_size=2, codec=spool.ROWS, part=(whole.folder(), 1))
        for n in range(3):
            part.add(((("t", "s", "u")), "part", None, f"p{n}"))
        whole.adopt(part.spill(), part.count)
        part.close()  # a part's close leaves its runs to the spool that adopted them
        whole.add(((("t", "s", "u")), "last", None, "9"))
        assert [row[3] for row in whole] == ["1", "p0", "p1", "p2", "9"]
        assert whole.count == 5
    finally:
        whole.close()
    assert list(tmp_path.iterdir()) == []


def test_a_batch_of_many_runs_is_merged_within_max_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One huge file is one batch: its worker compacts its own runs, and adopting them
    never opens more than MAX_RUNS at once."""
    monkeypatch.setattr(spool, "MAX_RUNS", 4)
    whole = spool.Spool(run_size=2, directory=tmp_path, codec=spool.ROWS)
    try:
        for number in range(2):
            part = spool.Spool(run_size=2, codec=spool.ROWS, part=(whole.folder(), number))
            for n in range(13):  # seven runs: compacted at four
                part.add(((f"t{n:02d}", "s", f"u{number}"), "a", None, f"{number}-{n:02d}"))
            runs = part.spill()
            assert len(runs) < 4
            whole.adopt(runs, part.count)
            assert len(whole.runs) < 4
        assert [row[3] for row in whole] == sorted(
            (f"{number}-{n:02d}" for number in range(2) for n in range(13)),
            key=lambda line: (line[2:], line[0]))
    finally:
        whole.close()


def _check_parts(path: Path, size: int) -> list[convert.Part]:
    """``convert.parts`` of ``path``: the parts cover the file in order, each starting
    where a line starts, numbered as the lines before it count."""
    data = path.read_bytes()
    found = convert.parts(path, size)
    assert found[0].start == 0 and found[-1].end is None
    for before, after in itertools.pairwise(found):
        assert before.end == after.start and data[after.start - 1:after.start] == b"\n"
    assert all(p.line == data.count(b"\n", 0, p.start) + 1 for p in found)
    return found


def test_a_big_jsonl_file_is_cut_at_line_starts_and_other_files_are_not(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record = json.dumps({"eventName": "ListUsers", "eventTime": "2026-11-20T10:00:00Z"})
    jsonl = tmp_path / "trail.jsonl"  # blank lines first, CR LF, one line longer than a part
    jsonl.write_bytes(b"\n \r\n" + b"".join(
        (record + (" " * 3000 if n == 40 else "") + ("\r\n" if n % 3 else "\n")).encode()
        for n in range(200)))
    cut = _check_parts(jsonl, 1000)
    assert len(cut) > 10 and all(p.path == jsonl for p in cut)
    assert len(_check_parts(jsonl, len(jsonl.read_bytes()) // 2 + 1)) == 1  # too small

    pretty = tmp_path / "delivery.json"  # one document, pretty-printed: read whole
    pretty.write_text(json.dumps({"Records": [json.loads(record)] * 100}, indent=2))
    gzipped = tmp_path / "delivery.json.gz"  # gzip: read as a stream, whole
    gzipped.write_bytes(gzip.compress(jsonl.read_bytes()))
    long_first = tmp_path / "long.jsonl"  # no whole first line within a part
    long_first.write_text(json.dumps({"x": "y" * 5000}) + "\n" + (record + "\n") * 100)
    one_line = tmp_path / "one.jsonl"  # one line, then blank ones: positions name no line
    one_line.write_text(json.dumps({"Records": [{"eventName": "x"}] * 50}) + "\n \u00a0" * 5000)
    activity = tmp_path / "activity.jsonl"  # another source's lines: not counted for naught
    activity.write_text(_activity_log(tmp_path / "one-operation.jsonl", "c1").read_text() * 100)
    arrays = tmp_path / "arrays.jsonl"  # `jq -c .Records` of each delivery: cut too
    arrays.write_text((json.dumps([json.loads(record)] * 3) + "\n") * 200)
    assert len(_check_parts(arrays, 1000)) > 10
    for whole in (pretty, gzipped, long_first, one_line, activity):
        assert convert.parts(whole, 1000) == [convert.Part(whole, 0, None, 1)], whole.name
    # Long lines (a Records document a line, 600 KB) are cut between lines too.
    documents = tmp_path / "documents.jsonl"
    documents.write_text((json.dumps({"Records": [json.loads(record)] * 9_000}) + "\n") * 5)
    assert [p.line for p in _check_parts(documents, 700 * 2**10)] == [1, 3, 5]
    monkeypatch.setattr(workers, "PARALLEL_BATCH_MB", 0)
    count, cut = workers.plan([pretty, jsonl], 2, split=True)
    assert count == 2 and cut[0] == [pretty] and all(
        isinstance(part, convert.Part) for batch in cut[1:] for part in batch)
    assert workers.plan([pretty, jsonl], 2) == (2, [[pretty], [jsonl]])  # whole files only
