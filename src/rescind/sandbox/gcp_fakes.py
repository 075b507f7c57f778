"""The loopback fakes of the simulated project, speaking the real wire protocols.

- ``IamGrpcFake``: the IAM admin methods rescind uses, as a generic gRPC handler
  over google-cloud-iam's own message types (no generated stubs needed), with
  canonical status codes.
- ``RestFake``: Resource Manager ``projects.getIamPolicy``/``setIamPolicy`` (v3,
  etags, policy version 3), Logging ``entries:list`` (filter, order, paging, the
  per-project rate limit as 429 RESOURCE_EXHAUSTED), IAM workload identity pool
  providers get/patch, and the audit log sink's BigQuery dataset (``gcp_bigquery``),
  answering Google's JSON error shape.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from rescind.sandbox.gcp_bigquery import BigQueryFake
from rescind.sandbox.gcp_filter import FilterError, compile_filter
from rescind.sandbox.gcp_state import (
    PERMISSIONS,
    READ_PERMISSIONS,
    FakeError,
    GcpState,
    etag_of,
)

MAX_PAGE = 1000


# -- gRPC IAM ----------------------------------------------------------------------------
class IamGrpcFake:
    """google.iam.admin.v1.IAM on 127.0.0.1 (plaintext)."""

    def __init__(self, state: GcpState) -> None:
        import grpc
        from google.cloud import iam_admin_v1 as iam
        from google.iam.v1 import iam_policy_pb2, policy_pb2
        from google.protobuf import empty_pb2

        self.state = state
        pb2 = (iam_policy_pb2.GetIamPolicyRequest, iam_policy_pb2.SetIamPolicyRequest,
               policy_pb2.Policy, empty_pb2.Empty)
        methods: dict[str, tuple[Any, Any, Callable[[Any], Any]]] = {
            "GetServiceAccount": (iam.GetServiceAccountRequest, iam.ServiceAccount,
                                  self.get_account),
            "DisableServiceAccount": (iam.DisableServiceAccountRequest, empty_pb2.Empty,
                                      lambda r: self.set_account(r, True)),
            "EnableServiceAccount": (iam.EnableServiceAccountRequest, empty_pb2.Empty,
                                     lambda r: self.set_account(r, False)),
            "ListServiceAccountKeys": (iam.ListServiceAccountKeysRequest,
                                       iam.ListServiceAccountKeysResponse, self.list_keys),
            "GetServiceAccountKey": (iam.GetServiceAccountKeyRequest, iam.ServiceAccountKey,
                                     lambda r: self.key_message(self.state.key(r.name))),
            "DisableServiceAccountKey": (iam.DisableServiceAccountKeyRequest, empty_pb2.Empty,
                                         lambda r: self.set_key(r, True)),
            "EnableServiceAccountKey": (iam.EnableServiceAccountKeyRequest, empty_pb2.Empty,
                                        lambda r: self.set_key(r, False)),
            "DeleteServiceAccountKey": (iam.DeleteServiceAccountKeyRequest, empty_pb2.Empty,
                                        self.delete_key),
            "GetIamPolicy": (iam_policy_pb2.GetIamPolicyRequest, policy_pb2.Policy,
                             self.get_policy),
            "SetIamPolicy": (iam_policy_pb2.SetIamPolicyRequest, policy_pb2.Policy,
                             self.set_policy),
        }
        handlers = {}
        for name, (request_cls, response_cls, fn) in methods.items():
            raw_in, raw_out = request_cls in pb2, response_cls in pb2
            handlers[name] = grpc.unary_unary_rpc_method_handler(
                self._serve(name, fn),
                request_deserializer=(request_cls.FromString if raw_in
                                      else request_cls.deserialize),
                response_serializer=(response_cls.SerializeToString if raw_out
                                     else response_cls.serialize))
        self.server = grpc.server(ThreadPoolExecutor(max_workers=32,
                                                     thread_name_prefix="gcp-iam-fake"))
        self.server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("google.iam.admin.v1.IAM", handlers),))
        self.port = self.server.add_insecure_port("127.0.0.1:0")

    def start(self) -> str:
        self.server.start()
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.stop(grace=None).wait(5)

    def _serve(self, name: str, fn: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
        import grpc

        def serve(request: Any, context: Any) -> Any:
            if self.state.latency_ms:
                time.sleep(self.state.latency_ms / 1000)
            operation = name
            if name in ("GetIamPolicy", "SetIamPolicy"):
                operation = name  # the service account's own policy
            try:
                self.state.admit(operation)
                with self.state.lock:
                    answer = fn(request)
                if PERMISSIONS[operation] not in READ_PERMISSIONS:
                    self.state.changed()
                return answer
            except FakeError as exc:
                context.abort(getattr(grpc.StatusCode, exc.status), exc.message)

        return serve

    # -- methods ---------------------------------------------------------------------------
    def account_message(self, name: str) -> Any:
        from google.cloud import iam_admin_v1 as iam

        account = self.state.account(name)
        return iam.ServiceAccount(
            name=f"projects/{self.state.project}/serviceAccounts/{account.email}",
            project_id=self.state.project, unique_id=account.unique_id, email=account.email,
            display_name=account.display_name, disabled=account.disabled,
            oauth2_client_id=account.unique_id)

    def get_account(self, request: Any) -> Any:
        return self.account_message(request.name)

    def set_account(self, request: Any, disabled: bool) -> Any:
        from google.protobuf import empty_pb2

        self.state.account(request.name).disabled = disabled
        return empty_pb2.Empty()

    def key_message(self, key: Any) -> Any:
        from google.cloud import iam_admin_v1 as iam
        from google.protobuf import timestamp_pb2

        def stamp(when: datetime | None) -> Any:
            out = timestamp_pb2.Timestamp()
            out.FromDatetime(when or datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC))
            return out

        return iam.ServiceAccountKey(
            name=f"projects/{self.state.project}/serviceAccounts/{key.account}/keys/{key.id}",
            key_algorithm=iam.ServiceAccountKeyAlgorithm.KEY_ALG_RSA_2048,
            valid_after_time=stamp(key.created), valid_before_time=stamp(key.expires),
            key_origin=(iam.ServiceAccountKeyOrigin.GOOGLE_PROVIDED),
            key_type=getattr(iam.ListServiceAccountKeysRequest.KeyType, key.type),
            disabled=key.disabled)

    def list_keys(self, request: Any) -> Any:
        from google.cloud import iam_admin_v1 as iam

        account = self.state.account(request.name)
        wanted = {int(t) for t in request.key_types}
        keys = [self.key_message(k) for k in self.state.keys.values()
                if k.account == account.email]
        if wanted:
            keys = [k for k in keys if int(k.key_type) in wanted]
        return iam.ListServiceAccountKeysResponse(keys=keys)

    def set_key(self, request: Any, disabled: bool) -> Any:
        from google.protobuf import empty_pb2

        key = self.state.key(request.name)
        if key.type == "SYSTEM_MANAGED":
            raise FakeError("FAILED_PRECONDITION", "System-managed keys cannot be changed.")
        key.disabled = disabled
        return empty_pb2.Empty()

    def delete_key(self, request: Any) -> Any:
        from google.protobuf import empty_pb2

        key = self.state.key(request.name)
        if key.type == "SYSTEM_MANAGED":
            raise FakeError("FAILED_PRECONDITION", "System-managed keys cannot be deleted.")
        del self.state.keys[key.id]
        return empty_pb2.Empty()

    def get_policy(self, request: Any) -> Any:
        return _policy_message(self.state.account(request.resource).policy)

    def set_policy(self, request: Any) -> Any:
        from google.protobuf.json_format import MessageToDict

        account = self.state.account(request.resource)
        account.policy = _write_policy(account.policy,
                                       MessageToDict(request.policy,
                                                     preserving_proto_field_name=True))
        return _policy_message(account.policy)


def _policy_message(policy: dict[str, Any]) -> Any:
    from google.iam.v1 import policy_pb2
    from google.protobuf.json_format import ParseDict

    return ParseDict(policy, policy_pb2.Policy())


def _write_policy(current: dict[str, Any], sent: dict[str, Any]) -> dict[str, Any]:
    """setIamPolicy's checks: the etag must match; conditions need version 3."""
    if sent.get("etag", "") and sent["etag"] != current.get("etag"):
        raise FakeError("ABORTED", "There were concurrent policy changes. Please retry the "
                                   "whole read-modify-write with exponential backoff.")
    bindings = [dict(b) for b in sent.get("bindings", [])]
    if any(b.get("condition") for b in bindings) and int(sent.get("version", 1)) < 3:
        raise FakeError("INVALID_ARGUMENT", "Conditional bindings require policy version 3.")
    policy: dict[str, Any] = {"version": 3 if any(b.get("condition") for b in bindings)
                              else int(sent.get("version", 1) or 1), "bindings": bindings}
    policy["etag"] = etag_of(policy)
    return policy


