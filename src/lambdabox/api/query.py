"""The AWS Query protocol front for IAM and STS: form parameters in, XML out.

A request is a flat form (``Action=CreateRole&Version=2010-05-08&RoleName=r&Tags.member.1.Key=k``).
The answer is ``<{Action}Response>`` holding ``<{Action}Result>`` (left out for operations
with no output) and ``<ResponseMetadata>``, or an ``<ErrorResponse>`` with the error's
Type, Code and Message. Lists are ``<member>`` elements; policy documents travel
URL-encoded, as IAM sends them.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from lambdabox.api.query_form import Form, Handler, encoded
from lambdabox.api.query_identity import IdentityServices, group_actions, sts_actions, user_actions
from lambdabox.control.iam import Iam
from lambdabox.control.iam_policy_versions import PolicyVersions
from lambdabox.control.iam_tags import IamTags
from lambdabox.model.iam import IamError, InvalidAction, MissingAction, ServiceFailure
from lambdabox.model.principals import Principal

log = logging.getLogger(__name__)

Body = dict[str, Any]


@dataclass(frozen=True)
class _Service:
    version: str
    namespace: str


_SERVICES = {
    "iam": _Service("2010-05-08", "https://iam.amazonaws.com/doc/2010-05-08/"),
    "sts": _Service("2011-06-15", "https://sts.amazonaws.com/doc/2011-06-15/"),
}


#: Characters XML 1.0 cannot carry at all; they are sent as U+FFFD.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _role(role: Body) -> Body:
    return encoded(role, "AssumeRolePolicyDocument")


class QueryApi:
    """Answers IAM and STS Query-protocol requests; synchronous (callers run it in a thread pool).

    `handle` never raises for anything a request contains: every outcome is an HTTP status
    and an XML body. An unexpected failure is logged and answered as ServiceFailure (500).
    """

    def __init__(self, iam: Iam, identity: IdentityServices, versions: PolicyVersions, tags: IamTags) -> None:
        self._iam = iam
        self._actions: dict[str, dict[str, Handler]] = {
            "iam": self._iam_actions() | _version_actions(versions) | _tag_actions(tags) | user_actions(identity.users)
            | group_actions(identity.groups),
            "sts": sts_actions(identity.sts),
        }

    def handle(self, service: str, caller: Principal, params: dict[str, str], request_id: str) -> tuple[int, bytes]:
        """(HTTP status, XML body) for one request to `service` by `caller`, acting in the caller's account.

        `service` must be "iam" or "sts" (anything else is the caller's bug: KeyError).
        """
        spec = _SERVICES[service]
        action = params.get("Action")
        version = params.get("Version") or spec.version
        try:
            if not action:
                # AWS's exact wording here is not known.
                raise MissingAction("Missing Action")
            handler = self._actions[service].get(action) if version == spec.version else None
            if handler is None:
                raise InvalidAction(f"Could not find operation {action} for version {version}")
            result = handler(caller, Form(params))
        except IamError as error:
            return error.status, _error_document(spec, error, request_id)
        except Exception:
            log.exception("%s %s failed", service, action)
            return 500, _error_document(spec, ServiceFailure("An internal error occurred."), request_id)
        return 200, _success_document(spec, action, result, request_id)

    def refuse(self, service: str, error: IamError, request_id: str) -> tuple[int, bytes]:
        """(HTTP status, XML body) of `error`, for a request refused before its form could be read."""
        return error.status, _error_document(_SERVICES[service], error, request_id)

    def _iam_actions(self) -> dict[str, Handler]:
        iam = self._iam
        return {
            "CreateRole": lambda caller, form: {"Role": _role(iam.create_role(
                caller.account, form.required("RoleName"), form.required("AssumeRolePolicyDocument"), form.text("Path"),
                form.text("Description"), form.integer("MaxSessionDuration"), form.text("PermissionsBoundary"),
                form.tags(),
            ))},
            "GetRole": lambda caller, form: {"Role": _role(iam.get_role(caller.account, form.required("RoleName")))},
            "UpdateRole": lambda caller, form: self._update_role(caller.account, form),
            "UpdateAssumeRolePolicy": lambda caller, form: iam.update_trust_policy(
                caller.account, form.required("RoleName"), form.required("PolicyDocument")
            ),
            "DeleteRole": lambda caller, form: iam.delete_role(caller.account, form.required("RoleName")),
            "ListRoles": lambda caller, form: self._list_roles(caller.account, form),
            "CreatePolicy": lambda caller, form: {"Policy": iam.create_policy(
                caller.account, form.required("PolicyName"), form.required("PolicyDocument"), form.text("Path"),
                form.text("Description"), form.tags(),
            )},
            "GetPolicy": lambda caller, form: {"Policy": iam.get_policy(caller.account, form.required("PolicyArn"))},
            "DeletePolicy": lambda caller, form: iam.delete_policy(caller.account, form.required("PolicyArn")),
            "ListPolicies": lambda caller, form: iam.list_policies(
                caller.account, form.text("Scope"), form.boolean("OnlyAttached"), form.text("PathPrefix"),
                form.text("Marker"), form.integer("MaxItems"),
            ),
            "AttachRolePolicy": lambda caller, form: iam.attach_role_policy(
                caller.account, form.required("RoleName"), form.required("PolicyArn")
            ),
            "DetachRolePolicy": lambda caller, form: iam.detach_role_policy(
                caller.account, form.required("RoleName"), form.required("PolicyArn")
            ),
            "ListAttachedRolePolicies": lambda caller, form: iam.list_attached_role_policies(
                caller.account, form.required("RoleName"), form.text("PathPrefix"), form.text("Marker"),
                form.integer("MaxItems"),
            ),
            "PutRolePolicy": lambda caller, form: iam.put_role_policy(
                caller.account, form.required("RoleName"), form.required("PolicyName"), form.required("PolicyDocument")
            ),
            "GetRolePolicy": lambda caller, form: encoded(
                iam.get_role_policy(caller.account, form.required("RoleName"), form.required("PolicyName")), "PolicyDocument"
            ),
            "DeleteRolePolicy": lambda caller, form: iam.delete_role_policy(
                caller.account, form.required("RoleName"), form.required("PolicyName")
            ),
            "ListRolePolicies": lambda caller, form: iam.list_role_policies(
                caller.account, form.required("RoleName"), form.text("Marker"), form.integer("MaxItems")
            ),
            "UpdateRoleDescription": lambda caller, form: {"Role": _role(iam.update_role_description(
                caller.account, form.required("RoleName"), form.required("Description")
            ))},
            "ListInstanceProfilesForRole": lambda caller, form: iam.list_instance_profiles_for_role(
                caller.account, form.required("RoleName"), form.text("Marker"), form.integer("MaxItems")
            ),
        }

    def _update_role(self, account: str, form: Form) -> Body:
        """UpdateRole answers with an empty UpdateRoleResult."""
        self._iam.update_role(
            account, form.required("RoleName"), form.text("Description"), form.integer("MaxSessionDuration")
        )
        return {}

    def _list_roles(self, account: str, form: Form) -> Body:
        page = self._iam.list_roles(account, form.text("PathPrefix"), form.text("Marker"), form.integer("MaxItems"))
        return {**page, "Roles": [_role(role) for role in page["Roles"]]}


def _version_actions(versions: PolicyVersions) -> dict[str, Handler]:
    """The managed policy version calls; documents travel URL-encoded, as IAM sends them."""

    def get(caller: Principal, form: Form) -> Body:
        found = versions.get(caller.account, form.required("PolicyArn"), form.required("VersionId"))
        return {"PolicyVersion": encoded(found["PolicyVersion"], "Document")}

    return {
        "CreatePolicyVersion": lambda caller, form: versions.create(
            caller.account, form.required("PolicyArn"), form.required("PolicyDocument"), form.boolean("SetAsDefault")
        ),
        "GetPolicyVersion": get,
        "ListPolicyVersions": lambda caller, form: versions.list(
            caller.account, form.required("PolicyArn"), form.text("Marker"), form.integer("MaxItems")
        ),
        "DeletePolicyVersion": lambda caller, form: versions.delete(
            caller.account, form.required("PolicyArn"), form.required("VersionId")
        ),
        "SetDefaultPolicyVersion": lambda caller, form: versions.set_default(
            caller.account, form.required("PolicyArn"), form.required("VersionId")
        ),
    }


def _tag_actions(tags: IamTags) -> dict[str, Handler]:
    """The tag calls of roles and customer managed policies."""
    return {
        "TagRole": lambda caller, form: tags.tag_role(caller.account, form.required("RoleName"), form.tags()),
        "UntagRole": lambda caller, form: tags.untag_role(
            caller.account, form.required("RoleName"), form.members("TagKeys") or []
        ),
        "ListRoleTags": lambda caller, form: tags.list_role_tags(
            caller.account, form.required("RoleName"), form.text("Marker"), form.integer("MaxItems")
        ),
        "TagPolicy": lambda caller, form: tags.tag_policy(caller.account, form.required("PolicyArn"), form.tags()),
        "UntagPolicy": lambda caller, form: tags.untag_policy(
            caller.account, form.required("PolicyArn"), form.members("TagKeys") or []
        ),
        "ListPolicyTags": lambda caller, form: tags.list_policy_tags(
            caller.account, form.required("PolicyArn"), form.text("Marker"), form.integer("MaxItems")
        ),
    }


def xml_text(value: str) -> str:
    """`value` as XML character data."""
    value = _NOT_XML.sub("\ufffd", value)
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def _element(name: str, value: object, out: list[str]) -> None:
    """Append `value` as element `name`: dicts as children, lists as <member>s, booleans as true/false."""
    if value is None:
        return
    out.append(f"<{name}>")
    if isinstance(value, dict):
        for key, item in value.items():
            _element(key, item, out)
    elif isinstance(value, list):
        for item in value:
            _element("member", item, out)
    elif isinstance(value, bool):
        out.append("true" if value else "false")
    else:
        out.append(xml_text(str(value)))
    out.append(f"</{name}>")


def _document(root: str, spec: _Service, children: dict[str, object]) -> bytes:
    out = ['<?xml version="1.0" encoding="UTF-8"?>', f'<{root} xmlns="{spec.namespace}">']
    for name, value in children.items():
        _element(name, value, out)
    out.append(f"</{root}>")
    return "".join(out).encode()


def _success_document(spec: _Service, action: str, result: Body | None, request_id: str) -> bytes:
    return _document(
        f"{action}Response",
        spec,
        {f"{action}Result": result, "ResponseMetadata": {"RequestId": request_id}},
    )


def _error_document(spec: _Service, error: IamError, request_id: str) -> bytes:
    detail = {"Type": error.party, "Code": error.code, "Message": error.message}
    return _document("ErrorResponse", spec, {"Error": detail, "RequestId": request_id})
