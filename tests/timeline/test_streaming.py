"""Streaming timelines (issue 13): bounded memory, the same output as before, no secret out.

``data/stream/before/`` holds what `rescind timeline convert` wrote for the two input
files in ``data/stream/`` before it streamed (commit 78410e2, every format): the
streaming command must write the same bytes, whether the merge stays in memory or
spills sorted runs to disk.
"""

from __future__ import annotations

import copy
import json
import marshal
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from rescind.cli import main
from rescind.redaction import REDACTED, is_clean_document, is_clean_json, redact
from rescind.timeline import spool
from rescind.timeline.cloudtrail import from_record
from rescind.timeline.event import Event
from rescind.timeline.export import FORMATS, line_writer
from rescind.timeline.merge import merge_counted, merge_stream
from rescind.timeline.rows import merge_lines
from tests.timeline.conftest import CANARIES

STREAM = Path(__file__).parent / "data" / "stream"
INPUTS = [STREAM / "delivery.json.gz", STREAM / "export.jsonl"]


@pytest.mark.parametrize("run_size", [None, 2])
def test_convert_writes_what_it_wrote_before_streaming(
        tmp_path: Path, run_size: int | None, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    if run_size:  # every two events spilled: the merge of runs on disk is exercised
        monkeypatch.setattr(spool, "RUN_SIZE", run_size)
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    for fmt in FORMATS:
        out = tmp_path / f"timeline.{fmt}"
        assert main(["timeline", "convert", *map(str, INPUTS), "--format", fmt,
                     "--out", str(out)]) == 0
        assert out.read_bytes() == (STREAM / "before" / f"timeline.{fmt}").read_bytes(), fmt
        text = out.read_text()
        assert not [c for c in CANARIES if c in text]
    # The same summary: duplicates, shared ids (at one time and across times), records
    # placed by @timestamp or given an id, unreadable lines with their position.
    said = {line.replace(str(STREAM) + "/", "") for line in capsys.readouterr().err.splitlines()
            if not line.startswith("rescind: wrote")}
    before = {line.replace("tests/timeline/data/stream/", "")
              for line in (STREAM / "before" / "stderr.txt").read_text().splitlines()
              if not line.startswith("rescind: wrote")}
    assert said == before
    assert list(temp.iterdir()) == []  # the runs are removed


def test_streaming_merge_equals_the_in_memory_merge(records: list[dict[str, Any]]) -> None:
    events = [from_record(r) for r in records]
    clash = from_record(records[3] | {"eventID": records[1]["eventID"],
                                      "eventTime": records[1]["eventTime"]})
    elsewhen = from_record(records[4] | {"eventID": records[0]["eventID"]})
    bare = events[6].model_copy(update={"raw": None, "relevant": True})
    sources = [list(reversed(events)), [events[2], clash, elsewhen, bare, events[5]], events]
    expected = merge_counted(sources)
    for run_size in (1, 3, 1000):
        merged = merge_stream(sources, run_size=run_size)
        try:
            got = list(merged)
            assert got == expected.events
            assert merged.duplicates == expected.duplicates and merged.events == len(got)
            pairs = {(a.uid, a.action, b.action) for a, b in merged.collisions}
            assert pairs == {(a.uid, a.action, b.action) for a, b in expected.collisions}
            assert merged.collision_count == 2
            assert list(merged) == got  # a second pass reads the runs again
        finally:
            merged.spool.close()
    kept = next(e for e in got if e.uid == events[6].uid)
    assert kept.raw is not None and kept.relevant


def test_events_built_without_validation_equal_validated_ones(
        records: list[dict[str, Any]]) -> None:
    """from_record and the spool build events without pydantic's validation: each must be
    the event validation would have made, field for field, dumped the same."""
    for record in records:
        event = from_record(record)
        validated = Event.model_validate(event.model_dump())
        assert event == validated
        assert event.model_dump_json() == validated.model_dump_json()
        assert event.model_fields_set == validated.model_fields_set


def test_a_spilled_event_reads_back_as_pydantic_would_have(tmp_path: Path) -> None:
    """Raw records from an SDK hold datetimes and bytes; a run stores them as pydantic's
    JSON did, and reads every field back as it was."""
    when = datetime(2026, 11, 20, 9, 55, 0, 123456, tzinfo=UTC)
    events = [Event(uid=f"e{i}", time=t, source="cloudtrail", cloud="aws", action="ListUsers",
                    credential=None if i else "AKIAIOSFODNN7EXAMPLE", error="Denied" if i else None,
                    relevant=bool(i), raw={"EventTime": when, "blob": b"ab", "n": [1, 2.5]})
              for i, t in enumerate([when, when + timedelta(seconds=1), when])]
    with spool.Spool(run_size=2, directory=tmp_path) as spooled:
        for event in events:
            spooled.add(event)
        assert len(spooled.runs) == 1 and spooled.peak == 2
        got = list(spooled)
    # e2, still in memory, merges between the run's two (by time, then id).
    assert [e.uid for e in got] == ["e0", "e2", "e1"]
    assert got[0] == Event.model_validate_json(events[0].model_dump_json())
    assert got[2] == Event.model_validate_json(events[1].model_dump_json())
    assert got[1] is events[2]
    assert got[0].raw == {"EventTime": "2026-11-20T09:55:00.123456Z", "blob": "ab",
                          "n": [1, 2.5]}


@pytest.mark.parametrize("value", [
    {"requestParameters": {"password": "CANARYpw"}},
    {"responseElements": {"credentials": {"sessionToken": "CANARYtok"}}},
    {"requestParameters": {"policyDocument": json.dumps({"sts:ExternalId": "CANARYx"})}},
    {"errorMessage": "bad aws_secret_access_key=CANARYinline"},
    {"a": "x\\\"y", "client_secret": "CANARYafterAnEscape"},
    {"Authorization": ""},  # nothing hidden, but a secret's name: the slow path says so
])
def test_the_fast_check_never_calls_a_secret_clean(value: dict[str, Any]) -> None:
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False),
                 json.dumps({"outer": json.dumps(value)})):
        assert not is_clean_json(text), text


