"""Seeding the simulated AWS account from a scenario: users, keys, roles, secrets, and
the CloudTrail history, whose mutating calls are applied to moto so the account holds
what the history says.

The keys get the scenario's ids by reaching into moto's IAM backend (see aws.py).
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rescind.errors import UsageError
from rescind.providers import aws_redaction  # noqa: F401  (registers AWS's secret names)
from rescind.redaction import hides
from rescind.sandbox.scenario import (
    AccessKeySpec,
    RoleSpec,
    Scenario,
    TrailEventSpec,
    UserSpec,
    parse_time,
)
from rescind.sandbox.trail import TrailContext, build_record, generate_records, is_read_only

if TYPE_CHECKING:
    from rescind.sandbox.aws import AwsSandbox

RESPONDER_KEY_ID = "AKIARESPONDR9EXAMPLE"
_session: Any = None
_session_lock = threading.Lock()


def sandbox_client(service: str, **kwargs: Any) -> Any:
    """A boto3 client from the one session the simulated account's own clients share.

    A new session reads botocore's endpoint and service data again (JSON, most of a
    sandbox's start-up CPU); sessions do not share it. Clients are made under a lock:
    botocore does not promise that one session makes clients safely from two threads.
    """
    global _session
    import boto3

    with _session_lock:
        if _session is None:
            _session = boto3.session.Session()
        return _session.client(service, **kwargs)
MFA_CODES = ("123456", "654321")
SEED_HEADER = "x-rescind-scenario"


def iam_backend(account_id: str) -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[account_id]["aws"]


_AWS_MANAGED: dict[str, Any] | None = None


def _ensure_aws_managed_policy(account_id: str, arn: str) -> None:
    """Add one AWS-managed policy to moto (it loads none by default; all of them is slow)."""
    global _AWS_MANAGED
    prefix = "arn:aws:iam::aws:policy"
    if not arn.startswith(prefix):
        return
    backend = iam_backend(account_id)
    if arn in backend.managed_policies:
        return
    from moto.iam.aws_managed_policies import aws_managed_policies_data
    from moto.iam.models import AWSManagedPolicy

    if _AWS_MANAGED is None:
        _AWS_MANAGED = json.loads(aws_managed_policies_data)
    name = arn.rsplit("/", 1)[-1]
    data = _AWS_MANAGED.get(name)
    if data is None:
        raise UsageError(f"unknown AWS managed policy {arn}",
                         fix="use a policy AWS publishes, or define it under policies:")
    policy = AWSManagedPolicy.from_data(name, account_id, "us-east-1", data)
    backend.managed_policies[policy.arn] = policy


def _pascal(key: str) -> str:
    return key[:1].upper() + key[1:]


def _to_api_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """CloudTrail's camelCase requestParameters → boto3's PascalCase parameters."""

    def convert(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {_pascal(k): convert(v) for k, v in value.items()}
        if isinstance(value, list):
            return [convert(v) for v in value]
        return value

    out: dict[str, Any] = {}
    for key, value in params.items():
        if key.endswith(("Document", "PolicyDocument")) and not isinstance(value, str):
            out[_pascal(key)] = json.dumps(value)
        else:
            out[_pascal(key)] = convert(value)
    return out


def _cloudtrail_date(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%b %d, %Y, %I:%M:%S %p")


def _to_response_elements(response: Mapping[str, Any], when: datetime) -> dict[str, Any] | None:
    """A boto3 response → CloudTrail's responseElements: camelCase, no secrets."""

    def camel(key: str) -> str:
        return key[:1].lower() + key[1:]

    def convert(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {camel(k): convert(v) for k, v in value.items() if not hides(k, v)}
        if isinstance(value, list):
            return [convert(v) for v in value]
        if isinstance(value, datetime):
            return _cloudtrail_date(when)
        return value

    body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    return convert(body) if body else None


class Seeder:
    """Creates one scenario's state through boto3 (real moto state) and its history."""

    def __init__(self, sandbox: AwsSandbox, scenario: Scenario) -> None:
        self.sandbox, self.scenario = sandbox, scenario
        self.now = sandbox.now
        self.backend = iam_backend(scenario.account_id)
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._clients_lock = threading.Lock()
        self.key_users: dict[str, str] = {}

    def client(self, service: str, region: str | None = None, key_id: str = RESPONDER_KEY_ID,
               ) -> Any:
        cache_key = (service, region or self.scenario.regions[0], key_id)
        with self._clients_lock:
            return self._client_locked(service, cache_key)

    def _client_locked(self, service: str, cache_key: tuple[str, str, str]) -> Any:
        key_id = cache_key[2]
        if cache_key not in self._clients:
            from botocore.config import Config

            client = sandbox_client(
                service, region_name=cache_key[1], endpoint_url=self.sandbox.endpoint_url,
                aws_access_key_id=key_id, aws_secret_access_key="seeding-not-a-secret",
                config=Config(retries={"mode": "standard", "max_attempts": 3},
                              max_pool_connections=16))
            account = self.scenario.account_id

            def pin_account(request: Any, **_: Any) -> None:
                request.headers["x-moto-account-id"] = account
                # The scenario's own calls (seeding, injects): never logged as the responder's.
                request.headers[SEED_HEADER] = "1"

            client.meta.events.register("before-sign", pin_account)
            self._clients[cache_key] = client
        return self._clients[cache_key]

    def run(self) -> None:
        s = self.scenario
        iam = self.client("iam")
        for policy in s.policies:
            iam.create_policy(PolicyName=policy.name, PolicyDocument=json.dumps(policy.document),
                              Description=policy.description)
        for group in s.groups:
            iam.create_group(GroupName=group.name)
            for arn in group.attached_policies:
                _ensure_aws_managed_policy(s.account_id, arn)
                iam.attach_group_policy(GroupName=group.name, PolicyArn=arn)
            for name, doc in group.inline_policies.items():
                iam.put_group_policy(GroupName=group.name, PolicyName=name,
                                     PolicyDocument=json.dumps(doc))
        users = list(s.users)
        responder = s.responder.user if s.responder else "responder"
        if s.user(responder) is None and responder not in self.backend.users:
            users.append(UserSpec(name=responder,
                                  access_keys=[AccessKeySpec(id=RESPONDER_KEY_ID)]))
        # Users in parallel: moto's server is threaded, and large scenarios (the
        # mass-revocation benchmark seeds 1,000 keys) would otherwise take a while.
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(self._user, users))
        self._responder(responder)
        for role in s.roles:
            self._role(role)
        for secret in s.secrets:
            self._secret(secret.name, secret.value, secret.description, secret.readers)
        self._history()

    def _user(self, user: UserSpec) -> None:
        iam = self.client("iam")
        tags = [{"Key": k, "Value": v} for k, v in user.tags.items()]
        iam.create_user(UserName=user.name, Path=user.path, Tags=tags)
        for group in user.groups:
            iam.add_user_to_group(GroupName=group, UserName=user.name)
        for arn in user.attached_policies:
            _ensure_aws_managed_policy(self.scenario.account_id, arn)
            iam.attach_user_policy(UserName=user.name, PolicyArn=arn)
        for name, doc in user.inline_policies.items():
            iam.put_user_policy(UserName=user.name, PolicyName=name,
                                PolicyDocument=json.dumps(doc))
        if user.login_profile is not None:
            iam.create_login_profile(
                UserName=user.name, Password=_throwaway_password(),
                PasswordResetRequired=user.login_profile.password_reset_required)
        if user.mfa:
            serial = iam.create_virtual_mfa_device(
                VirtualMFADeviceName=user.name)["VirtualMFADevice"]["SerialNumber"]
            iam.enable_mfa_device(UserName=user.name, SerialNumber=serial,
                                  AuthenticationCode1=MFA_CODES[0],
                                  AuthenticationCode2=MFA_CODES[1])
        for key in user.access_keys:
            self._access_key(user.name, key.id, key.status, parse_time(key.created, self.now))

    def _access_key(self, user: str, key_id: str, status: str, created: datetime) -> Any:
        """Create a key through the API, then give it the scenario's id inside moto."""
        if key_id in self.backend.access_keys:
            raise UsageError(f"access key {key_id} appears twice in the scenario",
                             fix="give every key its own id")
        made = self.client("iam").create_access_key(UserName=user)["AccessKey"]
        key = self.backend.access_keys.pop(made["AccessKeyId"])
        key.access_key_id = key_id
        key.status = status
        key.create_date = created.replace(tzinfo=None)  # moto keeps naive UTC datetimes
        self.backend.access_keys[key_id] = key
        self.key_users[key_id] = user
        return key

    def _responder(self, name: str) -> None:
        user = self.backend.users.get(name)
        if user is None or not user.access_keys:
            raise UsageError(f"the scenario's responder {name!r} has no access key",
                             fix="give the responder user an access key in users:")
        key = user.access_keys[0]
        self.sandbox.responder_user = name
        self.sandbox.responder_key_id = key.access_key_id
        self.sandbox._responder_secret = key.secret_access_key

    def _role(self, role: RoleSpec) -> None:
        iam = self.client("iam")
        trust = role.trust_policy
        if trust is None:
            principal = role.trusted_account or self.scenario.account_id
            statement: dict[str, Any] = {
                "Effect": "Allow", "Action": "sts:AssumeRole",
                "Principal": {"AWS": f"arn:aws:iam::{principal}:root"}}
            if role.external_id:
                statement["Condition"] = {"StringEquals": {"sts:ExternalId": role.external_id}}
            trust = {"Version": "2012-10-17", "Statement": [statement]}
        iam.create_role(RoleName=role.name, Path=role.path,
                        AssumeRolePolicyDocument=json.dumps(trust),
                        MaxSessionDuration=role.max_session_duration,
                        Description=role.description)
        for arn in role.attached_policies:
            _ensure_aws_managed_policy(self.scenario.account_id, arn)
            iam.attach_role_policy(RoleName=role.name, PolicyArn=arn)
        for name, doc in role.inline_policies.items():
            iam.put_role_policy(RoleName=role.name, PolicyName=name,
                                PolicyDocument=json.dumps(doc))

    def _secret(self, name: str, value: str, description: str, readers: list[str]) -> None:
        sm = self.client("secretsmanager")
        sm.create_secret(Name=name, SecretString=value, Description=description)
        if readers:
            policy = {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*",
                "Principal": {"AWS": [self.backend.get_user(r).arn for r in readers]}}]}
            sm.put_resource_policy(SecretId=name, ResourcePolicy=json.dumps(policy))

    # -- history --------------------------------------------------------------------
    def _context(self) -> TrailContext:
        ctx = TrailContext(account_id=self.scenario.account_id,
                           home_region=self.scenario.regions[0], now=self.now)
        for name, user in self.backend.users.items():
            ctx.user_ids[name] = user.id
            ctx.paths[name] = user.path
            if user.access_keys:
                ctx.user_keys[name] = user.access_keys[0].access_key_id
        for role in self.backend.roles.values():
            ctx.role_ids[role.name] = role.id
            ctx.paths[role.name] = role.path
        return ctx

    def _history(self) -> None:
        s = self.scenario
        ordered = sorted(enumerate(s.cloudtrail.events),
                         key=lambda pair: parse_time(pair[1].time, self.now))
        records: list[dict[str, Any]] = []
        for index, spec in ordered:
            ctx = self._context()  # ids of principals earlier events created
            record = build_record(spec, s, ctx, index)
            if self._should_apply(spec):
                self._apply(spec, record)
            records.append(record)
        if s.cloudtrail.generate is not None and s.cloudtrail.generate.count:
            records.extend(generate_records(s.cloudtrail.generate, s, self._context()))
        self.sandbox.trail.add_records(records)
        self._last_used(records)

    @staticmethod
    def _should_apply(spec: TrailEventSpec) -> bool:
        if spec.apply is not None:
            return spec.apply and spec.error_code is None
        return (spec.event_source == "iam.amazonaws.com" and spec.error_code is None
                and not is_read_only(spec.event_name))

    def _apply(self, spec: TrailEventSpec, record: dict[str, Any]) -> None:
        """Perform the attacker's call on moto so the account holds what the history says."""
        from botocore import xform_name
        from botocore.exceptions import ClientError, ParamValidationError

        service = spec.event_source.split(".", 1)[0]
        key_id = record["userIdentity"].get("accessKeyId") or RESPONDER_KEY_ID
        client = self.client(service, record["awsRegion"], key_id)
        params = _to_api_params(spec.request_parameters or {})
        if isinstance(params.get("PolicyArn"), str):
            _ensure_aws_managed_policy(self.scenario.account_id, params["PolicyArn"])
        when = parse_time(spec.time, self.now)
        if spec.event_name in ("CreateLoginProfile", "UpdateLoginProfile"):
            params.setdefault("Password", _throwaway_password())  # CloudTrail never logs it
        wanted_key: str | None = None
        if spec.event_name == "CreateAccessKey":
            wanted = ((spec.response_elements or {}).get("accessKey") or {}).get("accessKeyId")
            wanted_key = str(wanted) if wanted else None
        try:
            response = getattr(client, xform_name(spec.event_name))(**params)
        except (ClientError, ParamValidationError, AttributeError) as exc:
            raise UsageError(f"scenario {self.scenario.name}: cannot apply "
                             f"{spec.event_name} at {spec.time}: {exc}",
                             fix="fix its requestParameters, or set apply: false") from None
        if spec.event_name == "CreateAccessKey":
            made = response["AccessKey"]
            key = self.backend.access_keys.pop(made["AccessKeyId"])
            key.access_key_id = wanted_key or made["AccessKeyId"]
            key.create_date = when.replace(tzinfo=None)
            self.backend.access_keys[key.access_key_id] = key
            made["AccessKeyId"] = key.access_key_id
        if spec.event_name == "CreateUser":
            self.backend.users[params["UserName"]].create_date = when.replace(tzinfo=None)
        if spec.response_elements is None:
            record["responseElements"] = _to_response_elements(response, when)

    def _last_used(self, records: list[dict[str, Any]]) -> None:
        """Keys' last use: the scenario's value, else their latest event in the history."""
        from moto.iam.models import AccessKeyLastUsed

        latest: dict[str, dict[str, Any]] = {}
        for record in records:
            key_id = (record.get("userIdentity") or {}).get("accessKeyId")
            if key_id and (key_id not in latest
                           or record["eventTime"] > latest[key_id]["eventTime"]):
                latest[key_id] = record
        specs = {k.id: k for u in self.scenario.users for k in u.access_keys}
        for key_id, key in self.backend.access_keys.items():
            spec = specs.get(key_id)
            if spec is not None and spec.last_used is not None:
                when = parse_time(spec.last_used.time, self.now)
                service, region = spec.last_used.service, spec.last_used.region
            elif key_id in latest:
                record = latest[key_id]
                when = datetime.fromisoformat(record["eventTime"].replace("Z", "+00:00"))
                service = record["eventSource"].split(".", 1)[0]
                region = record["awsRegion"]
            else:
                continue
            key.last_used = AccessKeyLastUsed(timestamp=when.replace(tzinfo=None),
                                              service=service, region=region)


def _throwaway_password() -> str:
    return "Ex-" + secrets.token_urlsafe(18)

