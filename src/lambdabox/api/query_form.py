"""Reading one Query-protocol request's form as the API model's types, and what handlers share.

A handler takes the calling principal and the request's `Form`, and returns the body of the
``<{Action}Result>`` element (None for actions with no output). Errors are IamErrors.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from lambdabox.model import numerals
from lambdabox.model.errors import shortened
from lambdabox.model.iam import IamValidationError, not_null
from lambdabox.model.principals import Principal

Body = dict[str, Any]

_TAG_FIELD = re.compile(r"Tags\.member\.([0-9]+)\.(Key|Value)")
#: A list member: ``TagKeys.member.3``, or ``PolicyArns.member.3.arn`` with a field.
_LIST_MEMBER = re.compile(r"(?P<list>[A-Za-z]+)\.member\.(?P<number>[0-9]+)(?:\.(?P<field>[A-Za-z]+))?")


def member_name(name: str) -> str:
    """The name AWS's messages give a parameter: RoleName -> roleName."""
    return name[:1].lower() + name[1:]


class Form:
    """One request's form parameters, read as the API model's types."""

    def __init__(self, params: dict[str, str]) -> None:
        self._params = params

    def text(self, name: str) -> str | None:
        return self._params.get(name)

    def required(self, name: str) -> str:
        value = self._params.get(name)
        if value is None:
            raise not_null(member_name(name))
        return value

    def integer(self, name: str) -> int | None:
        raw = self._params.get(name)
        if raw is None:
            return None
        number = numerals.integer(raw)
        if number is None:
            raise unreadable(raw, name, "Member must be a number")
        return number

    def boolean(self, name: str) -> bool:
        raw = self._params.get(name, "false")
        if raw not in ("true", "false"):
            raise unreadable(raw, name, "Member must be true or false")
        return raw == "true"

    def members(self, name: str, field: str | None = None) -> list[str] | None:
        """``Name.member.N`` (or ``Name.member.N.field``) in N order; None when the list is not sent at all."""
        found: dict[int, str] = {}
        for key, value in self._params.items():
            matched = _LIST_MEMBER.fullmatch(key)
            if matched and matched["list"] == name and matched["field"] == field:
                number = numerals.natural(matched["number"])
                if number is None:
                    raise unreadable(matched["number"], name, "Member must have a member number")
                found[number] = value
        if not found:
            return [] if name in self._params else None
        return [found[number] for number in sorted(found)]

    def tags(self) -> list[dict[str, str]]:
        """``Tags.member.N.Key`` / ``.Value`` as [{"Key", "Value"}] in N order (``Tags=`` is an empty list)."""
        fields: dict[int, dict[str, str]] = {}
        for key, value in self._params.items():
            found = _TAG_FIELD.fullmatch(key)
            if found:
                number = numerals.natural(found[1])
                if number is None:
                    raise unreadable(found[1], "tags", "Member must have a member number")
                fields.setdefault(number, {})[found[2]] = value
        tags = []
        for number in sorted(fields):
            for part in ("Key", "Value"):
                if part not in fields[number]:
                    raise not_null(f"tags.{number}.member.{part.lower()}")
            tags.append({"Key": fields[number]["Key"], "Value": fields[number]["Value"]})
        return tags


Handler = Callable[[Principal, Form], Body | None]


def unreadable(raw: str, name: str, rule: str) -> IamValidationError:
    return IamValidationError(
        f"1 validation error detected: Value '{shortened(raw)}' at '{member_name(name)}' failed to satisfy constraint: "
        f"{rule}"
    )


def encoded(body: Body, field: str) -> Body:
    """`body` with its policy document `field` URL-encoded, as IAM returns documents."""
    return {**body, field: quote(body[field], safe="")} if field in body else body
