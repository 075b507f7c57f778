"""A query engine's pages (Athena, CloudTrail Lake, BigQuery) into the spool: nothing
dropped silently, nothing merged that differs, raw pages kept as evidence."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from rescind.timeline.cloudtrail import MalformedRecord, from_record
from rescind.timeline.pull import PullProgress
from rescind.timeline.query_pages import spool_pages
from tests.timeline.conftest import CANARIES


def test_pages_keep_differing_copies_drop_identical_ones_and_count_the_rest(
        records: list[dict[str, Any]], tmp_path: Path) -> None:
    first = records[0]
    altered = copy.deepcopy(first)  # same eventID, another source address: both kept
    altered["sourceIPAddress"] = "198.51.100.77"
    pages = [[first, altered], [copy.deepcopy(first), {"eventName": "NoTime"}], records[1:3]]
    seen: list[PullProgress] = []
    evidence = tmp_path / "evidence" / "athena-q.jsonl"
    result = spool_pages(iter(pages), from_record, (MalformedRecord,), evidence=evidence,
                         shape="Records", done=["us-east-1"], lookup=("AccessKeyId", "AKIA"),
                         progress=seen.append)
    try:
        events = list(result.events)
        same_id = [e for e in events if e.uid == from_record(first).uid]
        assert len(same_id) == 2, "two records with one id that differ are both kept"
        assert result.duplicates == 1  # the identical copy
        assert result.malformed == 1  # the record that cannot be placed in time
        assert result.notes == ["1 shared ids: records with one id but different content, "
                                "all kept"]  # what the step's details and the CLI show
        assert len(events) == 2 + len(records[1:3])
        assert [e.time for e in events] == sorted(e.time for e in events)
        assert result.pages == 3 and [p.pages for p in seen] == [1, 2, 3]
        assert result.lookups == [("AccessKeyId", "AKIA")]
        lines = evidence.read_text().splitlines()
        assert [len(json.loads(line)["Records"]) for line in lines] == [2, 2, 2]
        assert not any(c in evidence.read_text() for c in CANARIES)
    finally:
        result.close()


def test_waiting_for_a_query_backs_off_and_names_how_it_ended() -> None:
    """Athena's and CloudTrail Lake's one poll loop: delays double up to 2 s, a failed
    query raises with the engine's reason (retryable as the engine's state says), and a
    query still running after QUERY_GIVE_UP_S of polling is given up, never waited on
    for ever. The sleeps are recorded, not slept."""
    import pytest

    from rescind.errors import ActionError
    from rescind.timeline.query_pages import QUERY_GIVE_UP_S, wait_for_query

    def engine(states: list[str]) -> Any:
        said = iter(states)

        def check() -> tuple[str, dict[str, Any]]:
            state = next(said, states[-1])
            return state, {"State": state, "Why": f"because {state}", "Bytes": 7}
        return check

    slept: list[float] = []
    common: dict[str, Any] = {"name": "Athena query q-1", "done": "SUCCEEDED",
                              "failed": {"FAILED": False, "TIMED_OUT": True}, "reason": "Why",
                              "fix": "look again", "sleep": slept.append}
    said = wait_for_query(engine(["QUEUED"] + ["RUNNING"] * 6 + ["SUCCEEDED"]), **common)
    assert said["Bytes"] == 7
    assert slept == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    for state, retryable in (("FAILED", False), ("TIMED_OUT", True)):
        with pytest.raises(ActionError) as failed:
            wait_for_query(engine(["RUNNING", state]), **common)
        assert str(failed.value).startswith(f"the Athena query q-1 {state.lower()}: "
                                            f"because {state}")
        assert failed.value.retryable is retryable and failed.value.fix == "look again"
    slept.clear()
    with pytest.raises(ActionError, match=r"the Athena query q-1 ran for 18\d\d s"):
        wait_for_query(engine(["RUNNING"]), **common)
    assert QUERY_GIVE_UP_S <= sum(slept) < QUERY_GIVE_UP_S + 2.0
