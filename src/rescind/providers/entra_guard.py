"""The dry-run guards of Microsoft Graph and Azure Resource Manager, in their transports.

Graph: an httpx transport beneath kiota's middleware (retry, redirect...), so every
request the SDK, a retry or a redirect sends passes it. Only GET, HEAD and OPTIONS
go through; anything else is answered 204 with no body and reported as "would call
graph:PATCH /v1.0/users/{id} {...}". A ``POST /$batch`` carries its real operations
in its body, so the guard looks inside: each inner request that is not a GET is
reported on its own, exactly as if sent alone, and answered 204 inside the batch's
answer; only the inner GETs are sent on (in a batch of their own). Should that batch be
throttled as a whole, each GET is answered with the throttling on its own, for the
batcher to send again: kiota's retry would bring the blocked requests round again and
report them twice. A batch body it cannot read is blocked whole.

ARM: an azure-core policy in ``per_retry_policies``, after the retry policy and
after azure-mgmt-core's auto-registration policy, so it also sees the
``POST .../providers/{ns}/register`` that policy sends by itself after a 409.

Log Analytics: the same kind of policy on LogsQueryClient. A query travels as a POST
(``/v1/workspaces/{id}/query``) and KQL queries only read, so that POST goes through
when its body is one query; a control command (``.set``, ``.drop``..., text starting
with a dot) and any other POST are blocked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from rescind.providers import entra_redaction  # noqa: F401  (registers Entra's secret names)
from rescind.providers.base import BlockedCall
from rescind.providers.entra_batch import RETRIED
from rescind.redaction import redact

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_LOGS_QUERY = re.compile(r"^/v1/workspaces/[^/]+/query$")
Hook = Callable[[], Callable[[BlockedCall], None] | None]


def _body(content: bytes) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return "<not JSON>"


def batch_requests(body: Any) -> list[dict[str, Any]] | None:
    """The inner requests of a readable Graph ``$batch`` body, else None."""
    if not isinstance(body, dict) or not isinstance(body.get("requests"), list):
        return None
    inner = body["requests"]
    return inner if all(isinstance(r, dict) for r in inner) else None


def _is_read(inner: dict[str, Any]) -> bool:
    return str(inner.get("method", "")).upper() == "GET"


def blocked_call(provider: str, service: str, method: str, url: str, body: Any) -> BlockedCall:
    path = urlsplit(url).path
    params: dict[str, Any] = {"url": path}
    if body is not None:
        params["body"] = redact(body)
    return BlockedCall(provider, f"{service}:{method} {path}", params)


def graph_guard_transport(inner: Any, hook: Hook) -> Any:
    """An httpx transport that consults ``hook()`` (the provider's on_blocked) per request."""
    import httpx

    class GuardTransport(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            on_blocked = hook()
            method = request.method.upper()
            if on_blocked is not None and method not in READ_METHODS:
                body = _body(await request.aread())
                inner_requests = batch_requests(body) if (
                    method == "POST" and request.url.path.endswith("/$batch")) else None
                if inner_requests is None:
                    on_blocked(blocked_call("entra", "graph", method, str(request.url), body))
                    return httpx.Response(204, request=request)
                if not all(_is_read(r) for r in inner_requests):
                    return await self._batch(request, inner_requests, on_blocked)
            response: httpx.Response = await inner.handle_async_request(request)
            return response

        async def _batch(self, request: httpx.Request, requests: list[dict[str, Any]],
                         on_blocked: Callable[[BlockedCall], None]) -> httpx.Response:
            root = request.url.path[:-len("/$batch")]
            answers: dict[str, dict[str, Any]] = {}
            for item in requests:
                if not _is_read(item):
                    url = f"{root}/{str(item.get('url', '')).lstrip('/')}"
                    on_blocked(blocked_call("entra", "graph", str(item.get("method")).upper(),
                                            url, item.get("body")))
                    answers[str(item.get("id"))] = {"id": item.get("id"), "status": 204,
                                                    "headers": {}}
            # A read that depends on a blocked request depends on nothing sent.
            reads = [{**r, "dependsOn": [d for d in r["dependsOn"] if str(d) not in answers]}
                     if isinstance(r.get("dependsOn"), list) else r
                     for r in requests if _is_read(r)]
            if reads:
                headers = {k: v for k, v in request.headers.items()
                           if k.lower() != "content-length"}
                sent = httpx.Request("POST", request.url, headers=headers,
                                     json={"requests": reads}, extensions=request.extensions)
                reply: httpx.Response = await inner.handle_async_request(sent)
                await reply.aread()
                if reply.status_code in RETRIED:
                    # Not the whole batch back to kiota's retry, which would bring the
                    # blocked requests here (and to the journal) again: each read fails
                    # alone, and the batcher sends it again after its Retry-After.
                    failed = {"status": reply.status_code, "body": _body(reply.content),
                            "headers": {k: v for k, v in reply.headers.items()
                                        if k.lower() == "retry-after"}}
                    answers |= {str(r.get("id")): {"id": r.get("id"), **failed} for r in reads}
                elif reply.status_code != 200:  # the batch itself failed: so does ours
                    kept = {k: v for k, v in reply.headers.items()
                            if k.lower() in ("content-type", "retry-after")}
                    return httpx.Response(reply.status_code, headers=kept,
                                          content=reply.content, request=request)
                else:
                    for answer in json.loads(reply.content).get("responses") or []:
                        answers[str(answer.get("id"))] = answer
            # In the order asked, as Graph's own answers need not be.
            return httpx.Response(200, request=request, json={"responses": [
                answers[str(r.get("id"))] for r in requests if str(r.get("id")) in answers]})

        async def aclose(self) -> None:
            await inner.aclose()

    return GuardTransport()


def is_log_query(method: str, url: str, body: Any) -> bool:
    """A Log Analytics query that only reads: one KQL query, not a control command."""
    if method != "POST" or not _LOGS_QUERY.match(urlsplit(url).path):
        return False
    query = body.get("query") if isinstance(body, dict) else None
    return isinstance(query, str) and bool(query.strip()) and \
        not query.lstrip().startswith(".")


def arm_guard_policy(hook: Hook, *, service: str = "arm",
                     allow: Callable[[str, str, Any], bool] | None = None) -> Any:
    """An azure-core HTTPPolicy for ``per_retry_policies`` consulting ``hook()`` per request;
    ``allow(method, url, body)`` lets through a non-read request that only reads."""
    from azure.core.pipeline import PipelineResponse
    from azure.core.pipeline.policies import HTTPPolicy

    class ArmGuard(HTTPPolicy[Any, Any]):
        def send(self, request: Any) -> Any:
            on_blocked = hook()
            http = request.http_request
            if on_blocked is None or http.method.upper() in READ_METHODS:
                return self.next.send(request)
            # azure-core's rest requests hold ``content``, its legacy ones ``body``.
            content = getattr(http, "content", None) or getattr(http, "body", None) or b""
            body = _body(content.encode() if isinstance(content, str)
                         else content if isinstance(content, bytes) else b"")
            if allow is not None and allow(http.method.upper(), http.url, body):
                return self.next.send(request)
            on_blocked(blocked_call("azure", service, http.method.upper(), http.url, body))
            return PipelineResponse(http, _empty_response(http), request.context)

    return ArmGuard()


def logs_guard_policy(hook: Hook) -> Any:
    """The guard of LogsQueryClient: queries through, everything else blocked."""
    return arm_guard_policy(hook, service="log-analytics", allow=is_log_query)


def _empty_response(http_request: Any) -> Any:
    """A 204 with no body, in the shape azure-core's transports return."""
    import io

    import requests
    import urllib3
    from azure.core.rest._requests_basic import RestRequestsTransportResponse

    raw = requests.Response()
    raw.status_code = 204
    raw.url = http_request.url
    # The SDK streams the body off urllib3's response, as from a real socket.
    raw.raw = urllib3.HTTPResponse(body=io.BytesIO(b""), status=204, preload_content=False)
    return RestRequestsTransportResponse(  # type: ignore[no-untyped-call]
        request=http_request, internal_response=raw)


def loopback_http_policy() -> Any:
    """Allow bearer tokens over plain http to loopback addresses only (the simulated cloud).

    azure-core refuses a bearer token on a non-https URL; this lifts that for
    127.0.0.1/localhost and nothing else, so a wrong non-loopback http endpoint is
    still refused before any token is sent.
    """
    from azure.core.pipeline.policies import SansIOHTTPPolicy

    from rescind.providers.azure_credentials import is_loopback

    class LoopbackHttp(SansIOHTTPPolicy[Any, Any]):
        def on_request(self, request: Any) -> None:
            if is_loopback(request.http_request.url):
                request.context["enforce_https"] = False

    return LoopbackHttp()
