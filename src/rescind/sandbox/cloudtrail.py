"""A fake CloudTrail endpoint serving LookupEvents exactly as botocore speaks it.

moto does not implement LookupEvents, so this small HTTP server does: JSON 1.1
over POST with ``X-Amz-Target: com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.
LookupEvents``, one lookup attribute, StartTime/EndTime, MaxResults 1–50, NextToken
chains, newest first, per region (taken from the SigV4 credential scope), and the
published limit of 2 requests/s per account per region enforced with a token bucket
that answers HTTP 400 ``ThrottlingException`` like the real service, so botocore's
retry logic and rescind's limiter are exercised as in production. CloudTrail Lake's
query operations, on the same endpoint, read the same records (cloudtrail_lake.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from rescind.sandbox.cloudtrail_lake import OPERATIONS as LAKE_OPERATIONS
from rescind.sandbox.cloudtrail_lake import FakeLake, LakeError

TARGET_PREFIX = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."
LOOKUP_KEYS = frozenset({"EventId", "EventName", "ReadOnly", "Username", "ResourceType",
                         "ResourceName", "EventSource", "AccessKeyId"})
RETENTION = timedelta(days=90)
_SCOPE_RE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request")

# requestParameters keys whose values name a resource, as LookupEvents lists them.
_PARAM_RESOURCES = (
    ("userName", "AWS::IAM::User"), ("roleName", "AWS::IAM::Role"),
    ("groupName", "AWS::IAM::Group"), ("policyArn", "AWS::IAM::Policy"),
    ("accessKeyId", "AWS::IAM::AccessKey"), ("instanceProfileName", "AWS::IAM::InstanceProfile"),
    ("secretId", "AWS::SecretsManager::Secret"), ("name", "AWS::CloudTrail::Trail"),
    ("bucketName", "AWS::S3::Bucket"),
)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def lookup_username(identity: Mapping[str, Any]) -> str | None:
    """The ``Username`` LookupEvents shows for a caller (session name for roles)."""
    kind = identity.get("type")
    if kind in ("IAMUser", "Unknown", "IdentityCenterUser"):
        name = identity.get("userName")
        return str(name) if name else None
    if kind == "Root":
        return "root"
    if kind in ("AssumedRole", "FederatedUser"):
        arn = str(identity.get("arn", ""))
        return arn.rsplit("/", 1)[-1] or None
    return None


def lookup_resources(record: Mapping[str, Any]) -> list[dict[str, str]]:
    """LookupEvents' ``Resources``: from the record's resources and named request params."""
    found: list[dict[str, str]] = []
    for res in record.get("resources") or []:
        if isinstance(res, Mapping) and res.get("ARN"):
            found.append({"ResourceType": str(res.get("type", "")),
                          "ResourceName": str(res["ARN"])})
    params = record.get("requestParameters")
    if isinstance(params, Mapping):
        for key, kind in _PARAM_RESOURCES:
            value = params.get(key)
            if isinstance(value, str) and value and not (
                    key == "name" and record.get("eventSource") != "cloudtrail.amazonaws.com"):
                found.append({"ResourceType": kind, "ResourceName": value})
    response = record.get("responseElements")
    if isinstance(response, Mapping) and isinstance(response.get("accessKey"), Mapping):
        created = response["accessKey"].get("accessKeyId")
        if created:
            found.append({"ResourceType": "AWS::IAM::AccessKey", "ResourceName": str(created)})
    return found


def lookup_view(record: Mapping[str, Any]) -> dict[str, Any]:
    """One ``Events[]`` entry as LookupEvents returns it (EventTime as epoch seconds)."""
    identity = record.get("userIdentity") or {}
    when = datetime.fromisoformat(str(record["eventTime"]).replace("Z", "+00:00"))
    view: dict[str, Any] = {
        "EventId": record["eventID"],
        "EventName": record["eventName"],
        "ReadOnly": "true" if record.get("readOnly") else "false",
        "EventTime": when.timestamp(),
        "EventSource": record["eventSource"],
        "Resources": lookup_resources(record),
        "CloudTrailEvent": json.dumps(record, separators=(",", ":")),
    }
    if identity.get("accessKeyId"):
        view["AccessKeyId"] = identity["accessKeyId"]
    username = lookup_username(identity)
    if username:
        view["Username"] = username
    return view


@dataclass
class _Bucket:
    """Token bucket: ``rate`` tokens a second, at most ``burst`` saved up."""

    rate: float
    burst: float
    tokens: float
    stamp: float

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class FakeCloudTrail:
    """The LookupEvents API of one account, all regions, on 127.0.0.1."""

    def __init__(self, account_id: str, *, rate: float = 2.0, burst: float = 2.0,
                 latency_ms: float = 0.0) -> None:
        self.account_id = account_id
        self.rate, self.burst = rate, burst
        self.latency_ms = latency_ms
        self._lock = threading.Lock()
        self._views: dict[str, list[dict[str, Any]]] = {}
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self.requests: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        # CloudTrail Lake over the same records (cloudtrail_lake.py).
        self.lake = FakeLake(account_id, self.all_records)

    # -- data ---------------------------------------------------------------
    def add_records(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Add full CloudTrail records; each is served from its ``awsRegion``."""
        with self._lock:
            touched: set[str] = set()
            for record in records:
                region = str(record.get("awsRegion") or "us-east-1")
                self._views.setdefault(region, []).append(lookup_view(record))
                touched.add(region)
            for region in touched:
                # Newest first, ties broken by id so paging is a total order.
                self._views[region].sort(key=lambda v: (v["EventTime"], v["EventId"]),
                                         reverse=True)

    def clear(self) -> None:
        """Forget every record (an exercise's account seeded again)."""
        with self._lock:
            self._views.clear()

    def records(self, region: str) -> list[dict[str, Any]]:
        """The full records served in a region, newest first (for tests and checks)."""
        with self._lock:
            return [json.loads(v["CloudTrailEvent"]) for v in self._views.get(region, [])]

    def all_records(self) -> list[dict[str, Any]]:
        """Every region's full records (what an event data store of the account holds)."""
        with self._lock:
            views = [v for region in self._views.values() for v in region]
        return [json.loads(v["CloudTrailEvent"]) for v in views]

    def reset_counters(self) -> None:
        """Zero the counts and refill every region's bucket (between test cases)."""
        with self._lock:
            self.requests.clear()
            self.throttled.clear()
            self._buckets.clear()

    # -- server -------------------------------------------------------------
    def start(self) -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="fake-cloudtrail",
                                        daemon=True)
        self._thread.start()
        return self.url

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake CloudTrail is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # -- API ----------------------------------------------------------------
    def admit(self, region: str) -> bool:
        """Count a request against the region's limit; False means throttle it."""
        with self._lock:
            self.requests[region] += 1
            key = (self.account_id, region)
            now = time.monotonic()
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(self.rate, self.burst, self.burst, now)
            if bucket.take(now):
                return True
            self.throttled[region] += 1
            return False

    def lookup_events(self, region: str, body: Mapping[str, Any]) -> dict[str, Any]:
        attrs = body.get("LookupAttributes") or []
        if not isinstance(attrs, list) or len(attrs) > 1:
            raise ApiError(400, "InvalidLookupAttributesException",
                           "You can only specify one lookup attribute.")
        attr: tuple[str, str] | None = None
        if attrs:
            key, value = attrs[0].get("AttributeKey"), attrs[0].get("AttributeValue")
            if key not in LOOKUP_KEYS or not isinstance(value, str) or not value:
                raise ApiError(400, "InvalidLookupAttributesException",
                               f"Invalid lookup attribute: {key}")
            attr = (key, value)
        max_results = body.get("MaxResults", 50)
        if not isinstance(max_results, int) or not 1 <= max_results <= 50:
            raise ApiError(400, "InvalidMaxResultsException",
                           "Value for MaxResults must be between 1 and 50.")
        category = body.get("EventCategory")
        if category not in (None, "insight"):
            raise ApiError(400, "InvalidEventCategoryException",
                           f"Invalid EventCategory: {category}")
        now = time.time()
        start = _epoch(body.get("StartTime"), 0.0)
        end = _epoch(body.get("EndTime"), now)
        if start > end:
            raise ApiError(400, "InvalidTimeRangeException",
                           "Start time must be before end time.")
        start = max(start, now - RETENTION.total_seconds())  # only the last 90 days exist
        query = hashlib.sha256(json.dumps(
            [attr, body.get("StartTime"), body.get("EndTime"), category],
            sort_keys=True).encode()).hexdigest()[:16]
        after = _decode_token(body.get("NextToken"), query)
        if category == "insight":
            return {"Events": []}  # no Insights events are simulated
        with self._lock:
            views = self._views.get(region, [])
            page: list[dict[str, Any]] = []
            more = False
            for view in views:
                if after is not None and (view["EventTime"], view["EventId"]) >= after:
                    continue
                if not start <= view["EventTime"] <= end or not _matches(view, attr):
                    continue
                if len(page) == max_results:
                    more = True
                    break
                page.append(view)
        result: dict[str, Any] = {"Events": [dict(v) for v in page]}
        if more:
            last = page[-1]
            result["NextToken"] = _encode_token(query, last["EventTime"], last["EventId"])
        return result


