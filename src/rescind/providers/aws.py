"""AWS: boto3 sessions from the standard chain, per-account assume-role, cached clients.

boto3 and botocore are imported inside methods, so ``import rescind.providers.aws``
stays cheap (``rescind --help`` and the TUI's first paint never load the SDK).
Blocking SDK calls run on the provider's own thread pool (``run``/``acall``), as wide
as its HTTP connection pool, so concurrent targets are not capped by asyncio's
small default executor.

One concern at ~510 lines: how rescind reaches AWS as whom. Sessions, the assumed
accounts' credentials, the shared clients that sign each request as its account, and
the thread pool all hold one lock and one cache; split apart, each would reach into
the others' state. Settings, the guard, errors and names live beside it (aws_*.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from rescind.errors import ActionError, UsageError
from rescind.modes import Mode
from rescind.providers import registry as providers
from rescind.providers.aws_errors import translate_error
from rescind.providers.aws_guard import DryRunGuard, iam_prefix
from rescind.providers.aws_guardrails import CallerIdentity, check_targets
from rescind.providers.aws_settings import ATHENA_SETTINGS, DEFAULT_WIDTH, AwsSettings
from rescind.providers.base import BlockedCall, CheckLimits, ProviderBase, Sandbox

__all__ = ["AwsProvider", "CallerIdentity", "translate_error"]

T = TypeVar("T")
_SESSION_NAME_BAD = re.compile(r"[^\w+=,.@-]")


_loader: Any = None
_loader_lock = threading.Lock()


def _data_loader() -> Any:
    """One botocore data loader for every session this process makes.

    Each session (one per account, one per provider) would otherwise decode
    botocore's endpoint and service JSON again: most of a new session's CPU. The
    loader only caches what it read from botocore's own data files.
    """
    global _loader
    with _loader_lock:
        if _loader is None:
            from botocore.loaders import create_loader

            _loader = create_loader()
        return _loader


def _no_role(account: str) -> ActionError:
    return ActionError(
        f"no role to assume in account {account}", kind="config", retryable=False,
        fix=f"add [aws.assume_roles.\"{account}\"] role_arn = "
            f"\"arn:aws:iam::{account}:role/NAME\" to rescind.toml (or "
            f"--set aws.assume_roles.{account}=arn:aws:iam::{account}:role/NAME)")


# The account a call on a shared assumed-role client acts in: set by call() and
# paginate() for their duration, in the worker thread that runs them.
_signing = threading.local()
_SHARED = "*"  # the client key of the clients every assumed account shares


@contextlib.contextmanager
def _acting_in(account: str | None) -> Iterator[None]:
    previous = getattr(_signing, "account", None)
    _signing.account = account
    try:
        yield
    finally:
        _signing.account = previous


def _sign_in(provider: AwsProvider, fixed: str | None) -> Callable[..., None]:
    """A before-sign handler: the request is signed with the assumed role's credentials
    of ``fixed`` or of the account the call names (botocore's per-request
    ``request_credentials``), never silently with the base session's."""

    def handler(request: Any, **_: Any) -> None:
        account = fixed or getattr(_signing, "account", None)
        if account is None:
            raise RuntimeError("a call on a shared assumed-role client named no account")
        request.context.setdefault("signing", {})["request_credentials"] = \
            provider.credentials_in(account)

    return handler