def test_an_escape_that_could_hide_a_name_is_never_clean() -> None:
    assert not is_clean_json('{"requestParameters": {"pass\\u0077ord": "CANARYescaped"}}')
    assert is_clean_json('{"requestParameters": {"userName": "deploy-bot"}}')


def test_the_fast_check_agrees_with_redact(records: list[dict[str, Any]]) -> None:
    clean = 0
    for record in records:
        for text in (json.dumps(record), json.dumps(record, separators=(",", ":"))):
            if is_clean_json(text):
                clean += 1
                assert redact(json.loads(text)) == json.loads(text)
    assert clean >= len(records)  # most records have nothing to hide, and are seen so


_CHILD = """
import resource, sys
from rescind.cli import main
import rescind.timeline.aws_source, rescind.timeline.export, rescind.timeline.sources
rescind.timeline.sources.names()
try:
    from rescind.timeline import spool
    spool.RUN_SIZE = 200
except ImportError:  # the code before streaming, for comparison
    pass
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
main(["timeline", "convert", sys.argv[1], "--format", "csv", "--out", sys.argv[2]])
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""
RECORDS = 3_000


def test_convert_memory_does_not_grow_with_the_input(
        tmp_path: Path, records: list[dict[str, Any]]) -> None:
    """3,000 records: the in-memory convert grew by 28 MB (~10 KB a record); streaming (3 MB)
    holds one run of 200 events, a line and the merge's heads."""
    big = tmp_path / "big.jsonl"
    with big.open("w") as fh:
        for i in range(RECORDS):
            record = copy.deepcopy(records[i % len(records)])
            record["eventID"] = f"00000000-0000-4000-8000-{i:012d}"
            record["eventTime"] = f"2026-11-20T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:" \
                                  f"{i % 60:02d}Z"
            fh.write(json.dumps(record) + "\n")
    env = dict(os.environ, PYTHONPATH=str(Path(spool.__file__).parents[2]))
    grew = subprocess.run([sys.executable, "-c", _CHILD, str(big), str(tmp_path / "out.csv")],
                          capture_output=True, text=True, env=env, check=True).stdout
    assert int(grew) < 12, f"convert grew by {grew.strip()} MB for {RECORDS:,} records"
    assert len((tmp_path / "out.csv").read_text().splitlines()) == RECORDS + 1


