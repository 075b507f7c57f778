"""One timeline from many sources: merged, de-duplicated, in time order.

rescind's own actions join the timeline as events too, built from the journal's
``action.outcome`` entries, so the record shows what the attacker did and what the
responder did about it on one line of time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rescind.redaction import redact
from rescind.timeline.event import Cloud, Event, Result

RESCIND_SOURCE = "rescind"
# Actions that only read: on the timeline, but not flagged for attention.
READ_ONLY_ACTIONS = frozenset({"aws.iam.describe_principal", "aws.iam.find_persistence",
                               "timeline.pull"})
_CLOUDS: dict[str, Cloud] = {"aws": "aws", "azure": "azure", "entra": "azure", "gcp": "gcp"}


@dataclass
class Merged:
    """A merged timeline, with how many copies were dropped and which events share
    an id but not their content (both kept)."""

    events: list[Event]
    duplicates: int = 0
    collisions: list[tuple[Event, Event]] = field(default_factory=list)


def merge(sources: Iterable[Iterable[Event]]) -> list[Event]:
    """All events of all sources, oldest first (see ``merge_counted``)."""
    return merge_counted(sources).events


def merge_counted(sources: Iterable[Iterable[Event]]) -> Merged:
    """All events of all sources, oldest first, each identical event once.

    Two events are the same when they share (source, uid) and their raw records are
    equal, or one has none (a pull and a converted S3 file of one call): the copy
    that carries its raw record wins, and a relevance flag on either is kept. Events
    that share an id but differ are both kept and listed in ``collisions``: a SIEM
    export may reuse ids, and evidence is never dropped on an id alone.
    """
    chosen: dict[tuple[str, str], list[Event]] = {}
    merged = Merged([])
    for source in sources:
        for event in source:
            same_id = chosen.setdefault((event.source, event.uid), [])
            for i, kept in enumerate(same_id):
                if kept.raw is not None and event.raw is not None and kept.raw != event.raw:
                    continue
                merged.duplicates += 1
                if kept.raw is None and event.raw is not None:
                    same_id[i] = event.model_copy(update={"relevant": kept.relevant
                                                          or event.relevant})
                elif event.relevant and not kept.relevant:
                    same_id[i] = kept.model_copy(update={"relevant": True})
                break
            else:
                if same_id:
                    merged.collisions.append((same_id[0], event))
                same_id.append(event)
    merged.events = sorted((e for same_id in chosen.values() for e in same_id),
                           key=lambda e: (e.time, e.source, e.uid))
    return merged


def _cloud_of(action: str) -> Cloud:
    return _CLOUDS.get(action.split(".", 1)[0], "local")


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return []


def event_from_journal(entry_data: Mapping[str, Any]) -> Event | None:
    """An ``action.outcome`` journal entry's data (plus its ``time``) → Event, else None.

    Reads keys step, plan_hash, action, targets, ok, outputs, details, error and
    time (the journal entry's time); optional ``by`` names who acted.
    """
    step = entry_data.get("step")
    action = entry_data.get("action")
    when = _time(entry_data.get("time"))
    if not isinstance(step, str) or not isinstance(action, str) or when is None:
        return None
    plan_hash = str(entry_data.get("plan_hash") or "")
    targets = _names(entry_data.get("targets"))
    ok = entry_data.get("ok")
    result: Result = "success" if ok is True else "failure" if ok is False else "unknown"
    error = entry_data.get("error")
    details = entry_data.get("details")
    detail_text = "; ".join(_names(details)) if isinstance(details, list) else (
        str(details) if details else "")
    by = entry_data.get("by")
    actor = by.get("name", "") if isinstance(by, Mapping) else str(by or "")
    text = f"rescind {action}" + (f" on {', '.join(targets)}" if targets else "")
    text += f" (step {step}): " + ("done" if ok else "failed" if ok is False else "outcome unknown")
    if detail_text:
        text += f" — {detail_text}"
    if error:
        text += f" — {error}"
    outputs = entry_data.get("outputs")
    region = str(outputs.get("region", "")) if isinstance(outputs, Mapping) else ""
    return Event(
        uid=f"rescind:{step}:{plan_hash[:16] or when.isoformat()}",
        time=when, source=RESCIND_SOURCE, cloud=_cloud_of(action), action=action,
        service="rescind", actor=actor or "rescind", actor_type="Responder",
        target=", ".join(targets), result=result,
        error=str(error) if error else None, region=region, description=text,
        relevant=action not in READ_ONLY_ACTIONS,
        raw=redact(dict(entry_data)))