@providers.register("aws")
class AwsProvider(ProviderBase):
    """The AWS provider: credentials, clients, the dry-run guard and the guardrails.

    ``assume_roles`` maps an account id to the role rescind assumes there, either an
    ARN or ``{"role_arn": ..., "external_id": ...}``; the session is named
    ``rescind-<incident>``. ``credentials`` (access_key_id, secret_access_key,
    session_token) override the chain, for the simulated account.
    """

    Settings = AwsSettings

    def __init__(self, *, profile: str | None = None, region: str = "us-east-1",
                 endpoint_url: str | None = None, cloudtrail_endpoint_url: str | None = None,
                 assume_roles: Mapping[str, Any] | None = None,
                 break_glass: Iterable[str] = (), incident_id: str | None = None,
                 width: int = DEFAULT_WIDTH, max_attempts: int = 10,
                 credentials: Mapping[str, str] | None = None,
                 athena: Mapping[str, Any] | None = None,
                 org_role: str | None = None, event_data_store: str | None = None) -> None:
        self.profile = profile
        self.region = region
        self.endpoint_url = endpoint_url
        self.cloudtrail_endpoint_url = cloudtrail_endpoint_url
        self.assume_roles = dict(assume_roles or {})
        self.break_glass = [str(b) for b in break_glass]
        self.width = width
        self.max_attempts = max_attempts
        stamp = incident_id or datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        self.session_name = _SESSION_NAME_BAD.sub("-", f"rescind-{stamp}")[:64]
        self._credentials = dict(credentials) if credentials else None
        # Where the organisation trail and its Athena table are (timeline.pull via athena).
        self.athena = dict(athena or {})
        self.event_data_store = event_data_store  # CloudTrail Lake (timeline.pull)
        # The organisation's incident-response role, assumed in any other account that
        # has no assume_roles entry: a key found in a new account needs no config edit.
        self.org_role = org_role
        self._lock = threading.RLock()
        self._session: Any = None  # the credential chain's boto3.Session
        self._assumed: dict[str, Any] = {}  # account -> its assumed role's credentials
        self._clients: dict[tuple[str, str, str | None], Any] = {}
        self._callers: dict[str | None, CallerIdentity] = {}
        self._guard: DryRunGuard | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._limits: CheckLimits | None = None

    @classmethod
    def from_settings(cls, settings: AwsSettings, mode: Mode, *,
                      incident_id: str | None = None) -> AwsProvider:
        if mode is Mode.EXERCISE and not settings.endpoint_url:
            raise UsageError("exercise mode needs the simulated AWS account's endpoint",
                             fix="let rescind start it (rescind run --mode exercise), or "
                                 "set aws.endpoint_url")
        credentials = None
        if settings.access_key_id:
            credentials = {"access_key_id": settings.access_key_id,
                           "secret_access_key": _reveal(settings.secret_access_key)}
            if settings.session_token is not None:
                credentials["session_token"] = _reveal(settings.session_token)
        roles = {account: ({"role_arn": role.role_arn,
                            "external_id": _reveal(role.external_id)}
                           if role.external_id is not None else role.role_arn)
                 for account, role in settings.assume_roles.items()}
        return cls(profile=settings.profile, region=settings.region,
                   endpoint_url=settings.endpoint_url,
                   cloudtrail_endpoint_url=settings.cloudtrail_endpoint_url,
                   assume_roles=roles, break_glass=settings.break_glass,
                   incident_id=incident_id, width=settings.concurrency,
                   credentials=credentials,
                   athena=settings.model_dump(include=set(ATHENA_SETTINGS)),
                   org_role=settings.org_role, event_data_store=settings.event_data_store)

    @classmethod
    def start_sandbox(cls, scenario: Path | None) -> Sandbox:
        from rescind.sandbox.aws import start_aws_sandbox

        return start_aws_sandbox(scenario)

    def identities(self) -> list[tuple[str, str]]:
        """sts:GetCallerIdentity in the chain's own account and in each assumed role's."""
        found = []
        for account in [None, *sorted(self.assume_roles)]:
            caller = self.caller_identity(account)
            where = f"account {caller.account}" + (" (credential chain)" if account is None
                                                  else " (assumed role)")
            found.append((where, caller.arn))
        return found

    # -- dry-run guard -------------------------------------------------------------
    @property
    def guarded(self) -> bool:
        return self._guard is not None

    def install_dry_run_guard(self, on_blocked: Callable[[BlockedCall], None]) -> None:
        """Block every non-read call from now on, on every session and client.

        botocore copies a session's event emitter into each client it creates, so the
        hook goes on the sessions (clients made later) and on every cached client.
        """
        with self._lock:
            if self._guard is not None:
                return
            self._guard = DryRunGuard(on_blocked)
            if self._session is not None:
                self._guard.attach(self._session.events)
            for client in self._clients.values():
                self._guard.attach(client.meta.events)

    @property
    def blocked_calls(self) -> list[BlockedCall]:
        """Every call the guard has blocked so far."""
        return list(self._guard.blocked) if self._guard else []

    def limit_for_check(self, limits: CheckLimits) -> None:
        """Bound this instance's clients and the ones botocore makes to find credentials."""
        with self._lock:
            self._limits = limits

    # -- sessions and clients ----------------------------------------------------------
    def _config(self) -> Any:
        from botocore.config import Config

        own = Config(max_pool_connections=self.width, user_agent_extra="rescind")
        if self._limits is not None:
            return own.merge(_bounded(self._limits))
        return own.merge(Config(retries={"mode": "adaptive", "max_attempts": self.max_attempts},
                                connect_timeout=10, read_timeout=60))

    def _endpoint(self, service: str) -> str | None:
        if service == "cloudtrail" and self.cloudtrail_endpoint_url:
            return self.cloudtrail_endpoint_url
        return self.endpoint_url

    def _new_session(self) -> Any:
        import boto3
        import botocore.session

        core = botocore.session.Session(profile=self.profile)
        core.register_component("data_loader", _data_loader())
        if self._credentials:
            core.set_credentials(self._credentials.get("access_key_id"),
                                 self._credentials.get("secret_access_key"),
                                 self._credentials.get("session_token"))
        else:
            core.register_component("credential_provider", self._chain())
        session = boto3.Session(botocore_session=core, region_name=self.region)
        if self._guard is not None:
            self._guard.attach(session.events)
        return session

    def _chain(self) -> Any:
        """botocore's credential chain for the profile, on a session of its own.

        botocore mints a profile's credentials (SSO's GetRoleCredentials, a role's
        AssumeRole, AssumeRoleWithWebIdentity, and their later refreshes) through
        clients it makes from the session that owns the chain. On the guarded session
        the dry-run guard would answer them with empty replies; here it never sees
        them, and rescind's own clients, all made from the guarded session, still do.
        """
        import botocore.session

        chain = botocore.session.Session(profile=self.profile)
        chain.register_component("data_loader", _data_loader())
        chain.set_config_variable("region", self.region)  # as the guarded session's
        if self._limits is not None:
            # Those clients take the session's default config: bound them for the check.
            chain.set_default_client_config(_bounded(self._limits))
        return chain.get_component("credential_provider")

    def _assumed_credentials(self, account: str) -> Any:
        from botocore.credentials import AssumeRoleCredentialFetcher, DeferredRefreshableCredentials

        entry = self.assume_roles.get(account)
        if entry is None and self.org_role:
            entry = f"arn:aws:iam::{account}:role/{self.org_role}"
        if entry is None:
            raise _no_role(account)
        role_arn = entry if isinstance(entry, str) else str(entry.get("role_arn", ""))
        extra: dict[str, Any] = {"RoleSessionName": self.session_name}
        if not isinstance(entry, str) and entry.get("external_id"):
            extra["ExternalId"] = str(entry["external_id"])

        def creator(service: str, **_: Any) -> Any:
            # The base session's own cached client: it signs with the same (refreshing)
            # credentials the fetcher would pass, and a fan-out over 100 accounts then
            # makes one STS client, not 100. client() takes the lock (boto3 sessions are
            # not thread-safe; a refresh may run in any worker thread).
            return self.client(service, self.region)

        source = self.session().get_credentials()
        if source is None:
            from botocore.exceptions import NoCredentialsError

            raise self.translate_error(NoCredentialsError(), action="sts:AssumeRole")
        fetcher = AssumeRoleCredentialFetcher(
            client_creator=creator, source_credentials=source,
            role_arn=role_arn, extra_args=extra, cache={})
        return DeferredRefreshableCredentials(refresh_using=fetcher.fetch_credentials,
                                              method="assume-role")

    def session(self) -> Any:
        """The boto3 session of the credential chain: every client is made from it."""
        with self._lock:
            if self._session is None:
                try:
                    self._session = self._new_session()
                except Exception as exc:
                    raise self.translate_error(exc) from exc
            return self._session

    def credentials_in(self, account: str) -> Any:
        """The (refreshing) credentials of the role assumed in ``account``, made once;
        AssumeRole runs on first use."""
        with self._lock:
            found = self._assumed.get(account)
            if found is None:
                found = self._assumed[account] = self._assumed_credentials(account)
            return found

    def _session_key(self, account: str | None) -> str | None:
        """None for the chain's own account, so a default-account target needs no lookup."""
        if account is None or not self._assumes_in(account):
            return None
        return account

    def _assumes_in(self, account: str) -> bool:
        """Whether calls in ``account`` go through an assumed role (else: the chain's)."""
        if account in self.assume_roles:
            return True
        return bool(self.org_role) and account != self.caller_identity(None).account

    def account_of_key(self, key_id: str) -> str:
        """The account an access key belongs to (sts:GetAccessKeyInfo: any key id, any
        account, read by the responder's own identity)."""
        return str(self.call("sts", "GetAccessKeyInfo", AccessKeyId=key_id)["Account"])

    def client(self, service: str, region: str | None = None,
               account: str | None = None) -> Any:
        """A cached client per (service, region, account), made on first use.

        An assumed account's client is made from the one base session and signs with
        that account's credentials (``_sign_in``): no session per account.
        """
        region = region or self.region
        acting = self._session_key(account)
        if acting is not None:
            self.credentials_in(acting)  # no role to assume: a config error, now
        return self._client(service, region, acting)

    def _client(self, service: str, region: str, account: str | None) -> Any:
        key = (service, region, account)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                try:
                    client = self.session().client(
                        service, region_name=region, endpoint_url=self._endpoint(service),
                        config=self._config())
                except Exception as exc:
                    raise self.translate_error(exc) from exc
                if account is not None:
                    client.meta.events.register(
                        "before-sign", _sign_in(self, None if account == _SHARED else account),
                        unique_id="rescind-assumed-account")
                self._clients[key] = client
            return client

    def _calling(self, service: str, region: str | None,
                 account: str | None) -> tuple[Any, str | None]:
        """(client, account to sign as) for one call: an assumed account's call goes
        through one client per service and region shared by every account, which
        signs as the account the call names. A fan-out over 100 accounts then makes
        no client per account (each is ~20-40 ms of CPU)."""
        acting = self._session_key(account)
        if acting is None:
            return self.client(service, region), None
        self.credentials_in(acting)
        return self._client(service, region or self.region, _SHARED), acting

    # -- who we are ---------------------------------------------------------------
    def caller_identity(self, account: str | None = None) -> CallerIdentity:
        """sts:GetCallerIdentity for the session used in ``account`` (cached)."""
        key = self._session_key(account)
        with self._lock:
            cached = self._callers.get(key)
        if cached is not None:
            return cached
        reply = self.call("sts", "GetCallerIdentity", account=account)
        try:
            source = self.credentials_in(key) if key is not None \
                else self.session().get_credentials()
            frozen = source.get_frozen_credentials()
            key_id: str | None = frozen.access_key
        except Exception as exc:
            raise self.translate_error(exc) from exc
        identity = CallerIdentity(account=str(reply["Account"]), arn=str(reply["Arn"]),
                                  user_id=str(reply.get("UserId", "")), access_key_id=key_id)
        if account is not None and key is not None and identity.account != account:
            raise ActionError(f"the role for account {account} is in account "
                              f"{identity.account}", kind="config", retryable=False,
                              fix=f"fix aws.assume_roles.{account} in rescind.toml")
        with self._lock:
            self._callers[key] = identity
        return identity

    def account_id(self, account: str | None = None) -> str:
        """The account a call with ``account`` acts in (the caller's own when None)."""
        if account is not None:
            if self._assumes_in(account):
                return account
            home = self.caller_identity(None).account
            if account != home:
                raise _no_role(account)
            return home
        return self.caller_identity(None).account

    def check_targets(self, *, account: str | None = None, users: Iterable[str] = (),
                      roles: Iterable[str] = (), access_keys: Iterable[tuple[str, str]] = (),
                      break_glass: Iterable[str] = (), max_targets: int | None = None,
                      count: int | None = None) -> None:
        """The guardrails (aws_guardrails.check_targets) against this provider's caller."""
        caller = self.caller_identity(account)
        check_targets(caller, account=self.account_id(account), users=users, roles=roles,
                      access_keys=access_keys, break_glass=[*self.break_glass, *break_glass],
                      max_targets=max_targets, count=count)

    # -- calls ----------------------------------------------------------------------
    def translate_error(self, exc: BaseException, *, action: str | None = None,
                        resource: str | None = None) -> ActionError:
        return translate_error(exc, action=action, resource=resource, profile=self.profile)

    def call(self, service: str, operation: str, *, region: str | None = None,
             account: str | None = None, resource: str | None = None,
             **params: Any) -> dict[str, Any]:
        """Call ``operation`` (its API name, e.g. ``UpdateAccessKey``); errors translated."""
        from botocore import xform_name

        client, acting = self._calling(service, region, account)
        action = f"{iam_prefix(client.meta.service_model)}:{operation}"
        try:
            with _acting_in(acting):
                reply: dict[str, Any] = getattr(client, xform_name(operation))(**params)
        except Exception as exc:
            raise self.translate_error(exc, action=action, resource=resource) from exc
        return reply

    def paginate(self, service: str, operation: str, result_key: str, *,
                 region: str | None = None, account: str | None = None,
                 resource: str | None = None, **params: Any) -> list[Any]:
        """Every item under ``result_key`` across all pages of ``operation``."""
        from botocore import xform_name

        client, acting = self._calling(service, region, account)
        action = f"{iam_prefix(client.meta.service_model)}:{operation}"
        items: list[Any] = []
        try:
            with _acting_in(acting):
                for page in client.get_paginator(xform_name(operation)).paginate(**params):
                    items.extend(page.get(result_key, []))
        except Exception as exc:
            raise self.translate_error(exc, action=action, resource=resource) from exc
        return items

    def _pool(self) -> ThreadPoolExecutor:
        # The event loop calls this: it must not wait on the lock that workers hold while
        # they make clients.
        executor = self._executor
        if executor is not None:
            return executor
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=self.width,
                                                    thread_name_prefix="rescind-aws")
            return self._executor

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking function on the provider's pool (as wide as its connection pool)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool(), functools.partial(fn, *args, **kwargs))

    async def acall(self, service: str, operation: str, **kwargs: Any) -> dict[str, Any]:
        return await self.run(self.call, service, operation, **kwargs)

    async def apaginate(self, service: str, operation: str, result_key: str,
                        **kwargs: Any) -> list[Any]:
        return await self.run(self.paginate, service, operation, result_key, **kwargs)

    def close(self) -> None:
        """Stop the worker threads and close the HTTP connections (idempotent)."""
        with self._lock:
            executor, self._executor = self._executor, None
            clients = list(self._clients.values())
            self._clients.clear()
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        for client in clients:
            client.close()


def _bounded(limits: CheckLimits) -> Any:
    """A botocore config that gives up within ``limits`` (standard mode: no client-side
    rate limiting to wait on)."""
    from botocore.config import Config

    return Config(retries={"mode": "standard", "total_max_attempts": limits.attempts},
                  connect_timeout=limits.connect_s, read_timeout=limits.read_s)


def _reveal(secret: Any) -> str:
    return "" if secret is None else str(secret.get_secret_value())
