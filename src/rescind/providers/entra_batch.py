"""Microsoft Graph JSON batching: many users' reads and changes in few requests.

Graph takes up to 20 requests in one ``POST /$batch`` and answers each with its own
status, headers and body. A caller awaits one request (``EntraProvider.batched``);
the batcher gathers what callers ask in the same turn of the event loop into
batches of 20, sends at most ``width`` batches at once, and settles each caller with
its own item: a 2xx answer's body, or the ActionError its status maps to (404
not-found, 403 naming the permission, ...). An item answered 429, 503 or 504 goes again
in a later batch after its ``Retry-After``: kiota's retry handler sees only the
batch's own status, 200.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from rescind.errors import ActionError, ErrorKind
from rescind.providers.entra_errors import graph_item_error

BATCH_LIMIT = 20  # Graph's documented limit of requests in one $batch
MAX_RETRIES = 3  # as kiota's retry handler, for a throttled item
MAX_WAIT_S = 180.0  # a longer Retry-After fails the item: the responder decides
RETRIED = frozenset({429, 503, 504})  # the statuses kiota retries a whole request on

Send = Callable[[dict[str, Any], str], Awaitable[dict[str, Any]]]


@dataclass
class _Item:
    method: str
    url: str  # relative to Graph's version root: "/users/{id}?$select=..."
    body: Any
    permission: str
    resource: str
    future: asyncio.Future[Any]
    tries: int = 0

    def request(self, item_id: str) -> dict[str, Any]:
        out: dict[str, Any] = {"id": item_id, "method": self.method, "url": self.url}
        if self.body is not None:
            out |= {"body": self.body, "headers": {"Content-Type": "application/json"}}
        return out


class GraphBatcher:
    """The batches of one event loop; ``send(body, permissions)`` posts one ``$batch``
    and returns its decoded answer, raising ActionError when the batch itself fails."""

    def __init__(self, send: Send, width: int) -> None:
        self._send = send
        self._pending: list[_Item] = []
        self._scheduled = False
        self._slots = asyncio.Semaphore(width)
        self._tasks: set[asyncio.Task[None]] = set()

    async def request(self, method: str, url: str, body: Any = None, *, permission: str,
                      resource: str) -> Any:
        """One request's answer body (None for 204), sent in a batch with others."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue(_Item(method.upper(), url, body, permission, resource, future))
        return await future

    def _queue(self, item: _Item) -> None:
        self._pending.append(item)
        if len(self._pending) >= BATCH_LIMIT:
            self._flush(full_only=True)
        elif not self._scheduled:
            # Everything asked before the loop's next turn rides in the same batches.
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self, full_only: bool = False) -> None:
        if not full_only:
            self._scheduled = False
        while self._pending and (len(self._pending) >= BATCH_LIMIT or not full_only):
            chunk, self._pending = self._pending[:BATCH_LIMIT], self._pending[BATCH_LIMIT:]
            self._spawn(self._run(chunk))

    def _spawn(self, work: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._tasks.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._tasks.discard)

    async def _run(self, items: list[_Item]) -> None:
        permissions = ", ".join(sorted({i.permission for i in items}))
        body = {"requests": [item.request(str(n)) for n, item in enumerate(items)]}
        async with self._slots:
            try:
                answer = await self._send(body, permissions)
            except Exception as exc:  # the batch failed as a whole: so did each request
                for item in items:
                    if not item.future.done():
                        item.future.set_exception(exc)
                return
        replies = {str(r.get("id")): r for r in answer.get("responses") or []
                   if isinstance(r, dict)}
        for n, item in enumerate(items):
            self._settle(item, replies.get(str(n)))

    def _settle(self, item: _Item, reply: dict[str, Any] | None) -> None:
        if item.future.done():  # its caller was cancelled
            return
        if reply is None:
            item.future.set_exception(ActionError(
                f"Graph's batch answer had nothing for {item.resource}", kind=ErrorKind.NETWORK,
                fix="retry"))
            return
        status = int(reply.get("status") or 0)
        if 200 <= status < 300:
            item.future.set_result(reply.get("body"))
            return
        wait = _retry_after(reply.get("headers"), item.tries)
        if status in RETRIED and item.tries < MAX_RETRIES and wait <= MAX_WAIT_S:
            item.tries += 1
            self._spawn(self._again(item, wait))
            return
        item.future.set_exception(graph_item_error(status, reply.get("body"),
                                                   permission=item.permission,
                                                   resource=item.resource))

    async def _again(self, item: _Item, wait: float) -> None:
        await asyncio.sleep(wait)
        if not item.future.done():
            self._queue(item)


def _retry_after(headers: Any, tries: int) -> float:
    """The item's Retry-After in seconds, else kiota's backoff (1, 2, 4 s)."""
    for key, value in (headers or {}).items() if isinstance(headers, dict) else ():
        if str(key).lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                break  # an HTTP date: Graph sends seconds; fall back to backoff
    return float(2 ** tries)
