"""The Google Cloud dry-run guard, by RPC name, in each transport rescind uses.

Reads are recognised by name, never by HTTP method: several travel as POST
(``getIamPolicy``, ``entries:list``). Three gates share one ``DryRunGuard``:

- a gRPC client interceptor on the IAM admin channel (``GrpcGate``);
- a ``ProjectsRestInterceptor`` for Resource Manager (``projects_interceptor``);
- a wrapper around the requests session of Cloud Logging, BigQuery and the IAM REST
  endpoints the client libraries do not cover (``RestGate``).

A BigQuery job is let through only when it is a query whose statement is one
``SELECT`` (or ``WITH ... SELECT``) and whose results go nowhere but the job's own
temporary table: DML, DDL, scripts, ``EXPORT DATA``, a destination table, and
load, copy and extract jobs are blocked.

Before the guard is installed they let everything through. After, a call that is
not on the allow-list never leaves the process: it is answered with an empty (or
echoing) response and reported as a BlockedCall, its parameters redacted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from rescind.providers import gcp_redaction  # noqa: F401  (registers GCP's secret names)
from rescind.providers.base import BlockedCall, BlockedCallRecorder
from rescind.redaction import redact

IAM_SERVICE = "google.iam.admin.v1.IAM"
# gRPC methods of the IAM admin service that only read.
IAM_READS: frozenset[str] = frozenset({
    "GetServiceAccount", "ListServiceAccounts", "GetServiceAccountKey",
    "ListServiceAccountKeys", "GetIamPolicy", "TestIamPermissions", "QueryGrantableRoles",
    "GetRole", "ListRoles", "QueryTestablePermissions", "QueryAuditableServices",
    "LintPolicy"})
# Resource Manager ProjectsRestInterceptor method names that only read.
PROJECTS_READS: frozenset[str] = frozenset({
    "get_iam_policy", "get_project", "list_projects", "search_projects",
    "test_iam_permissions", "get_operation"})
# REST calls through RestGate: (HTTP method, path pattern) -> RPC name.
_REST_RPCS: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("POST", re.compile(r"^/v2/entries:list$"), "logging.entries.list"),
    ("POST", re.compile(r"^/v2/entries:write$"), "logging.entries.write"),
    ("GET", re.compile(r"^/v1/projects/[^/]+/locations/[^/]+/workloadIdentityPools/[^/]+"
                       r"/providers/[^/:]+$"), "iam.workloadIdentityPoolProviders.get"),
    ("PATCH", re.compile(r"^/v1/projects/[^/]+/locations/[^/]+/workloadIdentityPools/[^/]+"
                         r"/providers/[^/:]+$"), "iam.workloadIdentityPoolProviders.patch"),
    ("GET", re.compile(r"^/tokeninfo$"), "oauth2.tokeninfo"),
    ("POST", re.compile(r"^/bigquery/v2/projects/[^/]+/queries$"), "bigquery.jobs.query"),
    ("POST", re.compile(r"^/bigquery/v2/projects/[^/]+/jobs$"), "bigquery.jobs.insert"),
    ("GET", re.compile(r"^/bigquery/v2/projects/[^/]+/queries/[^/]+$"),
     "bigquery.jobs.getQueryResults"),
    ("GET", re.compile(r"^/bigquery/v2/projects/[^/]+/jobs/[^/]+$"), "bigquery.jobs.get"),
)
REST_READS: frozenset[str] = frozenset({
    "logging.entries.list", "iam.workloadIdentityPoolProviders.get", "oauth2.tokeninfo",
    "bigquery.jobs.getQueryResults", "bigquery.jobs.get"})
# Let through only when their statement reads (is_select_job).
QUERY_RPCS: frozenset[str] = frozenset({"bigquery.jobs.query", "bigquery.jobs.insert"})
_SQL_NOISE = re.compile(r"--[^\n]*|#[^\n]*|/\*.*?\*/|'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|"
                        r"`[^`]*`", re.S)


def rest_rpc(method: str, url: str) -> str:
    """The RPC a REST request is, by method and path (unknown ones by their own text)."""
    path = urlsplit(url).path
    for verb, pattern, name in _REST_RPCS:
        if verb == method.upper() and pattern.match(path):
            return name
    return f"{method.upper()} {path}"


def is_select(sql: str) -> bool:
    """One SELECT statement (``WITH ... SELECT`` too): literals, quoted names and
    comments aside, it starts with SELECT or WITH, holds no second statement and no
    keyword that writes."""
    bare = _SQL_NOISE.sub(" ", sql).strip().rstrip(";").strip()
    words = set(re.findall(r"[A-Za-z_]+", bare.upper()))
    return (bare.split(None, 1)[0].upper() in ("SELECT", "WITH") if bare else False) and \
        ";" not in bare and not words & {"INSERT", "UPDATE", "DELETE", "MERGE", "CREATE",
                                          "DROP", "ALTER", "TRUNCATE", "EXPORT", "GRANT",
                                          "REVOKE", "CALL", "EXECUTE", "DECLARE", "SET"}


def is_select_job(rpc: str, body: Any) -> bool:
    """A jobs.query or jobs.insert body that only reads (see the module's docstring)."""
    if not isinstance(body, Mapping):
        return False
    if rpc == "bigquery.jobs.query":
        return is_select(str(body.get("query") or ""))
    config = body.get("configuration")
    if not isinstance(config, Mapping) or set(config) - {"query", "dryRun", "labels",
                                                          "jobTimeoutMs", "jobType"}:
        return False
    query = config.get("query")
    return isinstance(query, Mapping) and not query.get("destinationTable") and \
        is_select(str(query.get("query") or ""))


def _params(message: Any) -> dict[str, Any]:
    """A request message (proto-plus, protobuf or JSON body) as a redacted dict."""
    data: Any
    if isinstance(message, Mapping):
        data = dict(message)
    elif hasattr(type(message), "to_dict") and hasattr(type(message), "pb"):
        data = type(message).to_dict(message)
    else:
        try:
            from google.protobuf.json_format import MessageToDict

            data = MessageToDict(message, preserving_proto_field_name=True)
        except Exception:
            data = {"request": str(message)}
    cleaned = redact(data)
    return cleaned if isinstance(cleaned, dict) else {"request": cleaned}


class DryRunGuard(BlockedCallRecorder):
    """What the three gates share: blocked calls kept and reported to ``on_blocked``."""

    def block(self, operation: str, params: dict[str, Any]) -> None:
        self.record(BlockedCall(provider="gcp", operation=operation, params=params))


class Switch:
    """Where the gates look for the guard: None until dry-run installs one."""

    def __init__(self) -> None:
        self.guard: DryRunGuard | None = None


# -- gRPC ------------------------------------------------------------------------------
def grpc_gate(switch: Switch) -> Any:
    """A ``grpc.UnaryUnaryClientInterceptor`` that blocks non-read IAM methods."""
    import grpc

    class GrpcGate(grpc.UnaryUnaryClientInterceptor):  # type: ignore[misc]
        def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
            service, _, method = str(details.method).strip("/").rpartition("/")
            guard = switch.guard
            if guard is None or (service == IAM_SERVICE and method in IAM_READS):
                return continuation(details, request)
            guard.block(f"iam.{method}", _params(request))
            return _Done(_synthetic_grpc(method, request))

    return GrpcGate()


def _synthetic_grpc(method: str, request: Any) -> Any:
    """What a blocked call answers: the policy it would set, else an empty message."""
    if method == "SetIamPolicy":
        from google.iam.v1 import policy_pb2

        policy = policy_pb2.Policy()
        policy.CopyFrom(request.policy)
        return policy
    from google.protobuf import empty_pb2

    return empty_pb2.Empty()


class _Done:
    """A finished gRPC call (grpc.Call and grpc.Future) holding ``response``."""

    def __init__(self, response: Any) -> None:
        self._response = response

    def result(self, timeout: float | None = None) -> Any:
        return self._response

    def exception(self, timeout: float | None = None) -> None:
        return None

    def traceback(self, timeout: float | None = None) -> None:
        return None

    def add_done_callback(self, fn: Callable[[Any], None]) -> None:
        fn(self)

    def done(self) -> bool:
        return True

    def running(self) -> bool:
        return False

    def cancelled(self) -> bool:
        return False

    def cancel(self) -> bool:
        return False

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> None:
        return None

    def add_callback(self, callback: Callable[[], None]) -> bool:
        return False

    def initial_metadata(self) -> tuple[()]:
        return ()

    def trailing_metadata(self) -> tuple[()]:
        return ()

    def code(self) -> Any:
        import grpc

        return grpc.StatusCode.OK

    def details(self) -> str:
        return ""


# -- Resource Manager REST interceptor -------------------------------------------------
class Blocked(Exception):
    """Raised by the Resource Manager interceptor instead of sending a mutating request.

    ``response`` is what the provider returns in its place.
    """

    def __init__(self, response: Any) -> None:
        super().__init__("blocked by the dry-run guard")
        self.response = response


def projects_interceptor(switch: Switch) -> Any:
    """A ``ProjectsRestInterceptor`` whose every ``pre_`` hook not on the allow-list blocks.

    The hooks are found by name on the library's class, so a method added to a later
    version of the library is blocked by default, not let through.
    """
    from google.cloud.resourcemanager_v3.services.projects.transports.rest import (
        ProjectsRestInterceptor,
    )

    def hook(method: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def pre(self: Any, request: Any, metadata: Any) -> Any:
            guard = switch.guard
            if guard is not None and method not in PROJECTS_READS:
                guard.block(f"resourcemanager.projects.{_camel(method)}", _params(request))
                policy = getattr(request, "policy", None)
                raise Blocked(policy if method == "set_iam_policy" else None)
            return original(self, request, metadata)
        return pre

    hooks = {name: hook(name[4:], getattr(ProjectsRestInterceptor, name))
             for name in dir(ProjectsRestInterceptor) if name.startswith("pre_")}
    return type("GuardedProjectsInterceptor", (ProjectsRestInterceptor,), hooks)()


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.title() for part in rest)


# -- REST through a requests session ----------------------------------------------------
class RestGate:
    """Wraps a requests session (plain, or google-auth's AuthorizedSession).

    Everything but ``request`` is the session's own; ``request`` is blocked for
    RPCs not on the allow-list once the guard is installed.
    """

    def __init__(self, session: Any, switch: Switch) -> None:
        self._session = session
        self._switch = switch

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        guard = self._switch.guard
        rpc = rest_rpc(method, url)
        if guard is None or rpc in REST_READS:
            return self._session.request(method, url, *args, **kwargs)
        body = kwargs.get("json")
        if body is None and kwargs.get("data"):
            try:
                body = json.loads(kwargs["data"])
            except (TypeError, ValueError):
                body = {"data": f"<{len(kwargs['data'])} bytes>"}
        if rpc in QUERY_RPCS and is_select_job(rpc, body):
            return self._session.request(method, url, *args, **kwargs)
        query = kwargs.get("params") or {}
        guard.block(rpc, _params({"url": urlsplit(url).path, **dict(query),
                                  **(body if isinstance(body, dict) else {})}))
        return _synthetic_response(url)

    def close(self) -> None:
        self._session.close()


def _synthetic_response(url: str) -> Any:
    import requests

    response = requests.Response()
    response.status_code = 200
    response._content = b"{}"
    response.headers["Content-Type"] = "application/json"
    response.url = url
    return response
