"""Each failure ends the step with the right kind and a message that names the fix."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from rescind.actions import registry
from rescind.actions.base import ActionContext
from rescind.errors import ActionError
from rescind.modes import Mode
from rescind.providers.aws import AwsProvider
from rescind.sandbox.aws import AwsSandbox
from tests.aws.conftest import LEAKED_KEY, SECOND_KEY, Recorder, read_only_provider


def _ctx(tmp_path: Path, provider: AwsProvider, recorder: Recorder) -> ActionContext:
    return ActionContext(mode=Mode.LIVE, incident_dir=tmp_path, providers={"aws": provider},
                         journal=recorder.journal)


async def _deactivate(ctx: ActionContext, key: str = LEAKED_KEY) -> None:
    action = registry.get("aws.iam.deactivate_access_key")
    assert action is not None
    instance = action()
    plan = await instance.plan(ctx, instance.parse_params({"access_key_id": key}), "deactivate")
    await instance.apply(ctx, plan)


async def test_permission_error_names_the_missing_iam_action(
        sandbox: AwsSandbox, tmp_path: Path, recorder: Recorder, enforced_iam: None) -> None:
    iam = sandbox.client("iam")
    provider = read_only_provider(sandbox)
    try:
        with pytest.raises(ActionError) as err:
            await _deactivate(_ctx(tmp_path, provider, recorder))
    finally:
        provider.close()
    assert err.value.kind == "permission"
    assert err.value.retryable
    assert "needs iam:UpdateAccessKey on arn:aws:iam::123456789012:user/deploy-bot" in \
        err.value.message
    assert "read-only-responder" in (err.value.fix or "")
    # The intent and the failed outcome are both journaled.
    assert [d["stage"] for d in recorder.targets()] == ["intent", "outcome"]
    assert recorder.targets("outcome")[0]["ok"] is False
    assert recorder.targets("outcome")[0]["kind"] == "permission"
    status = iam.list_access_keys(UserName="deploy-bot")["AccessKeyMetadata"]
    assert {k["AccessKeyId"]: k["Status"] for k in status}[LEAKED_KEY] == "Active"


async def test_expired_or_invalid_credentials(sandbox: AwsSandbox, tmp_path: Path,
                                              recorder: Recorder, enforced_iam: None) -> None:
    provider = AwsProvider(endpoint_url=sandbox.endpoint_url, profile=None, credentials={
        "access_key_id": "AKIAEXPIRED00EXAMPLE", "secret_access_key": "not-valid-any-more"})
    try:
        with pytest.raises(ActionError) as err:
            await _deactivate(_ctx(tmp_path, provider, recorder))
    finally:
        provider.close()
    assert err.value.kind == "expired"
    assert "InvalidClientTokenId" in err.value.message
    assert "aws sso login" in (err.value.fix or "")


def _throttling_server() -> tuple[str, list[int], Callable[[], None]]:
    """An endpoint that answers every request as IAM does when it throttles."""
    from werkzeug.serving import make_server

    body = (b'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error>'
            b"<Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>"
            b"</Error><RequestId>r</RequestId></ErrorResponse>")
    seen: list[int] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        seen.append(1)
        start_response("400 Bad Request", [("Content-Type", "text/xml"),
                                           ("Content-Length", str(len(body)))])
        return [body]

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return f"http://127.0.0.1:{server.server_address[1]}", seen, stop


async def test_throttling_is_retried_then_reported(tmp_path: Path, recorder: Recorder) -> None:
    url, seen, stop = _throttling_server()
    provider = AwsProvider(endpoint_url=url, max_attempts=1, credentials={
        "access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "example"})
    try:
        with pytest.raises(ActionError) as err:
            await provider.acall("iam", "ListUsers")
    finally:
        provider.close()
        stop()
    assert err.value.kind == "throttled" and err.value.retryable
    assert "Throttling" in err.value.message
    assert len(seen) == 2  # the first try and botocore's adaptive retry


async def test_a_key_that_vanishes_before_deactivation_is_reported_the_rest_contained(
        sandbox: AwsSandbox, make_ctx: Callable[..., ActionContext], recorder: Recorder,
        iam: Any) -> None:
    ctx = make_ctx()
    action = registry.get("aws.iam.deactivate_access_key")
    assert action is not None
    instance = action()
    params = instance.parse_params({"access_key_ids": [LEAKED_KEY, SECOND_KEY]})
    plan = await instance.plan(ctx, params, "s")
    iam.delete_access_key(UserName="deploy-bot", AccessKeyId=LEAKED_KEY)
    with pytest.raises(ActionError) as err:
        await instance.apply(ctx, plan)
    assert err.value.kind == "not-found" and not err.value.retryable
    assert LEAKED_KEY in err.value.message and "re-plan" in (err.value.fix or "")
    outcomes = {d["target"]: d["ok"] for d in recorder.targets("outcome")}
    assert outcomes == {LEAKED_KEY: False, SECOND_KEY: True}
    keys = iam.list_access_keys(UserName="deploy-bot")["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in keys] == [(SECOND_KEY, "Inactive")]


async def test_a_key_that_vanishes_before_deletion_is_refused_before_any_call(
        sandbox: AwsSandbox, make_ctx: Callable[..., ActionContext], recorder: Recorder,
        iam: Any) -> None:
    for key in (LEAKED_KEY, SECOND_KEY):
        iam.update_access_key(UserName="deploy-bot", AccessKeyId=key, Status="Inactive")
    ctx = make_ctx()
    action = registry.get("aws.iam.delete_access_key")
    assert action is not None
    instance = action()
    plan = await instance.plan(ctx, instance.parse_params(
        {"access_key_ids": [LEAKED_KEY, SECOND_KEY]}), "s")
    iam.delete_access_key(UserName="deploy-bot", AccessKeyId=LEAKED_KEY)
    with pytest.raises(ActionError) as err:
        await instance.apply(ctx, plan)
    assert err.value.kind == "not-found" and not err.value.retryable
    assert recorder.targets() == []  # refused before any call: SECOND_KEY is still there
    # Reactivated since the plan: deleting it now would delete an active key.
    plan = await instance.plan(ctx, instance.parse_params({"access_key_id": SECOND_KEY}), "s")
    iam.update_access_key(UserName="deploy-bot", AccessKeyId=SECOND_KEY, Status="Active")
    with pytest.raises(ActionError) as err:
        await instance.apply(ctx, plan)
    assert err.value.kind == "conflict"
    assert [k["AccessKeyId"] for k in iam.list_access_keys(
        UserName="deploy-bot")["AccessKeyMetadata"]] == [SECOND_KEY]


async def test_a_target_that_changed_since_the_plan_is_a_conflict(
        sandbox: AwsSandbox, make_ctx: Callable[..., ActionContext]) -> None:
    ctx = make_ctx()
    action = registry.get("aws.iam.quarantine_user")
    assert action is not None
    instance = action()
    plan = await instance.plan(ctx, instance.parse_params({"user": "deploy-bot"}), "q")
    sandbox.client("iam").put_user_policy(
        UserName="deploy-bot", PolicyName="RescindQuarantine",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    with pytest.raises(ActionError) as err:
        await instance.apply(ctx, plan)
    assert err.value.kind == "conflict"
    assert "changed since the plan" in err.value.message


async def test_no_route_to_aws_is_a_network_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    provider = AwsProvider(endpoint_url=f"http://127.0.0.1:{port}", max_attempts=1,
                           credentials={"access_key_id": "AKIAIOSFODNN7EXAMPLE",
                                        "secret_access_key": "example"})
    try:
        with pytest.raises(ActionError) as err:
            await provider.acall("iam", "ListUsers")
    finally:
        provider.close()
    assert err.value.kind == "network" and err.value.retryable


async def test_no_credentials_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    provider = AwsProvider(endpoint_url="http://127.0.0.1:9")
    try:
        with pytest.raises(ActionError) as err:
            await provider.acall("sts", "GetCallerIdentity")
    finally:
        provider.close()
    assert err.value.kind == "config"
    assert "no AWS credentials" in err.value.message
    assert "aws sso login" in (err.value.fix or "")


async def test_unknown_profile_is_a_config_error(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config"
    config.write_text("[profile incident]\nregion = us-east-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    provider = AwsProvider(profile="incdient")
    try:
        with pytest.raises(ActionError) as err:
            await provider.acall("sts", "GetCallerIdentity")
    finally:
        provider.close()
    assert err.value.kind == "config" and not err.value.retryable
    assert "incdient" in err.value.message
    assert "list-profiles" in (err.value.fix or "")


async def test_many_targets_failing_report_one_combined_error(
        sandbox: AwsSandbox, tmp_path: Path, recorder: Recorder, enforced_iam: None) -> None:
    provider = read_only_provider(sandbox)
    ctx = _ctx(tmp_path, provider, recorder)
    action = registry.get("aws.iam.deactivate_access_key")
    assert action is not None
    instance = action()
    params = instance.parse_params({"user": "deploy-bot", "all_keys": True})
    try:
        plan = await instance.plan(ctx, params, "s")
        with pytest.raises(ActionError) as err:
            await instance.apply(ctx, plan)
    finally:
        provider.close()
    assert err.value.kind == "permission"
    assert err.value.message.startswith("2 of 2 deactivations failed: ")
    outcomes = recorder.targets("outcome")
    assert sorted(o["target"] for o in outcomes) == sorted(plan.targets)
    assert all(o["ok"] is False and o["kind"] == "permission" for o in outcomes)
    assert len(recorder.targets("intent")) == 2


def test_combined_failures_lead_with_the_most_urgent_kind() -> None:
    from rescind.actions.common import combine_failures

    error = combine_failures([("A", ActionError("gone", kind="not-found", retryable=False)),
                              ("B", ActionError("log in", kind="expired", fix="sso login"))],
                             total=5, verb="deletions")
    assert error.kind == "expired" and error.fix == "sso login"
    assert error.message == "2 of 5 deletions failed: B: log in; A: gone"
    assert not error.retryable


def test_plan_summaries_pluralise_words_ending_in_y() -> None:
    from rescind.actions.aws_iam_keys import DeactivateAccessKey, _summary
    from rescind.actions.common import plural

    assert [plural(n, w) for n, w in [(2, "access key"), (2, "policy"), (1, "policy"),
                                      (3, "user"), (2, "day"), (0, "secret")]] == [
        "2 access keys", "2 policies", "1 policy", "3 users", "2 days", "0 secrets"]
    assert _summary(DeactivateAccessKey, ["AKIAIOSFODNN7EXAMPLE", "AKIAI44QH8DHBEXAMPLE"], 2,
                    ["deploy-bot"]) == ("Deactivate 2 access keys of deploy-bot: "
                                        "AKIAIOSFODNN7EXAMPLE, AKIAI44QH8DHBEXAMPLE")
