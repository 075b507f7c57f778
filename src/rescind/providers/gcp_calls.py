"""Google Cloud calls: retries, error translation, replies as dicts, IAM policies.

``GcpCalls`` is the part of ``GcpProvider`` that sends a request through one of
its clients (``iam``, ``projects_client``, ``rest``) and answers a JSON-shaped
dict, or an ActionError naming the permission the call needed.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from rescind.providers.gcp_errors import RETRY_STATUSES, status_of, translate_error
from rescind.providers.gcp_guard import Blocked

if TYPE_CHECKING:
    from rescind.providers.gcp_guard import RestGate

T = TypeVar("T")
MAX_ATTEMPTS = 6


def proto_dict(message: Any) -> dict[str, Any]:
    """A response message (proto-plus or protobuf) as its JSON-shaped dict."""
    if message is None:
        return {}
    if isinstance(message, dict):
        return message
    if hasattr(type(message), "pb") and hasattr(type(message), "to_dict"):
        data: dict[str, Any] = type(message).to_dict(
            message, use_integers_for_enums=False, preserving_proto_field_name=True)
        return data
    from google.protobuf.json_format import MessageToDict

    result: dict[str, Any] = MessageToDict(message, preserving_proto_field_name=True)
    return result


class GcpCalls:
    """Mixin for GcpProvider: every call to Google, retried and translated."""

    max_attempts: int
    backoff_s: float
    call_timeout_s: float  # one call's deadline

    if TYPE_CHECKING:
        def iam(self) -> Any: ...
        def projects_client(self) -> Any: ...
        def rest(self) -> RestGate: ...

    def invoke(self, fn: Callable[[], T], *, permission: str,
               resource: str | None = None) -> T:
        """``fn()`` with RESOURCE_EXHAUSTED / UNAVAILABLE retried (backoff, full jitter).

        Any other failure is translated to an ActionError naming ``permission``; a
        call the dry-run guard blocked in the REST interceptor answers what the
        guard gives in its place.
        """
        delay = self.backoff_s
        rng = random.Random()
        for attempt in range(1, self.max_attempts + 1):
            try:
                return fn()
            except Blocked as blocked:
                return blocked.response  # type: ignore[no-any-return]
            except Exception as exc:
                if status_of(exc) in RETRY_STATUSES and attempt < self.max_attempts:
                    time.sleep(rng.uniform(0, delay))
                    delay = min(delay * 2, 20.0)
                    continue
                raise translate_error(exc, permission=permission, resource=resource) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def iam_call(self, method: str, request: dict[str, Any], *, permission: str,
                 resource: str | None = None) -> dict[str, Any]:
        """``IAMClient.<method>(request=...)`` as a dict; library retries off (ours apply)."""
        client = self.iam()
        reply = self.invoke(lambda: getattr(client, method)(request=request, retry=None,
                                                            timeout=self.call_timeout_s),
                            permission=permission, resource=resource)
        return proto_dict(reply)

    def iam_list(self, method: str, request: dict[str, Any], field: str, *,
                 permission: str, resource: str | None = None) -> list[dict[str, Any]]:
        """Every item of an IAM list call (a failed listing is retried from its start)."""
        client = self.iam()

        def listing() -> list[dict[str, Any]]:
            reply = getattr(client, method)(request=request, retry=None,
                                            timeout=self.call_timeout_s)
            if hasattr(reply, "pages"):
                return [proto_dict(item) for item in reply]
            return [dict(item) for item in proto_dict(reply).get(field, [])]

        return self.invoke(listing, permission=permission, resource=resource)

    def project_policy(self, project: str) -> dict[str, Any]:
        """The project's IAM policy, version 3 (conditional bindings intact), with its etag."""
        client = self.projects_client()
        return self._get_policy(client.get_iam_policy, f"projects/{project}",
                                "resourcemanager.projects.getIamPolicy")

    def set_project_policy(self, project: str, policy: dict[str, Any]) -> dict[str, Any]:
        """Write ``policy`` back with its etag unchanged; a concurrent change is a conflict."""
        client = self.projects_client()
        return self._set_policy(client.set_iam_policy, f"projects/{project}", policy,
                                "resourcemanager.projects.setIamPolicy")

    def account_policy(self, email: str) -> dict[str, Any]:
        """A service account's own IAM policy (who may act as it), version 3."""
        return self._get_policy(self.iam().get_iam_policy,
                                f"projects/-/serviceAccounts/{email}",
                                "iam.serviceAccounts.getIamPolicy")

    def set_account_policy(self, email: str, policy: dict[str, Any]) -> dict[str, Any]:
        return self._set_policy(self.iam().set_iam_policy, f"projects/-/serviceAccounts/{email}",
                                policy, "iam.serviceAccounts.setIamPolicy")

    def _get_policy(self, method: Callable[..., Any], resource: str,
                    permission: str) -> dict[str, Any]:
        from google.iam.v1 import iam_policy_pb2, options_pb2

        request = iam_policy_pb2.GetIamPolicyRequest(
            resource=resource, options=options_pb2.GetPolicyOptions(requested_policy_version=3))
        reply = self.invoke(
            lambda: method(request=request, retry=None, timeout=self.call_timeout_s),
            permission=permission, resource=resource)
        return proto_dict(reply)

    def _set_policy(self, method: Callable[..., Any], resource: str, policy: dict[str, Any],
                    permission: str) -> dict[str, Any]:
        from google.iam.v1 import iam_policy_pb2, policy_pb2
        from google.protobuf.json_format import ParseDict

        request = iam_policy_pb2.SetIamPolicyRequest(
            resource=resource, policy=ParseDict({**policy, "version": 3}, policy_pb2.Policy()))
        reply = self.invoke(
            lambda: method(request=request, retry=None, timeout=self.call_timeout_s),
            permission=permission, resource=resource)
        return proto_dict(reply)

    def rest_call(self, method: str, url: str, *, permission: str,
                  resource: str | None = None, body: dict[str, Any] | None = None,
                  params: dict[str, str] | None = None) -> dict[str, Any]:
        """A JSON REST call through the guarded session; HTTP errors as google.api_core's."""
        from google.api_core import exceptions as gx

        session = self.rest()

        def send() -> dict[str, Any]:
            reply = session.request(method, url, json=body, params=params,
                                    timeout=self.call_timeout_s)
            if reply.status_code >= 400:
                error: Any = gx.from_http_response
                raise error(reply)
            data: dict[str, Any] = reply.json() if reply.content else {}
            return data

        return self.invoke(send, permission=permission, resource=resource)
