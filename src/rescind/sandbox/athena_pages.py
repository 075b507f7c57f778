"""Athena's GetQueryResults paging, which moto leaves out, in front of moto.

moto answers GetQueryResults with every row it was given (its
``/moto-api/static/athena/query-results`` queue) in one reply and ignores MaxResults
and NextToken. AWS returns at most MaxResults rows (1–1000, default 1000) a page,
the column labels as the first row of the first page only, and a NextToken while
rows remain. This WSGI layer cuts moto's reply into those pages, so a client's
paging is exercised as against AWS.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from rescind.sandbox.moto_requests import read_body
from rescind.sandbox.page_tokens import page_token, token_offset

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
TARGET = "AmazonAthena.GetQueryResults"
MAX_RESULTS = 1000


def paged(app: WsgiApp) -> WsgiApp:
    """``app`` with Athena's GetQueryResults answered page by page."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("HTTP_X_AMZ_TARGET") != TARGET:
            return app(environ, start_response)
        try:
            request = json.loads(read_body(environ) or b"{}")
            limit = int(request.get("MaxResults", MAX_RESULTS))
            offset = token_offset(request.get("NextToken"), str(request.get("QueryExecutionId")))
            if not 1 <= limit <= MAX_RESULTS:
                raise ValueError(f"MaxResults must be between 1 and {MAX_RESULTS}")
        except (ValueError, TypeError) as exc:
            return _reply(start_response, "400 Bad Request",
                          {"__type": "InvalidRequestException", "Message": str(exc)})
        caught: list[Any] = []

        def keep(status: str, headers: list[tuple[str, str]], *_: Any) -> Any:
            caught.append(status)
            return lambda data: None

        body = b"".join(app(environ, keep))
        if not caught or not caught[0].startswith("200"):
            return _reply(start_response, caught[0] if caught else "500 Internal Server Error",
                          json.loads(body or b"{}"))
        reply = json.loads(body)
        rows = reply.get("ResultSet", {}).get("Rows", [])
        reply["ResultSet"]["Rows"] = rows[offset:offset + limit]
        if offset + limit < len(rows):
            reply["NextToken"] = page_token(str(request.get("QueryExecutionId")),
                                            offset + limit)
        return _reply(start_response, "200 OK", reply)

    return wrapped


def _reply(start_response: Callable[..., Any], status: str,
           payload: dict[str, Any]) -> list[bytes]:
    data = json.dumps(payload).encode()
    start_response(status, [("Content-Type", "application/x-amz-json-1.1"),
                            ("Content-Length", str(len(data)))])
    return [data]
