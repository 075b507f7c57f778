from __future__ import annotations

import hashlib
import json
import re
import stat
import subprocess
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rescind.record.journal import (
    ZERO_HASH,
    Journal,
    JournalCorrupt,
    TornJournal,
    _dumps,
    read_entries,
)
from rescind.record.report import CHAIN_CHECK


def run_chain_loop(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", CHAIN_CHECK], cwd=folder, capture_output=True,
                          text=True, check=False)


def test_create_makes_private_file_and_folder(tmp_path: Path) -> None:
    path = tmp_path / "incident" / "journal.jsonl"
    with Journal.create(path) as j:
        assert j.head == ZERO_HASH and j.next_seq == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    with pytest.raises(Exception, match="already exists"):
        Journal.create(path)


def test_lines_are_chained_compact_json_in_key_order(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    with Journal.create(path) as j:
        e0 = j.append("incident.open", {"incident": "IR-1", "note": "café ☕"})
        e1 = j.append("note", {"step": "s", "text": "a\nb \"quoted\""})
        e2 = j.append("incident.close", {"status": "closed"})
        assert j.head == e2.sha256 and j.next_seq == 3
    raw = path.read_bytes()
    lines = raw.splitlines(keepends=True)
    assert lines == [e0.line, e1.line, e2.line]
    prev = ZERO_HASH
    for n, line in enumerate(lines):
        assert line.startswith(b'{"prev":"' + prev.encode() + b'","seq":')
        obj = json.loads(line)
        assert list(obj) == ["prev", "seq", "time", "kind", "data"]
        assert obj["seq"] == n
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|\+00:00)", obj["time"])
        assert line == (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        prev = hashlib.sha256(line).hexdigest()
    assert "café ☕".encode() in lines[0]  # UTF-8 as is, not \u escapes
    assert e2.sha256 == prev
    assert [e.data for e in read_entries(path)] == [e0.data, e1.data, e2.data]


def test_entry_data_is_a_copy_of_what_was_stored(tmp_path: Path) -> None:
    with Journal.create(tmp_path / "journal.jsonl") as j:
        data: dict[str, object] = {"list": [1, 2]}
        entry = j.append("note", data)
        data["list"] = "changed"
        assert entry.data == {"list": [1, 2]}
        assert j.entries()[0].data == {"list": [1, 2]}


def test_unserialisable_data_leaves_journal_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    with Journal.create(path) as j:
        j.append("note", {"a": 1})
        head = j.head
        with pytest.raises(ValueError):
            j.append("note", {"x": float("nan")})
        with pytest.raises(TypeError):
            j.append("note", {"x": object()})
        with pytest.raises(ValueError):
            j.append("", {})
        assert j.head == head and j.next_seq == 1
        j.append("note", {"b": 2})
    assert [e.seq for e in read_entries(path)] == [0, 1]


def test_reopen_continues_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    with Journal.create(path) as j:
        for i in range(5):
            j.append("note", {"i": i})
        head = j.head
    with Journal.open(path) as j:
        assert j.head == head and j.next_seq == 5
        j.append("incident.resume", {})
    entries = list(read_entries(path))
    assert [e.seq for e in entries] == list(range(6))
    assert entries[5].line[9:73].decode() == head
    assert run_chain_loop(tmp_path).stdout.startswith("OK lines=6")


def test_torn_last_line_is_refused_then_repaired(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    with Journal.create(path) as j:
        j.append("note", {"i": 0})
        j.append("action.intent", {"step": "x"})
    torn = b'{"prev":"' + b"ab" * 20
    with path.open("ab") as f:
        f.write(torn)
    with pytest.raises(TornJournal) as info:
        Journal.open(path)
    assert info.value.exit_code == 2
    assert path.read_bytes().endswith(torn)  # refusing changes nothing
    shell = run_chain_loop(tmp_path)
    assert shell.returncode == 2 and "torn last line 3" in shell.stdout
    with Journal.open(path, repair_torn=True) as j:
        assert j.next_seq == 3
    entries = list(read_entries(path))
    assert entries[-1].kind == "journal.torn"
    assert entries[-1].data == {"dropped_bytes": len(torn),
                                "dropped_sha256": hashlib.sha256(torn).hexdigest()}
    assert run_chain_loop(tmp_path).stdout.startswith("OK lines=3")


def test_file_that_is_all_torn_repairs_to_a_new_chain(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_bytes(b'{"prev":"00')
    with Journal.open(path, repair_torn=True) as j:
        assert j.next_seq == 1
    (entry,) = read_entries(path)
    assert entry.seq == 0 and entry.kind == "journal.torn"
    assert entry.line.startswith(b'{"prev":"' + ZERO_HASH.encode())


def test_open_refuses_a_broken_chain(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    with Journal.create(path) as j:
        for i in range(3):
            j.append("note", {"i": i})
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + lines[2])
    with pytest.raises(JournalCorrupt, match="seq 1: seq is 2, expected 1"):
        Journal.open(path)
    path.write_bytes(lines[0] + lines[1].replace(b'"i":1', b'"i":7') + lines[2])
    with pytest.raises(JournalCorrupt, match="seq 2: prev does not match"):
        Journal.open(path)


def test_concurrent_appends_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    j = Journal.create(path)

    def worker(t: int) -> None:
        for i in range(50):
            j.append("note", {"thread": t, "i": i})

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    j.close()
    entries = list(read_entries(path))  # checks every link
    assert [e.seq for e in entries] == list(range(300))
    per_thread = sorted((e.data["thread"], e.data["i"]) for e in entries)
    assert per_thread == [(t, i) for t in range(6) for i in range(50)]


def test_append_many_is_one_chained_write(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    with Journal.create(path) as j:
        j.append("note", {"first": True})
        batch = j.append_many([("action.intent", {"target": f"t{i}"}) for i in range(4)])
        assert [e.seq for e in batch] == [1, 2, 3, 4]
        assert j.head == batch[-1].sha256
    assert [e.line for e in read_entries(path)][1:] == [e.line for e in batch]


def test_bytes_through_returns_exact_prefix(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    with Journal.create(path) as j:
        for i in range(4):
            j.append("note", {"i": i})
        lines = path.read_bytes().splitlines(keepends=True)
        assert j.bytes_through(0) == lines[0]
        assert j.bytes_through(2) == b"".join(lines[:3])
        with pytest.raises(ValueError):
            j.bytes_through(4)


def test_read_entries_reports_torn_tail_after_complete_lines(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    with Journal.create(path) as j:
        j.append("note", {})
    with path.open("ab") as f:
        f.write(b"{")
    seen = []
    with pytest.raises(TornJournal):
        for e in read_entries(path):
            seen.append(e.seq)
    assert seen == [0]
    assert [e.seq for e in read_entries(path, allow_torn=True)] == [0]


def test_allow_torn_still_refuses_a_broken_chain(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    with Journal.create(path) as j:
        j.append("note", {})
        j.append("note", {})
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[1] + b"{")
    with pytest.raises(JournalCorrupt):
        list(read_entries(path, allow_torn=True))


def test_chain_check_is_the_one_record_format_documents() -> None:
    spec = Path(__file__).resolve().parents[3] / "shared" / "record-format.md"
    if not spec.is_file():
        pytest.skip("shared/record-format.md is not beside the repository")
    block = spec.read_text().split("The chain itself, in plain shell")[1]
    assert block.split("```sh\n")[1].split("```")[0].strip() == CHAIN_CHECK


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20)


@given(st.dictionaries(st.text(max_size=10), json_values, max_size=6))
@settings(max_examples=200, deadline=None)
def test_line_encoding_is_exactly_json_dumps(data: dict[str, object]) -> None:
    # The journal's fast encoder must write what json.dumps would, byte for byte.
    expected = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    assert _dumps(data) == expected


def test_cyclic_data_is_refused(tmp_path: Path) -> None:
    data: dict[str, object] = {}
    data["self"] = data
    with Journal.create(tmp_path / "journal.jsonl") as j:
        with pytest.raises(ValueError):
            j.append("note", data)
        assert j.append("note", {"ok": True}).seq == 0