def test_the_parsed_check_agrees_with_the_text_check(records: list[dict[str, Any]]) -> None:
    """is_clean_document (names checked in sets) says clean only where is_clean_json does."""
    values: list[Any] = [*records, {"requestParameters": {"password": "CANARYpw"}},
                         {"responseElements": {"credentials": {"sessionToken": "CANARYtok"}}},
                         {"a": [{"b": {"client_secret": "CANARYdeep"}}]},
                         {"note": "my Secret is CANARYword"}, {"Authorization": ""},
                         {"doc": json.dumps({"sts:ExternalId": "CANARYx"})}]
    for value in values:
        for text in (json.dumps(value), json.dumps(value, ensure_ascii=False)):
            assert is_clean_document(text, json.loads(text)) == is_clean_json(text), text
    assert not is_clean_document(json.dumps(values[-1]), values[-1])
    # Names inside lists, with no word "secret" in the text to give them away.
    for hidden in ({"a": [[{"Pass_Word": "CANARYpw"}]]},
                   {"l": [{"X-Amz-Security-Token": "CANARYtok"}]}):
        assert not is_clean_document(json.dumps(hidden), hidden), hidden


def test_a_record_whose_secrets_are_already_hidden_is_clean(
        records: list[dict[str, Any]]) -> None:
    """CloudTrail's own marker (or ours, in an event's redacted raw) under a secret's name,
    and a credentials mapping holding it: redact changes nothing, so both checks say clean,
    and the lines are the ones the checked path writes."""
    hidden = {**records[0], "requestParameters": {"userName": "bob", "password": REDACTED},
              "responseElements": {"credentials": {"accessKeyId": "ASIAEXAMPLE",
                                                   "sessionToken": REDACTED}}}
    for text in (json.dumps(hidden), json.dumps(hidden, separators=(",", ":"), sort_keys=True)):
        assert redact(json.loads(text)) == json.loads(text)
        assert is_clean_json(text) and is_clean_document(text, json.loads(text)), text
    event = from_record(hidden, clean=True)
    for fmt in FORMATS:
        assert line_writer(fmt)(event, True) == line_writer(fmt)(event, False), fmt
    # The marker's text, but not the whole value; the marker where a mapping must be; a
    # value an escape could end elsewhere: each is redacted, so none is clean.
    for value in ({"password": REDACTED + " CANARYafter"}, {"credentials": REDACTED[:-1]},
                  {"password": REDACTED, "note": 'a \\"quote'},
                  {"credentials": "{"}, {"credentials": [REDACTED]},
                  {"password": REDACTED, "client_secret": REDACTED}):
        text = json.dumps(value)
        assert not is_clean_json(text) and not is_clean_document(text, json.loads(text)), text


def test_a_clean_events_lines_are_the_checked_lines(records: list[dict[str, Any]]) -> None:
    """A clean event's line is written without the second check (and OCSF and Timesketch
    by pydantic-core's JSON): it must be the very line the checked path writes."""
    for fmt in FORMATS:
        line = line_writer(fmt)
        for record in records:
            text = json.dumps(record)
            if is_clean_json(text):
                event = from_record(record, clean=True)
                assert line(event, True) == line(event, False), (fmt, record.get("eventName"))


