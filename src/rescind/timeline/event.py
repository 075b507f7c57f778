"""The normalized timeline event every source produces (docs/architecture.md, "Timeline")."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Result = Literal["success", "failure", "unknown"]
Cloud = Literal["aws", "azure", "gcp", "vault", "local"]


class Event(BaseModel):
    """One thing a credential (or rescind itself) did.

    ``source`` names the log: cloudtrail, graph.audit, graph.signin, azure.activity,
    gcp.audit, or rescind for the tool's own actions. ``raw`` keeps the record in
    its API's own shape for the raw export and the detail pane.
    """

    model_config = ConfigDict(extra="forbid")

    uid: str
    time: datetime
    source: str
    cloud: Cloud
    action: str
    service: str = ""
    actor: str = ""
    actor_type: str = ""
    credential: str | None = None
    target: str = ""
    source_ip: str = ""
    user_agent: str = ""
    result: Result = "unknown"
    error: str | None = None
    region: str = ""
    account: str = ""
    description: str = ""
    relevant: bool = False
    raw: dict[str, Any] | None = Field(default=None, repr=False)


FIELDS: tuple[str, ...] = tuple(Event.model_fields)
_FIELD_SET = set(FIELDS)  # copied for each event: twice as fast as building the set


def built(values: dict[str, Any]) -> Event:
    """An Event from ``values`` for every field, each already of its field's type
    (a normaliser's str()-ed fields, the spool's own rows), without validation.

    What pydantic's ``model_construct`` does, without its per-field alias search:
    that search cost more than the rest of building an event, a million times over.
    """
    event = Event.__new__(Event)
    setattr_ = object.__setattr__
    if tuple(values) != FIELDS:  # the fields' order is model_dump's order
        values = {name: values[name] for name in FIELDS}
    setattr_(event, "__dict__", values)
    setattr_(event, "__pydantic_fields_set__", _FIELD_SET.copy())
    setattr_(event, "__pydantic_extra__", None)
    setattr_(event, "__pydantic_private__", None)
    return event
