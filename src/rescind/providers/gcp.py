"""Google Cloud: credentials the responder already has, three clients, one dry-run guard.

- IAM admin through google-cloud-iam's ``IAMClient`` over gRPC (the library has no
  REST transport); the channel is wrapped by the guard's interceptor.
- Project IAM policies through google-cloud-resource-manager's ``ProjectsClient``
  (REST, with the guard as its ``ProjectsRestInterceptor``).
- Cloud Logging ``entries:list``, BigQuery queries over a log sink's dataset and the
  IAM REST endpoints the libraries lack (workload identity pool providers) through
  one requests session wrapped by the guard (``RestGate``).

The SDKs are imported inside methods, so ``import rescind.providers.gcp`` stays
cheap. Blocking calls run on the provider's own thread pool. Against the simulated
project (``iam_endpoint``/``rest_endpoint`` set) the credentials are anonymous and
nothing ever reaches Google. The calls made through these clients (retries, error
translation, replies as dicts, IAM policies) are in ``gcp_calls``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from rescind.errors import ActionError, ErrorKind, UsageError
from rescind.modes import Mode
from rescind.providers import registry as providers
from rescind.providers.base import BlockedCall, CheckLimits, ProviderBase, Sandbox
from rescind.providers.gcp_calls import MAX_ATTEMPTS, GcpCalls
from rescind.providers.gcp_errors import translate_error
from rescind.providers.gcp_guard import (
    DryRunGuard,
    RestGate,
    Switch,
    grpc_gate,
    projects_interceptor,
)
from rescind.providers.gcp_guardrails import CallerIdentity, check_targets
from rescind.providers.gcp_settings import DEFAULT_WIDTH, LOG_REQUESTS_PER_MINUTE, GcpSettings

__all__ = ["GcpProvider", "translate_error"]

T = TypeVar("T")
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
IAM_HOST = "iam.googleapis.com"
IAM_REST = "https://iam.googleapis.com"
RESOURCE_MANAGER_HOST = "cloudresourcemanager.googleapis.com"
LOGGING_REST = "https://logging.googleapis.com"
TOKENINFO = "https://oauth2.googleapis.com/tokeninfo"


@providers.register("gcp")
class GcpProvider(GcpCalls, ProviderBase):
    """The Google Cloud provider: credentials, clients, the dry-run guard, the guardrails."""

    Settings = GcpSettings

    def __init__(self, *, projects: Iterable[str] = (), key_file: str | None = None,
                 impersonate: str | None = None, break_glass: Iterable[str] = (),
                 width: int = DEFAULT_WIDTH, iam_endpoint: str | None = None,
                 rest_endpoint: str | None = None, principal: str | None = None,
                 log_requests_per_minute: int = LOG_REQUESTS_PER_MINUTE,
                 max_attempts: int = MAX_ATTEMPTS, backoff_s: float = 0.5,
                 bigquery_dataset: str | None = None) -> None:
        self.projects = [str(p) for p in projects]
        self.key_file = key_file
        self.impersonate = impersonate
        self.break_glass = [str(b) for b in break_glass]
        self.width = width
        self.iam_endpoint = iam_endpoint
        self.rest_endpoint = rest_endpoint.rstrip("/") if rest_endpoint else None
        self.principal = principal
        self.log_requests_per_minute = log_requests_per_minute
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.call_timeout_s = 60.0
        self.bigquery_dataset = bigquery_dataset
        self._limits: CheckLimits | None = None
        self._switch = Switch()
        self._lock = threading.RLock()
        self._credentials: Any = None
        self._adc_project: str | None = None
        self._iam: Any = None
        self._projects: Any = None
        self._logging: Any = None
        self._bigquery: Any = None
        self._rest: RestGate | None = None
        self._caller: CallerIdentity | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._closers: list[Callable[[], None]] = []

    @property
    def simulated(self) -> bool:
        return bool(self.iam_endpoint or self.rest_endpoint)

    @classmethod
    def from_settings(cls, settings: GcpSettings, mode: Mode, *,
                      incident_id: str | None = None) -> GcpProvider:
        if mode is Mode.EXERCISE and not (settings.iam_endpoint and settings.rest_endpoint):
            raise UsageError("exercise mode needs the simulated Google Cloud project's "
                             "endpoints",
                             fix="let rescind start it (rescind run --mode exercise), or set "
                                 "gcp.iam_endpoint and gcp.rest_endpoint")
        if settings.key_file and not Path(settings.key_file).expanduser().is_file():
            raise UsageError(f"gcp.key_file {settings.key_file} does not exist",
                             fix="point gcp.key_file at a service-account key file, or "
                                 "leave it unset to use Application Default Credentials")
        return cls(projects=settings.projects, key_file=settings.key_file,
                   impersonate=settings.impersonate, break_glass=settings.break_glass,
                   width=settings.concurrency, iam_endpoint=settings.iam_endpoint,
                   rest_endpoint=settings.rest_endpoint, principal=settings.principal,
                   log_requests_per_minute=settings.log_requests_per_minute,
                   bigquery_dataset=settings.bigquery_dataset)

    @classmethod
    def start_sandbox(cls, scenario: Path | None) -> Sandbox:
        from rescind.sandbox.gcp import start_gcp_sandbox

        return start_gcp_sandbox(scenario)

    # -- credentials --------------------------------------------------------------
    def credentials(self) -> Any:
        """ADC, a key file, or either impersonating ``impersonate`` (made once)."""
        with self._lock:
            if self._credentials is None:
                try:
                    self._credentials = self._new_credentials()
                except ActionError:
                    raise
                except Exception as exc:
                    raise translate_error(exc, permission="credentials") from exc
            return self._credentials

    def _new_credentials(self) -> Any:
        if self.simulated:
            from google.auth import credentials

            anonymous: Any = credentials.AnonymousCredentials
            return anonymous()
        if self.key_file:
            from google.oauth2 import service_account

            load: Any = service_account.Credentials.from_service_account_file
            base = load(
                str(Path(self.key_file).expanduser()), scopes=list(SCOPES))
        else:
            import google.auth

            base, self._adc_project = google.auth.default(scopes=list(SCOPES),
                                                          request=self._auth_request())
        if self.impersonate:
            from google.auth import impersonated_credentials

            impersonated: Any = impersonated_credentials.Credentials
            return impersonated(
                source_credentials=base, target_principal=self.impersonate,
                target_scopes=list(SCOPES), lifetime=3600)
        return base

    def project(self, project: str | None = None) -> str:
        """``project``, else the first configured project, else ADC's."""
        if project:
            return project
        if self.projects:
            return self.projects[0]
        if not self.simulated:
            self.credentials()
            if self._adc_project:
                return self._adc_project
        raise ActionError("no Google Cloud project to act in", kind=ErrorKind.CONFIG,
                          retryable=False,
                          fix="set gcp.projects in rescind.toml (or --set gcp.projects=ID), "
                              "or give the step a `project:`")

    # -- who we are -------------------------------------------------------------------
    def caller_identity(self) -> CallerIdentity:
        """Who rescind runs as (read-only; cached)."""
        with self._lock:
            if self._caller is not None:
                return self._caller
        caller = self._find_caller()
        with self._lock:
            self._caller = caller
        return caller

    def _find_caller(self) -> CallerIdentity:
        if self.simulated:
            if not self.principal:
                raise ActionError("the simulated project did not say who rescind is",
                                  kind=ErrorKind.CONFIG, retryable=False,
                                  fix="set gcp.principal to the responder's email")
            return CallerIdentity(email=self.principal)
        key_email, key_id = _key_file_identity(self.key_file)
        if self.impersonate:
            source = key_email or self._token_email(source=True)
            return CallerIdentity(email=self.impersonate, key_id=key_id,
                                  also=(source,) if source else ())
        if key_email:
            return CallerIdentity(email=key_email, key_id=key_id)
        email = self._token_email(source=False)
        if not email:
            raise ActionError("cannot tell which Google identity rescind runs as",
                              kind=ErrorKind.CONFIG, retryable=False,
                              fix="use a key file (gcp.key_file) or impersonation "
                                  "(gcp.impersonate) so the identity is known")
        return CallerIdentity(email=email)

    def _token_email(self, *, source: bool) -> str:
        """The email of ADC's (or the impersonation source's) access token, by tokeninfo."""
        credentials = self.credentials()
        if source and hasattr(credentials, "_source_credentials"):
            credentials = credentials._source_credentials
        email = getattr(credentials, "service_account_email", None)
        if email and email != "default":
            return str(email)
        def ask() -> Any:
            credentials.refresh(self._auth_request())
            reply = self.rest().request("POST", TOKENINFO,
                                        data={"access_token": credentials.token},
                                        timeout=min(30.0, self.call_timeout_s))
            reply.raise_for_status()
            return reply.json()

        info = self.invoke(ask, permission="oauth2.tokeninfo")
        return str(info.get("email", ""))

    def identities(self) -> list[tuple[str, str]]:
        """Who rescind is, after proving the credentials work (read-only)."""
        caller = self.caller_identity()
        if self.simulated:
            self.iam_call("get_service_account",
                          {"name": f"projects/-/serviceAccounts/{caller.email}"},
                          permission="iam.serviceAccounts.get", resource=caller.email)
        else:
            credentials = self.credentials()
            # A token is minted (and, impersonating, exchanged): nothing is changed.
            self.invoke(lambda: credentials.refresh(self._auth_request()),
                        permission="credentials")
        projects = ", ".join(self.projects) or self.project()
        how = ("simulated project" if self.simulated else
               f"impersonating from {', '.join(caller.also) or 'ADC'}" if self.impersonate
               else "key file" if self.key_file else "Application Default Credentials")
        return [(f"projects {projects} ({how})", caller.email)]

    def check_targets(self, *, accounts: Iterable[str] = (),
                      keys: Iterable[tuple[str, str]] = (), break_glass: Iterable[str] = (),
                      max_targets: int | None = None, count: int | None = None) -> None:
        """The guardrails (gcp_guardrails.check_targets) against who rescind is."""
        check_targets(self.caller_identity(), accounts=accounts, keys=keys,
                      break_glass=[*self.break_glass, *break_glass],
                      max_targets=max_targets, count=count)

    def limit_for_check(self, limits: CheckLimits) -> None:
        """One try per call, each call's deadline and every google-auth request bounded
        (token refreshes, the metadata server probe of ADC)."""
        with self._lock:
            self._limits = limits
            self.max_attempts = limits.attempts
            self.call_timeout_s = limits.connect_s + limits.read_s

    def _auth_request(self) -> Any:
        """google-auth's transport for token and metadata requests (its default waits 120 s
        for an answer; the check's waits ``limits``)."""
        from google.auth.transport.requests import Request

        return Request() if self._limits is None else _bounded_request(self._limits)

    # -- dry-run guard -------------------------------------------------------------
    @property
    def guarded(self) -> bool:
        return self._switch.guard is not None

    def install_dry_run_guard(self, on_blocked: Callable[[BlockedCall], None]) -> None:
        """Every gate (gRPC interceptor, REST interceptor, session wrapper) blocks from now on.

        The gates are built into every client from the start and read the switch on
        each call, so clients made before and after are covered alike.
        """
        with self._lock:
            if self._switch.guard is None:
                self._switch.guard = DryRunGuard(on_blocked)

    @property
    def blocked_calls(self) -> list[BlockedCall]:
        guard = self._switch.guard
        return list(guard.blocked) if guard else []

    # -- clients -------------------------------------------------------------------
    def iam(self) -> Any:
        """The IAM admin client (gRPC), its channel behind the guard's interceptor."""
        with self._lock:
            if self._iam is None:
                import grpc
                from google.cloud import iam_admin_v1
                from google.cloud.iam_admin_v1.services.iam.transports.grpc import (
                    IAMGrpcTransport,
                )

                credentials = self.credentials()
                if self.iam_endpoint:
                    raw = grpc.insecure_channel(self.iam_endpoint)
                else:
                    raw = IAMGrpcTransport.create_channel(IAM_HOST, credentials=credentials,
                                                          scopes=list(SCOPES))
                channel = grpc.intercept_channel(raw, grpc_gate(self._switch))
                transport = IAMGrpcTransport(channel=channel, credentials=credentials)
                self._iam = iam_admin_v1.IAMClient(transport=transport)
                self._closers.append(raw.close)
            return self._iam

    def projects_client(self) -> Any:
        """Resource Manager's ProjectsClient (REST), the guard as its interceptor."""
        with self._lock:
            if self._projects is None:
                from google.cloud import resourcemanager_v3
                from google.cloud.resourcemanager_v3.services.projects.transports.rest import (
                    ProjectsRestTransport,
                )

                host, scheme = RESOURCE_MANAGER_HOST, "https"
                if self.rest_endpoint:
                    scheme, _, host = self.rest_endpoint.partition("://")
                transport = ProjectsRestTransport(
                    host=host, url_scheme=scheme, credentials=self.credentials(),
                    interceptor=projects_interceptor(self._switch))
                self._projects = resourcemanager_v3.ProjectsClient(transport=transport)
                self._closers.append(transport.close)
            return self._projects

    def rest(self) -> RestGate:
        """One requests session (authorized, unless simulated) behind the guard."""
        with self._lock:
            if self._rest is None:
                if self.simulated:
                    import requests

                    session: Any = requests.Session()
                else:
                    from google.auth.transport import requests as auth_requests

                    authorized: Any = auth_requests.AuthorizedSession
                    session = authorized(self.credentials())
                self._rest = RestGate(session, self._switch)
                self._closers.append(self._rest.close)
            return self._rest

    def rest_url(self, service: str, path: str) -> str:
        """``path`` on Google's REST endpoint for ``service`` (iam, logging) or the fake."""
        base = self.rest_endpoint or {"iam": IAM_REST, "logging": LOGGING_REST}[service]
        return f"{base}{path}"

    def logging_client(self, project: str) -> Any:
        """google-cloud-logging's Client over HTTP (entries:list), the session guarded."""
        with self._lock:
            if self._logging is None:
                from google.cloud import logging as gcl

                options = {"api_endpoint": self.rest_endpoint} if self.rest_endpoint else None
                client: Any = gcl.Client
                self._logging = client(project=project, credentials=self.credentials(),
                                           _http=self.rest(), _use_grpc=False,
                                           client_options=options)
            return self._logging

    def bigquery_client(self) -> Any:
        """google-cloud-bigquery's Client (REST), its session the guarded one; queries are
        billed to the first project."""
        with self._lock:
            if self._bigquery is None:
                from google.cloud import bigquery

                options = {"api_endpoint": self.rest_endpoint} if self.rest_endpoint else None
                client: Any = bigquery.Client  # its _http is typed Session: ours wraps one
                self._bigquery = client(project=self.project(), credentials=self.credentials(),
                                        _http=self.rest(), client_options=options)
            return self._bigquery

    # -- threads ---------------------------------------------------------------------
    def _pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=self.width,
                                                    thread_name_prefix="rescind-gcp")
            return self._executor

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking function on the provider's pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool(), functools.partial(fn, *args, **kwargs))

    def translate_error(self, exc: BaseException) -> ActionError:
        return translate_error(exc)

    def close(self) -> None:
        """Stop the worker threads, close channels and sessions (idempotent)."""
        with self._lock:
            executor, self._executor = self._executor, None
            closers, self._closers = self._closers, []
            self._iam = self._projects = self._logging = self._rest = self._bigquery = None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        for close in closers:
            try:
                close()
            except Exception:
                continue