def test_merged_lines_are_the_merged_events_lines(records: list[dict[str, Any]],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Convert spools finished lines, not events: the same lines, copies and shared ids
    as merging the events, a copy whose keys come in another order included."""
    events = [from_record(r) for r in records]
    reordered = from_record(dict(reversed(list(records[2].items()))))
    clash = from_record(records[3] | {"eventID": records[1]["eventID"],
                                      "eventTime": records[1]["eventTime"]})
    elsewhen = from_record(records[4] | {"eventID": records[0]["eventID"]})
    stream = [*reversed(events), reordered, clash, elsewhen, *events]
    for fmt in ("ocsf", "csv", "jsonl"):
        line = line_writer(fmt)
        expected = merge_stream([stream], run_size=2)
        for run_size in (1, 3, 1000):
            monkeypatch.setattr(spool, "RUN_SIZE", run_size)  # rows: 4, 12, 4000 a run
            rows = merge_lines(((str(i), e, False) for i, e in enumerate(stream)), line,
                               with_raw=fmt != "ocsf")
            try:
                assert [row[3] for row in rows] == [line(e, False) for e in expected]
                assert (rows.duplicates, rows.collision_count, rows.events) == (
                    expected.duplicates, expected.collision_count, expected.events)
                assert rows.collision_labels() == expected.collision_labels()
            finally:
                rows.spool.close()
        expected.spool.close()
    assert expected.duplicates == len(events) + 1  # the reordered copy is one of them


def test_a_killed_runs_folder_is_removed_by_the_next_spill(tmp_path: Path) -> None:
    """A convert or pull killed mid-way leaves its runs behind: the next spool that
    spills removes this user's folders whose process is gone, and nothing else."""
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = tmp_path / f"rescind-spool-{gone}-abc123de"
    stale.mkdir(mode=0o700)
    (stale / "run00000.bin").write_bytes(b"evidence")
    running = tmp_path / f"rescind-spool-{os.getppid()}-def456gh"  # a live process's
    running.mkdir()
    unknown = tmp_path / "rescind-spool-k3j4h5"  # named before folders carried a pid
    unknown.mkdir()
    notes = tmp_path / f"rescind-spool-{gone}-my-notes"  # merely named like one
    notes.mkdir()
    (notes / "evidence.txt").write_text("the user's")
    holding = tmp_path / f"rescind-spool-{gone}-xyz789ab"  # a spool's name, the user's file
    holding.mkdir()
    (holding / "evidence.txt").write_text("the user's")
    (tmp_path / "rescind-spool-\u00b2-abcdefgh").mkdir()  # not ASCII digits: no crash
    event = Event(uid="e1", time=datetime(2026, 11, 20, tzinfo=UTC), source="cloudtrail",
                  cloud="aws", action="ListUsers")
    with spool.Spool(run_size=1, directory=tmp_path) as spooled:
        spooled.add(event)
        assert len(spooled.runs) == 1
        own = spooled.runs[0].parent
        assert own.name.startswith(f"rescind-spool-{os.getpid()}-")
        assert own.stat().st_mode & 0o777 == 0o700
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            [own.name, running.name, unknown.name, notes.name, holding.name,
             "rescind-spool-\u00b2-abcdefgh"])
    assert not own.exists()


