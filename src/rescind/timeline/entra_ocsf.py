"""Entra sign-ins in the OCSF export as Authentication (3002): who signed in to which
application, from where, with MFA or not, and for a service principal the key id of
the secret or certificate it used (what a responder removes). Registered with
:func:`rescind.timeline.export.register_ocsf_hook` on import; audit and Activity Log
records keep the generic API Activity mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rescind.timeline.entra_records import SIGNIN, Rec
from rescind.timeline.event import Event
from rescind.timeline.export import AUTHENTICATION, OcsfShape, register_ocsf_hook
from rescind.timeline.export import src_endpoint as generic_src_endpoint

_USER, _OTHER = (1, "User"), (99, "Service Principal")


def _user(event: Event, rec: Rec) -> dict[str, Any]:
    upn = rec.text("userPrincipalName", "UserPrincipalName", "Username")
    sp_id = rec.text("servicePrincipalId", "ServicePrincipalId")
    uid = rec.text("userId", "UserId", "User ID") if upn else sp_id
    type_id, type_name = _USER if upn or not sp_id else _OTHER
    user: dict[str, Any] = {"name": upn or rec.text("servicePrincipalName") or event.actor,
                            "uid": uid or event.actor, "type_id": type_id, "type": type_name}
    key_id = rec.text("servicePrincipalCredentialKeyId")
    if key_id:
        user["credential_uid"] = key_id
    if event.account:
        user["account"] = {"uid": event.account, "type_id": 6, "type": "Azure AD Account"}
    return user


def _location(rec: Rec) -> dict[str, Any]:
    place = {"city": rec.path("location.city", "LocationDetails.city"),
             "country": rec.path("location.countryOrRegion", "LocationDetails.countryOrRegion"),
             "region": rec.path("location.state", "LocationDetails.state")}
    return {k: v for k, v in place.items() if v}


def sign_in(event: Event, raw: Mapping[str, Any]) -> OcsfShape:
    rec = Rec(raw)
    fields: dict[str, Any] = {"user": _user(event, rec)}
    app = rec.text("appDisplayName", "AppDisplayName", "Application", "resourceDisplayName")
    app_id = rec.text("appId", "AppId", "Application ID")
    # OCSF wants a service (or a destination); a record naming no app signed in to Entra.
    fields["service"] = {"name": app or "Microsoft Entra ID", **({"uid": app_id} if app_id
                                                                 else {})}
    requirement = rec.text("authenticationRequirement", "AuthenticationRequirement")
    if requirement:
        fields["is_mfa"] = requirement.lower() == "multifactorauthentication"
    reason = rec.path("status.failureReason", "Status.failureReason", "Failure reason")
    if event.result == "failure" and reason:
        fields["status_detail"] = reason
    endpoint = generic_src_endpoint(event)
    place = _location(rec)
    if place:
        endpoint["location"] = place
    fields["src_endpoint"] = endpoint
    return OcsfShape(AUTHENTICATION, 1, "Logon", fields)


register_ocsf_hook(SIGNIN, sign_in)
