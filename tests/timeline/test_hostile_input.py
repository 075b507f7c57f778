"""Timeline convert never loses a file and never drops evidence silently: deep
nesting, impossible times, memory exhaustion and gzip bombs become counted, skipped
records with their file and position; SIEM exports without eventTime or eventID are
kept; only identical records are de-duplicated."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rescind.cli import main
from rescind.timeline import convert as convert_module
from rescind.timeline.cloudtrail import SYNTHETIC_ID_PREFIX, from_record
from rescind.timeline.convert import convert_files
from rescind.timeline.export import export
from rescind.timeline.limits import Limits
from rescind.timeline.merge import merge_counted

DEEP = "[" * 100_000 + "]" * 100_000


def _where(result: Any) -> list[tuple[str, str, str]]:
    return [(Path(m.file).name, m.position, m.reason) for m in result.malformed]


def test_a_deeply_nested_document_is_one_skipped_record(
        tmp_path: Path, records: list[dict[str, Any]]) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text(DEEP)
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"Records": records[:3]}))
    result = convert_files([deep, good])
    assert _where(result) == [("deep.json", "document", "nested too deeply to read")]
    assert len(result.events) == 3 and result.records == 4


def test_one_deep_line_among_good_ones(tmp_path: Path, records: list[dict[str, Any]]) -> None:
    lines = tmp_path / "mixed.jsonl"
    lines.write_text(f"{json.dumps(records[0])}\n{DEEP}\n{json.dumps(records[1])}\n")
    result = convert_files([lines])
    assert _where(result) == [("mixed.jsonl", "line 2", "nested too deeply to read")]
    assert [e.uid for e in result.events] == [records[0]["eventID"], records[1]["eventID"]]


def test_a_deep_record_that_parses_is_exported_or_skipped_never_a_crash(
        tmp_path: Path, records: list[dict[str, Any]]) -> None:
    nested: Any = "x"
    for _ in range(400):
        nested = {"a": [nested]}
    path = tmp_path / "s3.json"
    path.write_text(json.dumps({"Records": [records[0] | {"requestParameters": nested},
                                            records[1]]}))
    result = convert_files([path])
    assert len(result.events) + len(result.malformed) == 2
    for fmt in ("ocsf", "timesketch", "raw", "jsonl", "csv"):
        assert export(result.events, tmp_path / f"t.{fmt}", fmt) == len(result.events)


@pytest.mark.parametrize("when", ["1e400", "99999999999999999999", '"1e400"', "-1e400"])
def test_an_impossible_numeric_time_is_one_skipped_record(
        tmp_path: Path, records: list[dict[str, Any]], when: str) -> None:
    bad = json.dumps(records[0]).replace(json.dumps(records[0]["eventTime"]), when)
    path = tmp_path / "times.jsonl"
    path.write_text(f"{bad}\n{json.dumps(records[1])}\n")
    result = convert_files([path])
    assert [(p, r.split(" is ")[-1]) for _, p, r in _where(result)] == [
        ("line 1", "out of range")]
    assert len(result.events) == 1


def test_memory_exhaustion_loses_one_record_or_one_file(
        tmp_path: Path, records: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"Records": records[:3]}))
    huge = tmp_path / "huge.json"
    huge.write_text(json.dumps({"Records": records[3:5]}))
    real_from_record, real_chunks = convert_module.from_record, convert_module._chunks

    def from_record(record: Any, **how: Any) -> Any:
        if record["eventID"] == records[1]["eventID"]:
            raise MemoryError
        if record["eventID"] == records[2]["eventID"]:
            raise RecursionError
        return real_from_record(record, **how)

    def chunks(path: Path, limits: Limits, problem: list[str]) -> Iterator[bytes]:
        if path == huge:
            raise MemoryError
        return real_chunks(path, limits, problem)  # type: ignore[no-any-return]

    monkeypatch.setattr(convert_module, "from_record", from_record)
    monkeypatch.setattr(convert_module, "_chunks", chunks)
    result = convert_files([good, huge])
    assert _where(result) == [("good.json", "Records[1]", "too large to hold in memory"),
                              ("good.json", "Records[2]", "nested too deeply to read"),
                              ("huge.json", "file", "too large to hold in memory")]
    assert [e.uid for e in result.events] == [records[0]["eventID"]]


def _bomb(path: Path, records: list[dict[str, Any]], padding: int) -> Path:
    """Records, then ``padding`` bytes of whitespace: valid JSONL that compresses ~1000:1."""
    text = "\n".join(json.dumps(r) for r in records) + "\n" + " " * padding + "\n"
    path.write_bytes(gzip.compress(text.encode(), compresslevel=9))
    return path


def test_a_gzip_bomb_is_stopped_at_the_ratio_and_what_came_first_is_kept(
        tmp_path: Path, records: list[dict[str, Any]]) -> None:
    bomb = _bomb(tmp_path / "bomb.json.gz", records[:2], 64 * 2**20)
    result = convert_files([bomb])
    assert _where(result) == [("bomb.json.gz", "file", "gzip expands to more than 200 times its "
                               "size; the rest is skipped (raise --max-expanded-mb or "
                               "--max-ratio if you trust the file)")]
    assert len(result.events) == 2
    # A size cap below the ratio's, and a user who raised both.
    assert _where(convert_files([bomb], Limits(max_expanded=2**20)))[0][2].startswith(
        "gzip expands to more than 1 MB;")
    trusted = convert_files([bomb], Limits(max_expanded=2**30, max_ratio=100_000))
    assert trusted.malformed == [] and len(trusted.events) == 2


def test_the_gzip_caps_are_flags(tmp_path: Path, records: list[dict[str, Any]],
                                 capsys: pytest.CaptureFixture[str]) -> None:
    bomb = _bomb(tmp_path / "bomb.json.gz", records[:2], 20 * 2**20)
    out = tmp_path / "t.jsonl"
    assert main(["timeline", "convert", str(bomb), "--out", str(out), "--format", "jsonl"]) == 0
    assert "1 unreadable" in capsys.readouterr().err
    assert main(["timeline", "convert", str(bomb), "--out", str(out), "--format", "jsonl",
                 "--max-ratio", "100000"]) == 0
    assert "0 unreadable" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["timeline", "convert", str(bomb), "--out", str(out), "--max-ratio", "0"])


def test_a_damaged_gzip_keeps_what_precedes_the_damage(
        tmp_path: Path, records: list[dict[str, Any]]) -> None:
    data = gzip.compress("".join(json.dumps(r) + "\n" for r in records).encode())
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(data[: len(data) * 2 // 3])
    result = convert_files([cut])
    assert result.events and len(result.events) < len(records)
    assert [(p, r.split(" after ")[0]) for _, p, r in _where(result)
            if p == "file"] == [("file", "gzip ends early")]
    # Several gzip members (concatenated files) are all read.
    two = tmp_path / "two.json.gz"
    two.write_bytes(gzip.compress(json.dumps(records[0]).encode() + b"\n")
                    + gzip.compress(json.dumps(records[1]).encode() + b"\n"))
    both = convert_files([two])
    assert both.malformed == [] and len(both.events) == 2


def test_elastic_exports_without_event_time_are_placed_by_timestamp(
        tmp_path: Path, records: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]) -> None:
    exported = []
    for record in records[:3]:
        copy = dict(record)
        copy["@timestamp"] = copy.pop("eventTime")
        exported.append(copy)
    path = tmp_path / "elastic.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in exported))
    result = convert_files([path])
    assert result.malformed == [] and len(result.events) == 3
    assert result.placed_by == {"@timestamp": 3}
    assert [e.time for e in result.events] == [from_record(r).time for r in records[:3]]
    assert main(["timeline", "convert", str(path), "--out", str(tmp_path / "t.csv")]) == 0
    assert "3 records have no eventTime: placed in time by @timestamp" in capsys.readouterr().err


def test_records_without_event_id_get_a_stable_id_from_their_content(
        tmp_path: Path, records: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]) -> None:
    bare = [{k: v for k, v in r.items() if k != "eventID"} for r in records[:3]]
    first = tmp_path / "a.jsonl"
    first.write_text("".join(json.dumps(r) + "\n" for r in bare))
    # The same records again, keys in another order and spaced differently.
    second = tmp_path / "b.json"
    second.write_text(json.dumps({"Records": [dict(reversed(r.items())) for r in bare]},
                                 indent=2))
    result = convert_files([first, second])
    assert result.malformed == [] and result.synthetic_ids == 6
    uids = [e.uid for e in result.events]
    assert all(u.startswith(SYNTHETIC_ID_PREFIX) for u in uids)
    assert uids[:3] == uids[3:] and len(set(uids)) == 3
    merged = merge_counted([result.events])
    assert len(merged.events) == 3 and merged.duplicates == 3 and merged.collisions == []
    assert main(["timeline", "convert", str(first), "--out", str(tmp_path / "t.csv")]) == 0
    assert "3 records have no eventID: given an id made from their content" in \
        capsys.readouterr().err


def test_a_shared_event_id_with_different_content_keeps_both(
        tmp_path: Path, records: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]) -> None:
    clash = records[1] | {"eventID": records[0]["eventID"]}
    path = tmp_path / "clash.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in (records[0], clash, records[0])))
    result = convert_files([path])
    merged = merge_counted([result.events])
    assert len(merged.events) == 2 and merged.duplicates == 1
    assert [(a.action, b.action) for a, b in merged.collisions] == [
        (records[0]["eventName"], records[1]["eventName"])]
    out = tmp_path / "t.jsonl"
    assert main(["timeline", "convert", str(path), "--out", str(out), "--format", "jsonl"]) == 0
    err = capsys.readouterr().err
    assert f"kept both: {records[0]['eventID']} names two different records" in err
    assert "identical copies dropped: 1" in err
    assert len(out.read_text().splitlines()) == 2
