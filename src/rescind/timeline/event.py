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
