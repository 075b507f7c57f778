"""The ``[notify]`` table: recipients, routes by severity, account owners, channels.

Secrets never live here: a recipient names its secret (``secret = "slack-sec"``)
and rescind reads the value from the OS keyring or the environment
(``rescind.notify.secrets``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from rescind.settings.types import CommaList

Channel = Literal["slack", "teams", "pagerduty", "email", "jira", "webhook"]
CHANNELS: tuple[str, ...] = ("slack", "teams", "pagerduty", "email", "jira", "webhook")
Severity = Literal["low", "medium", "high", "critical"]
SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
SecretName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Recipient(_Strict):
    """One place a message can go: a channel and its target."""

    channel: Channel = Field(description="slack, teams, pagerduty, email, jira or webhook")
    to: str = Field(default="", description="Slack channel (Web API), email address(es), Jira "
                    "project key, or webhook URL; unused by Teams, PagerDuty and Slack webhooks")
    secret: SecretName | None = Field(
        default=None, description="Name of the secret in the keyring or environment: Slack "
        "webhook URL or bot token, Teams workflow URL, PagerDuty routing key, webhook HMAC key")


class Route(_Strict):
    """Who a role means at each severity; a severity not listed takes the next one below."""

    critical: CommaList | None = Field(default=None, description="Recipients at critical")
    high: CommaList | None = Field(default=None, description="Recipients at high")
    medium: CommaList | None = Field(default=None, description="Recipients at medium")
    low: CommaList | None = Field(default=None, description="Recipients at low")


class Account(BaseModel):
    """An account's metadata (CSPF 4.1): who owns it and how to escalate."""

    model_config = ConfigDict(extra="ignore")  # the JSON files carry more than rescind reads
    name: str = ""
    contact: str = Field(default="", description="Owner: an email address or a recipient name")
    team: str = ""
    escalation: str = Field(default="", description="Escalation: a recipient name (paged at "
                            "high and critical) or a link quoted in the message")
    description: str = ""


class EmailSettings(_Strict):
    host: str | None = Field(default=None, description="SMTP server")
    port: int | None = Field(default=None, ge=1, le=65535,
                             description="Default 587 with starttls, 465 with tls")
    security: Literal["starttls", "tls"] = Field(
        default="starttls", description="starttls (upgrade on 587) or tls (implicit, 465)")
    sender: str = Field(default="rescind@localhost", description="From: address")
    username: str | None = Field(default=None, description="SMTP login, if the server wants one")
    password_secret: SecretName | None = Field(default=None,
                                               description="Name of the SMTP password secret")
    ca_file: str | None = Field(default=None, description="CA bundle to trust instead of "
                                "the system's (a private relay)")


class SlackSettings(_Strict):
    api_url: str = Field(default="https://slack.com/api", description="Web API base")


class PagerDutySettings(_Strict):
    events_url: str = Field(default="https://events.pagerduty.com/v2/enqueue",
                            description="Events API v2 endpoint")


class JiraSettings(_Strict):
    url: str | None = Field(default=None, description="Jira base URL, https://example.atlassian.net")
    user: str | None = Field(default=None, description="Account email for the API token")
    token_secret: SecretName | None = Field(default=None,
                                            description="Name of the Jira API token secret")
    issue_type: str = Field(default="Task", description="Issue type of the incident ticket")
    phase_comments: bool = Field(default=True, description="Comment on the incident's ticket "
                                 "at the end of every phase")
    attach_sealed_report: bool = Field(default=True, description="Attach the sealed report.md "
                                       "to the incident's ticket at close")


class WebhookSettings(_Strict):
    signature_header: str = Field(default="X-Rescind-Signature",
                                  description="Header holding sha256=HMAC")
    timestamp_header: str = Field(default="X-Rescind-Timestamp",
                                  description="Header holding the signed Unix time")


class ScenarioRouting(_Strict):
    """An exercise scenario's ``notify:`` block: recipients for a tabletop."""

    recipients: dict[str, Recipient] = Field(default_factory=dict)
    routes: dict[str, Route] = Field(default_factory=dict)
    accounts: dict[str, Account] = Field(default_factory=dict)


class NotifySettings(_Strict):
    """Everything the notify provider reads."""

    recipients: dict[str, Recipient] = Field(default_factory=dict,
                                             description="Named recipients")
    routes: dict[str, Route] = Field(default_factory=dict,
                                     description="Per role, recipients by severity")
    accounts: dict[str, Account] = Field(
        default_factory=dict, description="Per AWS account, Azure subscription or GCP project")
    accounts_file: CommaList = Field(
        default_factory=list, description="JSON files (or folders of them) of account "
        "metadata, one object per account with accountid (or id)")
    approval_requests: CommaList = Field(
        default_factory=list, description="Roles or recipients told when a plan needs a "
        "second approver: its summary, hash and the `rescind approve` command")
    retries: int = Field(default=4, ge=0, le=10, description="Retries on 429 and 5xx")
    backoff: float = Field(default=1.0, ge=0, le=60, description="First retry delay, seconds")
    timeout: float = Field(default=15.0, gt=0, le=300, description="Seconds per request")
    email: EmailSettings = Field(default_factory=EmailSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    pagerduty: PagerDutySettings = Field(default_factory=PagerDutySettings)
    jira: JiraSettings = Field(default_factory=JiraSettings)
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    # Set by exercise mode only: deliver to the capture sink instead of the services,
    # and route with the scenario's tabletop recipients where yours name none.
    capture: bool = Field(default=False, description="Exercise only: capture, never send")
    scenario: ScenarioRouting | None = Field(default=None, description="Exercise only")