def test_merging_past_max_runs_streams_and_merges_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MAX_RUNS runs the spool merges them into one file, streamed (never every item
    in memory), as often as the input needs: each merge gets a name of its own."""
    monkeypatch.setattr(spool, "MAX_RUNS", 3)
    start = datetime(2026, 11, 20, tzinfo=UTC)
    events = [Event(uid=f"e{i}", time=start + timedelta(seconds=(7 * i) % 40),
                    source="cloudtrail", cloud="aws", action="ListUsers") for i in range(40)]
    written: list[int] = []
    listed: list[int] = []  # sizes of the writes handed a whole list in memory
    write = spool.EVENTS.write

    def counting(fh: Any, items: Any) -> None:
        if isinstance(items, list):
            listed.append(len(items))
        counted = [0]

        def each() -> Any:
            for item in items:
                counted[0] += 1
                yield item
        write(fh, each())
        written.append(counted[0])

    codec = spool.Codec(spool.EVENTS.key, counting, spool.EVENTS.read)
    with spool.Spool(run_size=2, codec=codec) as spooled:
        for event in events:
            spooled.add(event)
        assert [e.uid for e in spooled] == [e.uid for e in sorted(events, key=spool.sort_key)]
        assert spooled.peak <= 2
    merges = [n for n in written if n > 2]
    assert len(merges) >= 2  # merged more than once, each under a name of its own
    assert max(listed) <= 2  # only runs came as lists: merges streamed


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_deeply_nested_or_odd_record_is_converted_not_a_traceback(
        tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    """pydantic_core refuses to write a record nested 300 deep or holding a lone
    surrogate, which the json module reads: both are converted, as before streaming.
    The raw and jsonl formats keep each record whole (raw stopped at the surrogate, which
    UTF-8 cannot hold, and jsonl at the depth: now its JSON escape, and the record as
    parsed)."""
    deep: Any = "bottom"
    for _ in range(300):
        deep = {"d": deep}
    base = {"eventSource": "s3.amazonaws.com", "eventName": "GetObject",
            "awsRegion": "us-east-1", "userIdentity": {"type": "IAMUser"}}
    source = tmp_path / "odd.jsonl"
    source.write_text(
        json.dumps({**base, "eventID": "deep", "eventTime": "2026-11-20T10:00:00Z",
                    "requestParameters": deep}) + "\n"
        + json.dumps({**base, "eventID": "surrogate", "eventTime": "2026-11-20T10:00:01Z",
                      "requestParameters": {"key": "\ud800"}}) + "\n")
    out = tmp_path / f"out.{fmt}"
    assert main(["timeline", "convert", str(source), "--format", fmt, "--out", str(out)]) == 0
    text = out.read_text()
    assert "2026-11-20T10:00:00" in text and "2026-11-20T10:00:01" in text, text[:300]
    assert "Traceback" not in capsys.readouterr().err
    if fmt in ("raw", "jsonl"):
        records = [json.loads(line) for line in source.read_text().splitlines()]
        written = [json.loads(line) for line in text.splitlines()]
        assert [w["raw"] if fmt == "jsonl" else w for w in written] == records


def test_records_that_differ_only_in_a_values_json_type_are_both_kept(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """true, 1 and 1.0 are equal to Python but not the same record: none is a copy."""
    base = {"eventID": "one-id", "eventTime": "2026-11-20T10:00:00Z",
            "eventSource": "s3.amazonaws.com", "eventName": "GetObject",
            "userIdentity": {"type": "IAMUser"}}
    source = tmp_path / "typed.jsonl"
    # Keys in another order each time, so no two lines are byte-equal copies.
    source.write_text("".join(json.dumps(dict(reversed(list({**base, "n": n}.items()))
                                              if i % 2 else {**base, "n": n})) + "\n"
                              for i, n in enumerate((True, 1, 1.0))))
    for fmt in ("csv", "timesketch", "jsonl"):
        out = tmp_path / f"out.{fmt}"
        assert main(["timeline", "convert", str(source), "--format", fmt,
                     "--out", str(out)]) == 0
        lines = out.read_text().splitlines()
        assert len(lines) - (fmt == "csv") == 3, (fmt, lines)


def test_a_run_block_counts_the_raw_records_too(tmp_path: Path) -> None:
    """Reading a run holds one block of it: a block is about ROW_BLOCK bytes of lines
    and raw records, not of lines alone (a CSV line is a fraction of its record)."""
    raw = b"x" * 4096
    rows = [(("t", "s", f"u{i}"), "a", raw, "short line") for i in range(200)]
    path = tmp_path / "run.bin"
    with path.open("wb") as fh:
        spool.ROWS.write(fh, rows)
    with path.open("rb") as fh:  # each block: its length, then its rows (marshal)
        blocks = []
        while length := fh.read(8):
            blocks.append(len(marshal.loads(fh.read(int.from_bytes(length, "little")))))
    assert sum(blocks) == 200
    assert max(blocks) <= spool.ROW_BLOCK // len(raw) + 1, blocks