def _bounded_request(limits: CheckLimits) -> Any:
    """A google-auth Request whose requests wait no longer than ``limits`` (nor than a
    shorter timeout its caller gives, as the metadata server probe's 3 s)."""
    from google.auth.transport.requests import Request

    class Bounded(Request):
        def __call__(self, url: str, method: str = "GET", body: Any = None,
                     headers: Any = None, timeout: float | None = None, **kwargs: Any) -> Any:
            given = timeout if isinstance(timeout, (int, float)) else float("inf")
            bounded = (min(given, limits.connect_s), min(given, limits.read_s))
            send: Any = super().__call__  # untyped in google-auth
            return send(url, method, body, headers, timeout=bounded, **kwargs)

    return Bounded()


def _key_file_identity(path: str | None) -> tuple[str, str | None]:
    """(client_email, private_key_id) of a key file; the private key itself is not read."""
    if not path:
        return "", None
    try:
        info = json.loads(Path(path).expanduser().read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ActionError(f"cannot read gcp.key_file {path}: {exc}", kind=ErrorKind.CONFIG,
                          retryable=False, fix="point gcp.key_file at a service-account "
                                               "key file (JSON)") from None
    return str(info.get("client_email", "")), (str(info["private_key_id"])
                                               if info.get("private_key_id") else None)
