"""Exercise injects on the simulated AWS account, and the account's state across a crash.

An inject's attacker calls are made on moto by the scenario's seeder and written
to the fake CloudTrail at the time the inject fires, so the team finds them in the
timeline exactly as they would a real attacker's. Denied operations answer the
responder's calls with AccessDenied (and the denial is in CloudTrail too).

The account is saved as a log (``moto_requests.RequestLog``) beside the incident:
the seeding's anchor time, then in order every inject fired, every denial, and
every mutating request of the responder's that moto accepted. ``restore`` seeds
the scenario again at the same anchor and replays the log, so a resumed exercise
holds what the crashed one did: the attacker's backdoor key, the responder's
deactivation.
"""

from __future__ import annotations

import random
import threading
import zlib
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rescind.errors import UsageError
from rescind.sandbox.aws_seed import SEED_HEADER, Seeder, iam_backend
from rescind.sandbox.moto_requests import (
    RequestLog,
    denied_reply,
    made_key,
    operation,
    read_body,
    replay_request,
    scope,
)
from rescind.sandbox.scenario import Identity, InjectSpec, TrailEventSpec
from rescind.sandbox.scenario_exercise import Fired
from rescind.sandbox.trail import build_record, is_read_only

if TYPE_CHECKING:
    from rescind.sandbox.aws import AwsSandbox

_SEED_ENV = "HTTP_" + SEED_HEADER.upper().replace("-", "_")
# Ids of inject events in the trail: far past any scenario history's index.
_INJECT_INDEX = 1_000_000

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class AwsExercise:
    """The exercise side of one simulated account: injects, denials, the saved state."""

    def __init__(self, sandbox: AwsSandbox) -> None:
        self.sandbox = sandbox
        self.denied: set[str] = set()  # "DeleteAccessKey" or "iam:DeleteAccessKey"
        self.log: RequestLog | None = None
        self._lock = threading.Lock()

    # -- requests (moto's server threads) ------------------------------------------
    def handle(self, app: WsgiApp, environ: dict[str, Any],
               start_response: Callable[..., Any]) -> list[bytes]:
        """Answer one request: refuse a denied operation, log an accepted change."""
        body = read_body(environ)
        if environ.get(_SEED_ENV):
            return list(app(environ, start_response))
        op = operation(environ, body)
        if op is not None and self._is_denied(environ, op):
            status, headers, reply = denied_reply(environ, op, self.sandbox.responder_arn)
            self._log_denial(environ, op)
            start_response(status, headers)
            return [reply]
        seen: list[str] = []

        def capture(status: str, headers: Any, exc_info: Any = None) -> Any:
            seen.append(status)
            return start_response(status, headers, exc_info) if exc_info else \
                start_response(status, headers)

        answer = list(app(environ, capture))
        log = self.log
        if (log is not None and op is not None and not is_read_only(op)
                and seen and seen[0][:1] in ("2", "3")):
            log.request(environ, body, op, b"".join(answer))
        return answer

    def _is_denied(self, environ: dict[str, Any], op: str) -> bool:
        if not self.denied:
            return False
        found = scope(environ)
        service = found[2] if found else ""
        return op in self.denied or f"{service}:{op}" in self.denied

    def _log_denial(self, environ: dict[str, Any], op: str) -> None:
        found = scope(environ)
        service = found[2] if found else "iam"
        spec = TrailEventSpec.model_validate({
            "time": "now", "eventName": op, "eventSource": f"{service}.amazonaws.com",
            "errorCode": "AccessDenied",
            "identity": Identity(type="IAMUser", user=self.sandbox.responder_user,
                                 access_key_id=self.sandbox.responder_key_id)})
        record = self._record(spec, datetime.now(UTC), random.randrange(1 << 30))
        record["sourceIPAddress"] = "127.0.0.1"
        record["userAgent"] = "rescind (exercise)"
        self.sandbox.trail.add_records([record])
        if self.log is not None:
            self.log.write({"op": "trail", "record": record})

    # -- injects (the engine's thread) ------------------------------------------------
    def fire(self, inject: InjectSpec, at: datetime, *, log: bool = True) -> Fired:
        """Make the inject's attacker calls and denials real; the ids it created or touched."""
        scenario = self.sandbox.scenario
        if scenario is None:
            raise UsageError("the simulated AWS account has no scenario to play injects from",
                             fix="give the runbook a scenario: with injects:")
        targets: list[str] = []
        holders: dict[str, str] = {}
        records: list[dict[str, Any]] = []
        with self._lock:
            seeder = Seeder(self.sandbox, scenario)
            for number, spec in enumerate(inject.attacker):
                timed = TrailEventSpec.model_validate(
                    spec.model_dump(by_alias=True, exclude_none=True) | {"time": at.isoformat()})
                # The same ids when a resumed exercise fires it again.
                index = _INJECT_INDEX + zlib.crc32(f"{inject.id}/{number}".encode())
                record = self._record(timed, at, index, seeder)
                refused = self._refusal(record)
                if refused is not None:  # the team's containment holds: the attempt fails
                    record["errorCode"], record["errorMessage"] = refused
                    record["responseElements"] = None
                elif seeder._should_apply(timed):
                    try:
                        seeder._apply(timed, record)
                    except UsageError as exc:  # e.g. the user it targets was deleted
                        record["errorCode"] = "NoSuchEntity" if "NoSuchEntity" in exc.message \
                            else "ValidationError"
                        record["errorMessage"] = exc.message
                        record["responseElements"] = None
                records.append(record)
                targets += _targets(record)
                holders |= _holders(record)
            self.sandbox.trail.add_records(records)
            # Not a target: targets are the ids the inject made or touched, which scoring
            # counts as credentials to contain; a denied operation is neither.
            self.denied.update(inject.deny)
        if log and self.log is not None:
            self.log.write({"op": "inject", "id": inject.id, "at": at.isoformat()})
        return Fired(targets, holders)

    def _refusal(self, record: dict[str, Any]) -> tuple[str, str] | None:
        """Why AWS would refuse this attacker call now, given what the responder did:
        its access key inactive or deleted, or a deny-all policy on its user or role
        (a quarantine). Other containment (a rotated external id) is not evaluated."""
        who = record.get("userIdentity") or {}
        backend = iam_backend(self.sandbox.account_id)
        key_id = who.get("accessKeyId")
        if who.get("type") == "IAMUser" and key_id:
            key = backend.access_keys.get(key_id)
            if key is None or key.status != "Active":
                return ("InvalidClientTokenId",
                        "The security token included in the request is invalid.")
        holder = None
        if who.get("type") == "IAMUser":
            holder = backend.users.get(who.get("userName"))
        elif who.get("type") == "AssumedRole":
            issuer = (who.get("sessionContext") or {}).get("sessionIssuer") or {}
            holder = backend.roles.get(issuer.get("userName"))
        policies = getattr(holder, "policies", None) or {}
        if any(_denies_all(doc) for doc in policies.values()):
            service = str(record.get("eventSource", "")).split(".", 1)[0]
            return ("AccessDenied",
                    f"User: {who.get('arn')} is not authorized to perform: "
                    f"{service}:{record.get('eventName')} with an explicit deny")
        return None

    def _record(self, spec: TrailEventSpec, at: datetime, index: int,
                seeder: Seeder | None = None) -> dict[str, Any]:
        scenario = self.sandbox.scenario
        assert scenario is not None
        seeder = seeder or Seeder(self.sandbox, scenario)
        seeder.now = at
        return build_record(spec, scenario, seeder._context(), index)

    # -- crash survival -------------------------------------------------------------------
    def save_to(self, path: Path, scenario_file: Path | None) -> None:
        """Start logging to ``path`` (a new exercise): the seeding's anchor and file first."""
        self.log = RequestLog(path)
        self.log.write({"op": "seeded", "now": self.sandbox.now.isoformat(),
                        "file": str(scenario_file) if scenario_file else None})

    def restore(self, path: Path,
                injects: dict[str, InjectSpec]) -> list[tuple[str, datetime, Fired]]:
        """Seed the scenario again at the logged anchor and replay the log; the injects
        it fired again, in order (id, when, targets). Logging continues to the same file."""
        log = RequestLog(path)
        lines = list(log.lines())
        if not lines or lines[0].get("op") != "seeded":
            self.log = log
            return []
        self.sandbox.reseed(datetime.fromisoformat(str(lines[0]["now"])))
        fired: list[tuple[str, datetime, Fired]] = []
        for line in lines[1:]:
            if line["op"] == "inject" and line["id"] in injects:
                at = datetime.fromisoformat(line["at"])
                fired.append((line["id"], at, self.fire(injects[line["id"]], at, log=False)))
            elif line["op"] == "trail":
                self.sandbox.trail.add_records([line["record"]])
            elif line["op"] == "request":
                reply = replay_request(self.sandbox.endpoint_url, line)
                if line.get("made_key"):
                    self._rename_key(made_key(reply), str(line["made_key"]))
        self.log = log
        return fired

    def _rename_key(self, made: str | None, wanted: str) -> None:
        backend = iam_backend(self.sandbox.account_id)
        if made is None or made == wanted or made not in backend.access_keys:
            return
        key = backend.access_keys.pop(made)
        key.access_key_id = wanted
        backend.access_keys[wanted] = key