def _epoch(value: Any, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, int | float):
        return float(value)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(
            UTC).timestamp()
    except ValueError:
        raise ApiError(400, "InvalidTimeRangeException", f"Invalid time: {value}") from None


def _matches(view: Mapping[str, Any], attr: tuple[str, str] | None) -> bool:
    if attr is None:
        return True
    key, value = attr
    if key in ("ResourceName", "ResourceType"):
        return any(r.get(key) == value for r in view["Resources"])
    if key == "ReadOnly":
        return bool(view["ReadOnly"] == value.lower())
    return bool(view.get(key) == value)


def _encode_token(query: str, event_time: float, event_id: str) -> str:
    raw = json.dumps({"q": query, "t": event_time, "i": event_id}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_token(token: Any, query: str) -> tuple[float, str] | None:
    if token is None:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(str(token).encode()))
        if data["q"] != query:
            raise ValueError("token from another query")
        return float(data["t"]), str(data["i"])
    except (ValueError, KeyError, TypeError):
        raise ApiError(400, "InvalidNextTokenException",
                       "Invalid NextToken: the token is not valid for this request.") from None


def _json_body(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise ApiError(400, "SerializationException", "Malformed JSON body") from None
    if not isinstance(body, dict):
        raise ApiError(400, "SerializationException", "Expected a JSON object")
    return body


def _handler_for(fake: FakeCloudTrail) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as botocore's pool expects
        server_version = "fake-cloudtrail"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Quiet: the sandbox must not write to the responder's terminal."""

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if fake.latency_ms:
                time.sleep(fake.latency_ms / 1000)
            try:
                self._reply(200, self._dispatch(raw))
            except ApiError as err:
                self._reply(err.status, {"__type": err.code, "message": err.message})

        def _dispatch(self, raw: bytes) -> dict[str, Any]:
            match = _SCOPE_RE.search(self.headers.get("Authorization", ""))
            if match is None:
                raise ApiError(403, "MissingAuthenticationTokenException",
                               "Missing Authentication Token")
            region = match.group(2)
            target = self.headers.get("X-Amz-Target", "")
            if target.removeprefix(TARGET_PREFIX) in LAKE_OPERATIONS:
                try:
                    return fake.lake.handle(target.removeprefix(TARGET_PREFIX),
                                            _json_body(raw))
                except LakeError as err:
                    raise ApiError(400, err.code, err.message) from None
            if not fake.admit(region):
                raise ApiError(400, "ThrottlingException", "Rate exceeded")
            if not target.startswith(TARGET_PREFIX):
                raise ApiError(400, "UnknownOperationException", "Unknown operation")
            operation = target[len(TARGET_PREFIX):]
            if operation != "LookupEvents":
                raise ApiError(400, "UnsupportedOperationException",
                               f"{operation} is not supported by the simulated account")
            return fake.lookup_events(region, _json_body(raw))

        def _reply(self, status: int, payload: Mapping[str, Any]) -> None:
            data = json.dumps(payload, separators=(",", ":")).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
            self.end_headers()
            self.wfile.write(data)

    return Handler
