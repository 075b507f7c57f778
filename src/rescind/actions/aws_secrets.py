"""Secrets Manager: rotate a secret the leaked credential could read (seed: "rotate the
compromised secret immediately", then audit who read it in the timeline)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from rescind.actions.aws_common import AwsParams, aws, max_targets
from rescind.actions.base import Action, ActionContext, Plan, Result, Risk, Verification
from rescind.actions.common import (
    OneOrMany,
    StrList,
    TargetCall,
    bounded,
    drift,
    escalated_risk,
    plan_changes,
    plan_for,
    plural,
    run_targets,
)
from rescind.actions.registry import register
from rescind.errors import ActionError
from rescind.modes import Mode
from rescind.providers.aws import AwsProvider

ROTATED = "a new version, made current by the rotation function"


class SecretParams(AwsParams, OneOrMany):
    pair = ("secret_id", "secret_ids")
    secret_id: str | None = Field(default=None, description="Secret name or ARN")
    secret_ids: StrList = Field(default_factory=list, description="Several secrets")
    region: str | None = Field(default=None, description="The secrets' region (default: the "
                                                         "provider's region)")


def _current_version(described: dict[str, Any]) -> str | None:
    for version, stages in (described.get("VersionIdsToStages") or {}).items():
        if "AWSCURRENT" in stages:
            return str(version)
    return None


async def _describe(provider: AwsProvider, params: SecretParams, ids: list[str],
                    *, missing_ok: bool) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}

    async def read(secret: str) -> None:
        try:
            found[secret] = await provider.acall("secretsmanager", "DescribeSecret",
                                                 region=params.region, account=params.account,
                                                 SecretId=secret, resource=secret)
        except ActionError as exc:
            if not (missing_ok and exc.kind == "not-found"):
                raise

    await bounded(ids, read, provider.width)
    return found


@register
class RotateSecret(Action[SecretParams]):
    name = "aws.secretsmanager.rotate_secret"
    description = "Start an immediate rotation of Secrets Manager secrets (RotateSecret)"
    params_model = SecretParams
    risk = Risk.MEDIUM
    reversible = False
    mutating = True
    providers = ("aws",)
    outputs: ClassVar[tuple[str, ...]] = ("secrets", "version_ids")
    permissions: ClassVar[tuple[str, ...]] = (
        "secretsmanager:DescribeSecret", "secretsmanager:RotateSecret", "sts:GetCallerIdentity")

    async def plan(self, ctx: ActionContext, params: SecretParams, step_id: str) -> Plan:
        provider = aws(ctx)
        ids = params.targets()
        await provider.run(provider.check_targets, account=params.account,
                           max_targets=max_targets(ctx, params), count=len(ids))
        described = await _describe(provider, params, ids, missing_ok=False)
        unmanaged = [s for s in ids if not described[s].get("RotationLambdaARN")]
        warnings = ["Every application reading these secrets must pick up the new value; the "
                    "old one keeps the AWSPREVIOUS label until the next rotation",
                    "Audit who read them: the timeline's GetSecretValue events"]
        if unmanaged:
            if ctx.mode is not Mode.EXERCISE:
                raise ActionError(
                    f"{unmanaged[0]} has no rotation function, so AWS cannot rotate it",
                    retryable=False,
                    fix="rotate it at its source (database, API), store the new value with "
                        "`aws secretsmanager put-secret-value`, then skip this step; or "
                        "configure rotation and retry")
            warnings.append(f"{', '.join(unmanaged)} has no rotation function: the simulated "
                            "account rotates it anyway, AWS would refuse")
        targets = {d["ARN"]: {"name": d["Name"], "before": _current_version(d),
                              "after": ROTATED} for d in (described[s] for s in ids)}
        changes = plan_changes(targets, "AWSCURRENT version")
        return plan_for(type(self), params, step_id,
                        targets=[t["name"] for t in targets.values()], changes=changes,
                        state={"targets": targets},
                        summary=f"Rotate {plural(len(targets), 'secret')}: "
                                + ", ".join(t["name"] for t in targets.values()),
                        warnings=warnings, risk=escalated_risk(self.risk, len(targets)))

    async def apply(self, ctx: ActionContext, plan: Plan) -> Result:
        provider = aws(ctx)
        params = SecretParams.model_validate(plan.params)
        targets: dict[str, dict[str, Any]] = plan.state["targets"]
        now = await _describe(provider, params, list(targets), missing_ok=True)
        todo = drift(targets, {arn: _current_version(d) for arn, d in now.items()},
                     what="secret")
        versions: dict[str, str] = {}

        def rotate(arn: str) -> TargetCall:
            def call() -> None:
                reply = provider.call("secretsmanager", "RotateSecret", region=params.region,
                                      account=params.account, SecretId=arn,
                                      RotateImmediately=True, resource=arn)
                versions[arn] = str(reply.get("VersionId", ""))

            return TargetCall(target=targets[arn]["name"], operation="secretsmanager:RotateSecret",
                              detail={"arn": arn}, fn=call)

        done = await run_targets(ctx, aws(ctx), self.name, [rotate(a) for a in todo],
                                 verb="rotations")
        return Result(outputs={"secrets": list(targets), "version_ids": versions},
                      details=[f"{n}: rotation started" for n in done])

    async def verify(self, ctx: ActionContext, plan: Plan, result: Result | None) -> Verification:
        provider = aws(ctx)
        params = SecretParams.model_validate(plan.params)
        targets: dict[str, dict[str, Any]] = plan.state["targets"]
        now = await _describe(provider, params, list(targets), missing_ok=True)
        expected = (result.outputs.get("version_ids") or {}) if result else {}
        wrong: list[str] = []
        for arn, target in targets.items():
            current = _current_version(now.get(arn, {}))
            if arn not in now:
                wrong.append(f"{target['name']} is gone")
            elif current == target["before"]:
                wrong.append(f"{target['name']} still has its old AWSCURRENT version "
                             "(the rotation may still be running: verify again in a minute)")
            elif arn in expected and expected[arn] and current != expected[arn]:
                wrong.append(f"{target['name']}: AWSCURRENT is {current}, not the rotation's "
                             f"{expected[arn]}")
        if wrong:
            return Verification(ok=False, detail="; ".join(wrong))
        return Verification(ok=True, detail=f"{plural(len(targets), 'secret')} rotated")