def _denies_all(document: Any) -> bool:
    """An unconditional Deny of every action on every resource (rescind's quarantine)."""
    import json

    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            return False
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    for statement in statements if isinstance(statements, list) else [statements]:
        if (isinstance(statement, dict) and statement.get("Effect") == "Deny"
                and statement.get("Action") in ("*", ["*"])
                and statement.get("Resource") in ("*", ["*"])
                and not statement.get("Condition")):
            return True
    return False


def _targets(record: dict[str, Any]) -> list[str]:
    """What an attacker event created or touched, by id: a key, a user, a role, a secret."""
    found: list[str] = []
    response = record.get("responseElements") or {}
    for holder in (response.get("accessKey"), response.get("credentials")):
        if isinstance(holder, dict) and holder.get("accessKeyId"):
            found.append(str(holder["accessKeyId"]))
    params = record.get("requestParameters") or {}
    for name in ("userName", "roleArn", "roleName", "secretId"):
        if isinstance(params.get(name), str):
            found.append(params[name])
    return found


def _holders(record: dict[str, Any]) -> dict[str, str]:
    """The session key an attacker event minted, and the role or user it is a session of
    (revoking that principal's sessions ends it); none for a failed call."""
    credentials = (record.get("responseElements") or {}).get("credentials")
    if record.get("errorCode") or not isinstance(credentials, dict) \
            or not credentials.get("accessKeyId"):
        return {}
    holder = (record.get("requestParameters") or {}).get("roleArn") \
        or (record.get("userIdentity") or {}).get("userName")
    return {str(credentials["accessKeyId"]): str(holder)} if holder else {}
