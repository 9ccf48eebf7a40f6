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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from lambdabox.control.iam import Iam
from lambdabox.model import numerals
from lambdabox.model.errors import shortened
from lambdabox.model.iam import IamError, IamValidationError, InvalidAction, MissingAction, ServiceFailure, not_null

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


_TAG_FIELD = re.compile(r"Tags\.member\.([0-9]+)\.(Key|Value)")
#: Characters XML 1.0 cannot carry at all; they are sent as U+FFFD.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _member(name: str) -> str:
    """The name AWS's messages give a parameter: RoleName -> roleName."""
    return name[:1].lower() + name[1:]


class _Form:
    """One request's form parameters, read as the API model's types."""

    def __init__(self, params: dict[str, str]) -> None:
        self._params = params

    def text(self, name: str) -> str | None:
        return self._params.get(name)

    def required(self, name: str) -> str:
        value = self._params.get(name)
        if value is None:
            raise not_null(_member(name))
        return value

    def integer(self, name: str) -> int | None:
        raw = self._params.get(name)
        if raw is None:
            return None
        number = numerals.integer(raw)
        if number is None:
            raise _unreadable(raw, name, "Member must be a number")
        return number

    def boolean(self, name: str) -> bool:
        raw = self._params.get(name, "false")
        if raw not in ("true", "false"):
            raise _unreadable(raw, name, "Member must be true or false")
        return raw == "true"

    def tags(self) -> list[dict[str, str]]:
        """``Tags.member.N.Key`` / ``.Value`` as [{"Key", "Value"}] in N order (``Tags=`` is an empty list)."""
        fields: dict[int, dict[str, str]] = {}
        for key, value in self._params.items():
            found = _TAG_FIELD.fullmatch(key)
            if found:
                number = numerals.natural(found[1])
                if number is None:
                    raise _unreadable(found[1], "tags", "Member must have a member number")
                fields.setdefault(number, {})[found[2]] = value
        tags = []
        for number in sorted(fields):
            for part in ("Key", "Value"):
                if part not in fields[number]:
                    raise not_null(f"tags.{number}.member.{part.lower()}")
            tags.append({"Key": fields[number]["Key"], "Value": fields[number]["Value"]})
        return tags


def _unreadable(raw: str, name: str, rule: str) -> IamValidationError:
    return IamValidationError(
        f"1 validation error detected: Value '{shortened(raw)}' at '{_member(name)}' failed to satisfy constraint: {rule}"
    )


def _encoded(body: Body, field: str) -> Body:
    """`body` with its policy document `field` URL-encoded, as IAM returns documents."""
    return {**body, field: quote(body[field], safe="")} if field in body else body


def _role(role: Body) -> Body:
    return _encoded(role, "AssumeRolePolicyDocument")


Handler = Callable[[str, _Form], Body | None]


class QueryApi:
    """Answers IAM and STS Query-protocol requests; synchronous (callers run it in a thread pool).

    `handle` never raises for anything a request contains: every outcome is an HTTP status
    and an XML body. An unexpected failure is logged and answered as ServiceFailure (500).
    """

    def __init__(self, iam: Iam) -> None:
        self._iam = iam
        self._actions: dict[str, dict[str, Handler]] = {"iam": self._iam_actions(), "sts": self._sts_actions()}

    def handle(self, service: str, account: str, params: dict[str, str], request_id: str) -> tuple[int, bytes]:
        """(HTTP status, XML body) for one request to `service` by `account`.

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
            result = handler(account, _Form(params))
        except IamError as error:
            return error.status, _error_document(spec, error, request_id)
        except Exception:
            log.exception("%s %s failed", service, action)
            return 500, _error_document(spec, ServiceFailure("An internal error occurred."), request_id)
        return 200, _success_document(spec, action, result, request_id)

    def refuse(self, service: str, error: IamError, request_id: str) -> tuple[int, bytes]:
        """(HTTP status, XML body) of `error`, for a request refused before its form could be read."""
        return error.status, _error_document(_SERVICES[service], error, request_id)

    def _sts_actions(self) -> dict[str, Handler]:
        def caller_identity(account: str, _: _Form) -> Body:
            return {"UserId": account, "Account": account, "Arn": f"arn:aws:iam::{account}:root"}

        return {"GetCallerIdentity": caller_identity}

    def _iam_actions(self) -> dict[str, Handler]:
        iam = self._iam
        return {
            "CreateRole": lambda account, form: {"Role": _role(iam.create_role(
                account, form.required("RoleName"), form.required("AssumeRolePolicyDocument"), form.text("Path"),
                form.text("Description"), form.integer("MaxSessionDuration"), form.text("PermissionsBoundary"),
                form.tags(),
            ))},
            "GetRole": lambda account, form: {"Role": _role(iam.get_role(account, form.required("RoleName")))},
            "UpdateRole": lambda account, form: self._update_role(account, form),
            "UpdateAssumeRolePolicy": lambda account, form: iam.update_trust_policy(
                account, form.required("RoleName"), form.required("PolicyDocument")
            ),
            "DeleteRole": lambda account, form: iam.delete_role(account, form.required("RoleName")),
            "ListRoles": lambda account, form: self._list_roles(account, form),
            "CreatePolicy": lambda account, form: {"Policy": iam.create_policy(
                account, form.required("PolicyName"), form.required("PolicyDocument"), form.text("Path"),
                form.text("Description"), form.tags(),
            )},
            "GetPolicy": lambda account, form: {"Policy": iam.get_policy(account, form.required("PolicyArn"))},
            "DeletePolicy": lambda account, form: iam.delete_policy(account, form.required("PolicyArn")),
            "ListPolicies": lambda account, form: iam.list_policies(
                account, form.text("Scope"), form.boolean("OnlyAttached"), form.text("PathPrefix"),
                form.text("Marker"), form.integer("MaxItems"),
            ),
            "AttachRolePolicy": lambda account, form: iam.attach_role_policy(
                account, form.required("RoleName"), form.required("PolicyArn")
            ),
            "DetachRolePolicy": lambda account, form: iam.detach_role_policy(
                account, form.required("RoleName"), form.required("PolicyArn")
            ),
            "ListAttachedRolePolicies": lambda account, form: iam.list_attached_role_policies(
                account, form.required("RoleName"), form.text("PathPrefix"), form.text("Marker"),
                form.integer("MaxItems"),
            ),
            "PutRolePolicy": lambda account, form: iam.put_role_policy(
                account, form.required("RoleName"), form.required("PolicyName"), form.required("PolicyDocument")
            ),
            "GetRolePolicy": lambda account, form: _encoded(
                iam.get_role_policy(account, form.required("RoleName"), form.required("PolicyName")), "PolicyDocument"
            ),
            "DeleteRolePolicy": lambda account, form: iam.delete_role_policy(
                account, form.required("RoleName"), form.required("PolicyName")
            ),
            "ListRolePolicies": lambda account, form: iam.list_role_policies(
                account, form.required("RoleName"), form.text("Marker"), form.integer("MaxItems")
            ),
        }

    def _update_role(self, account: str, form: _Form) -> Body:
        """UpdateRole answers with an empty UpdateRoleResult."""
        self._iam.update_role(
            account, form.required("RoleName"), form.text("Description"), form.integer("MaxSessionDuration")
        )
        return {}

    def _list_roles(self, account: str, form: _Form) -> Body:
        page = self._iam.list_roles(account, form.text("PathPrefix"), form.text("Marker"), form.integer("MaxItems"))
        return {**page, "Roles": [_role(role) for role in page["Roles"]]}


def _text(value: str) -> str:
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
        out.append(_text(str(value)))
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
