"""The ``[gcp]`` table of rescind's settings, validated.

Set in ``rescind.toml``, by ``RESCIND_GCP_<FIELD>``, or by ``--set gcp.FIELD=VALUE``.
Credentials come from what the responder already has: Application Default
Credentials (``gcloud auth application-default login``), a service-account key
file, or either of those impersonating a responder service account. Exercise mode
fills the endpoints from the simulated project.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from rescind.settings.types import CommaList

DEFAULT_WIDTH = 16
# Cloud Logging entries.list: 60 requests per minute per project (published quota).
LOG_REQUESTS_PER_MINUTE = 60


class GcpSettings(BaseModel):
    """Everything the Google Cloud provider reads."""

    model_config = ConfigDict(extra="forbid")
    projects: CommaList = Field(default_factory=list, description="Project ids rescind acts "
                                "in; the first is the default (else ADC's project)")
    key_file: str | None = Field(default=None, description="A service-account key file "
                                 "(default: Application Default Credentials)")
    impersonate: str | None = Field(default=None, description="Service account email to "
                                    "impersonate (needs roles/iam.serviceAccountTokenCreator)")
    break_glass: CommaList = Field(default_factory=list, description="Service accounts "
                                   "(emails) rescind must never disable or unbind")
    max_targets: int | None = Field(default=None, ge=1, description="Allow this many targets "
                                    "in one step (default limit 20)")
    concurrency: int = Field(default=DEFAULT_WIDTH, ge=1, le=256,
                             description="Calls at once for many-target steps")
    log_requests_per_minute: int = Field(default=LOG_REQUESTS_PER_MINUTE, ge=1,
                                         description="entries.list requests per minute per "
                                                     "project (the published quota is 60)")
    bigquery_dataset: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9:._-]*\.[A-Za-z0-9_]+$",
        description="PROJECT.DATASET a log sink writes the audit logs to, for timeline "
                    "pulls with via: bigquery (queries are billed to the first project)")
    # Only the simulated project sets these: real calls go to Google's endpoints.
    iam_endpoint: str | None = Field(default=None, description="Simulated project only: "
                                     "host:port of the IAM gRPC fake (plaintext)")
    rest_endpoint: str | None = Field(default=None, description="Simulated project only: "
                                      "http://host:port of the REST fakes")
    principal: str | None = Field(default=None, description="Simulated project only: who "
                                  "the anonymous credentials stand for")