# -- REST -------------------------------------------------------------------------------------
class RestFake:
    """Resource Manager, Logging and IAM pool providers over HTTP/JSON on 127.0.0.1."""

    def __init__(self, state: GcpState) -> None:
        self.state = state
        self.bigquery = BigQueryFake(state)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else {}
                except ValueError:
                    body = None
                status, answer = fake.handle(method, self.path, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            def do_PATCH(self) -> None:
                self._answer("PATCH")

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                """Quiet: the responder's terminal is not the fake's log."""

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 128

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="gcp-rest-fake",
                                       daemon=True)

    def start(self) -> str:
        self.thread.start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def handle(self, method: str, target: str, body: Any) -> tuple[int, Any]:
        if self.state.latency_ms:
            time.sleep(self.state.latency_ms / 1000)
        url = urlsplit(target)
        path, query = url.path, parse_qs(url.query)
        try:
            if body is None:
                raise FakeError("INVALID_ARGUMENT", "Invalid JSON payload received.")
            answer = self.route(method, path, query, body)
            if method == "PATCH" or path.endswith(":setIamPolicy"):
                self.state.changed()
            return 200, answer
        except FakeError as exc:
            return exc.http, {"error": {"code": exc.http, "message": exc.message,
                                        "status": exc.status}}

    def route(self, method: str, path: str, query: dict[str, list[str]],
              body: dict[str, Any]) -> Any:
        state = self.state
        if method == "POST" and path.startswith("/v3/projects/") and path.endswith(
                (":getIamPolicy", ":setIamPolicy")):
            project, _, verb = path[len("/v3/projects/"):].partition(":")
            state.admit(f"projects.{verb}")
            with state.lock:
                if project not in (state.project, state.project_number):
                    raise FakeError("PERMISSION_DENIED", f"Permission 'resourcemanager."
                                    f"projects.{verb}' denied on resource "
                                    "'//cloudresourcemanager.googleapis.com/projects/"
                                    f"{project}' (or it may not exist).")
                if verb == "getIamPolicy":
                    version = int((body.get("options") or {}).get("requestedPolicyVersion", 0))
                    if version < 3 and any(b.get("condition")
                                           for b in state.project_policy["bindings"]):
                        raise FakeError("INVALID_ARGUMENT", "The policy has conditional "
                                        "role bindings: request policy version 3.")
                    return state.project_policy
                state.project_policy = _write_policy(state.project_policy,
                                                     body.get("policy") or {})
                return state.project_policy
        if method == "POST" and path == "/v2/entries:list":
            return self.entries_list(body)
        if path.startswith("/bigquery/v2/"):
            return self.bigquery.handle(method, path, query, body)
        if "/workloadIdentityPools/" in path and path.startswith("/v1/projects/"):
            if method == "GET":
                state.admit("providers.get")
                with state.lock:
                    return dict(state.provider(path))
            if method == "PATCH":
                state.admit("providers.patch")
                mask = (query.get("updateMask") or [""])[0].split(",")
                with state.lock:
                    provider = state.provider(path)
                    if "disabled" in mask:
                        provider["disabled"] = bool(body.get("disabled"))
                    return {"name": f"{provider['name']}/operations/op-{len(state.requests)}",
                            "done": True, "response": dict(provider)}
        raise FakeError("NOT_FOUND", f"{method} {path} is not part of the simulated project")

    def entries_list(self, body: dict[str, Any]) -> Any:
        state = self.state
        names = body.get("resourceNames") or []
        projects = [n.split("/", 1)[1] for n in names if n.startswith("projects/")]
        state.admit("entries.list", project=projects[0] if projects else None)
        size = int(body.get("pageSize") or 50)
        if size > MAX_PAGE or size < 1:
            raise FakeError("INVALID_ARGUMENT", f"pageSize must be between 1 and {MAX_PAGE}")
        text = str(body.get("filter") or "")
        try:
            test = compile_filter(text, datetime.now(UTC))
        except (FilterError, ValueError) as exc:
            raise FakeError("INVALID_ARGUMENT", f"Invalid filter: {exc}") from None
        if state.project not in projects:
            return {}
        descending = "desc" in str(body.get("orderBy") or "").lower()
        entries = state.matching(text, test)
        if descending:
            entries = entries[::-1]
        start = int(base64.urlsafe_b64decode(body["pageToken"]).decode()) \
            if body.get("pageToken") else 0
        page = entries[start:start + size]
        answer: dict[str, Any] = {"entries": page} if page else {}
        if start + size < len(entries):
            answer["nextPageToken"] = base64.urlsafe_b64encode(
                str(start + size).encode()).decode()
        return answer
