"""IAM policy evaluation: does a set of identity or resource policies allow, deny, or say nothing?

Sources (AWS IAM User Guide): "Policy evaluation logic", "IAM JSON policy elements" (Effect, Action,
NotAction, Resource, NotResource, Principal, NotPrincipal, Condition) and "IAM policy elements: Variables and
tags". Conditions are decided in `conditions`, wildcards and variables in `patterns`.

Contract:
- `identity_effect` and `resource_effect` are pure: they read the documents and the request, nothing else.
- They return `Effect.DENY` when any applicable statement denies (an explicit deny wins), else `Effect.ALLOW`
  when any applies and allows, else `Effect.NONE` (an implicit deny). Combining identity and resource
  effects (and accounts) is the caller's business.
- They never raise on a document. Tenants write them: a statement that is malformed (not an object, an Effect
  other than "Allow"/"Deny", both or neither of Action/NotAction, a value of the wrong type, an empty list,
  an unknown condition operator, a pattern over `patterns.MAX_PATTERN_CHARS`) does not apply; the other
  statements still count.
- Matching is linear in the subject for any pattern (see `patterns`); no input makes it backtrack.
- Policy variables (`${aws:username}`, `${aws:PrincipalTag/team, 'default'}`, `${*}`, `${?}`, `${$}`) are
  substituted in Resource/NotResource and in String, ARN and Bool condition values, from the request
  context, in documents whose Version is 2012-10-17 (others keep `${...}` literally, as AWS does). A Resource
  entry whose variable has no value matches nothing; such a variable in NotResource or in a condition that
  needs its value makes the statement not apply.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lambdabox.access.conditions import block_holds
from lambdabox.access.patterns import (
    VARIABLES_VERSION,
    Context,
    Glob,
    PatternError,
    Unresolved,
    expand,
    normalize_context,
)


class Effect(enum.Enum):
    ALLOW = "Allow"
    DENY = "Deny"
    #: No statement applies: an implicit deny.
    NONE = "None"


@dataclass(frozen=True)
class Request:
    #: "lambda:GetFunction"; matched case-insensitively, as IAM does.
    action: str
    #: The resource's ARN, or "*" for actions without resource-level permissions.
    resource: str
    #: Condition keys -> values; key names case-insensitive ({"aws:SourceIp": ["127.0.0.1"], ...}).
    context: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Caller:
    """Who a resource policy's Principal element is matched against."""

    #: "111111111111"
    account: str
    #: The principal's ARN: arn:aws:iam::A:root, arn:aws:iam::A:user/NAME, arn:aws:sts::A:assumed-role/R/S.
    arn: str
    #: For an assumed role: the role's ARN (arn:aws:iam::A:role/PATH/NAME), which also names its sessions.
    role_arn: str | None = None
    #: A service principal ("s3.amazonaws.com") when a service calls; then only Service entries (and "*")
    #: name it.
    service: str | None = None


def identity_effect(documents: Iterable[Mapping], request: Request) -> Effect:
    """The effect of identity policies (no Principal element; a statement without Resource never applies)."""
    return _effect(documents, request, caller=None)


def resource_effect(documents: Iterable[Mapping], caller: Caller, request: Request) -> Effect:
    """The effect of resource policies: statements name a Principal or NotPrincipal; without Resource or
    NotResource a statement is about the resource holding the policy, so it applies to any request resource."""
    return _effect(documents, request, caller=caller)


def _effect(documents: Iterable[Mapping], request: Request, caller: Caller | None) -> Effect:
    context = normalize_context(request.context)
    allowed = False
    for document in documents:
        if not isinstance(document, Mapping):
            continue
        variables = document.get("Version") == VARIABLES_VERSION
        statements = document.get("Statement")
        if isinstance(statements, Mapping):
            statements = [statements]
        if not isinstance(statements, list):
            continue
        for statement in statements:
            effect = _statement_effect(statement, request, context, caller, variables)
            if effect is Effect.DENY:
                return Effect.DENY
            allowed = allowed or effect is Effect.ALLOW
    return Effect.ALLOW if allowed else Effect.NONE


def _statement_effect(
    statement: Any, request: Request, context: Context, caller: Caller | None, variables: bool
) -> Effect:
    """The statement's Effect if it applies to the request, else NONE."""
    if not isinstance(statement, Mapping):
        return Effect.NONE
    effect = statement.get("Effect")
    if effect not in ("Allow", "Deny"):
        return Effect.NONE
    try:
        applies = (
            _principal_applies(statement, caller)
            and _action_applies(statement, request.action)
            and _resource_applies(statement, request.resource, context, variables, caller is not None)
            and block_holds(statement.get("Condition"), context, variables)
        )
    except (_Malformed, PatternError):
        return Effect.NONE
    return Effect(effect) if applies else Effect.NONE


class _Malformed(Exception):
    """A statement element of the wrong shape; the statement does not apply."""


def _strings(value: Any) -> list[str]:
    """An element's value as a non-empty list of strings: one string or a list of them."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return value
    raise _Malformed


def _one_of(statement: Mapping, positive: str, negative: str) -> tuple[list[str] | None, bool]:
    """The values of whichever of the element pair is present, and whether it is the negative one.

    (None, False) when neither is present; both present is malformed.
    """
    has_positive, has_negative = positive in statement, negative in statement
    if has_positive and has_negative:
        raise _Malformed
    if has_positive:
        return _strings(statement[positive]), False
    if has_negative:
        return _strings(statement[negative]), True
    return None, False


def _action_applies(statement: Mapping, action: str) -> bool:
    patterns, negated = _one_of(statement, "Action", "NotAction")
    if patterns is None:
        raise _Malformed
    hit = any(Glob.compile([(pattern, False)], fold_case=True).match(action) for pattern in patterns)
    return hit != negated


def _resource_applies(
    statement: Mapping, resource: str, context: Context, variables: bool, resource_policy: bool
) -> bool:
    patterns, negated = _one_of(statement, "Resource", "NotResource")
    if patterns is None:
        # In a resource policy the resource is the one holding the policy; identity policies must name it.
        return resource_policy
    hit = False
    for pattern in patterns:
        try:
            glob = Glob.compile(expand(pattern, context, variables), colon_bound=True)
        except Unresolved:
            if negated:
                raise  # the statement does not apply
            continue  # this entry matches nothing
        if glob.match(resource):
            hit = True
            break
    return hit != negated


# --- principals -------------------------------------------------------------------------------------------

_ACCOUNT = re.compile(r"\d{12}")
_ROOT_ARN = re.compile(r"arn:[a-z-]+:iam::(\d{12}):root")


def _principal_applies(statement: Mapping, caller: Caller | None) -> bool:
    has_principal = "Principal" in statement or "NotPrincipal" in statement
    if caller is None:
        if has_principal:
            raise _Malformed  # identity policies have no Principal element
        return True
    if "Principal" in statement and "NotPrincipal" in statement:
        raise _Malformed
    if "Principal" in statement:
        return _names(statement["Principal"], caller)
    if "NotPrincipal" in statement:
        return not _excludes(statement["NotPrincipal"], caller)
    raise _Malformed  # a resource policy statement must say whom it is about


def _entries(element: Any) -> dict[str, list[str]]:
    """A Principal element as {"AWS": [...], "Service": [...], ...}; "*" alone as {"*": ["*"]}."""
    if element == "*":
        return {"*": ["*"]}
    if not isinstance(element, Mapping) or not element:
        raise _Malformed
    return {key: _strings(values) for key, values in element.items() if isinstance(key, str)}


def _account_of(entry: str) -> str | None:
    """The account an AWS entry names as a whole: "123456789012" or "arn:aws:iam::123456789012:root"."""
    if _ACCOUNT.fullmatch(entry):
        return entry
    found = _ROOT_ARN.fullmatch(entry)
    return found.group(1) if found else None


def _names(element: Any, caller: Caller) -> bool:
    """Whether a Principal element names the caller.

    "*" names anyone; {"AWS": "*"} any AWS identity (not a service). An account id or the account's root
    ARN names every principal of that account. A user or role ARN names that user or role, and a role ARN
    also every session of the role; an assumed-role session ARN names that session. {"Service": name} names
    the service. Partial wildcards are not allowed in Principal, so other entries are compared exactly.
    """
    entries = _entries(element)
    if "*" in entries:
        return True
    if caller.service is not None:
        return caller.service.lower() in (name.lower() for name in entries.get("Service", []))
    for entry in entries.get("AWS", []):
        if entry == "*" or _account_of(entry) == caller.account:
            return True
        if entry == caller.arn or (caller.role_arn is not None and entry == caller.role_arn):
            return True
    return False


def _excludes(element: Any, caller: Caller) -> bool:
    """Whether a NotPrincipal element exempts the caller from the statement.

    AWS checks the account, then the role, then the session or user; the NotPrincipal documentation asks that
    the account be listed alongside the principal, "otherwise the policy might deny access to the entire
    account containing the principal". So an AWS caller is exempt only when both its account (id or root
    ARN) and itself (its ARN, or for a session its role's ARN) are listed. A service is exempt when listed.
    """
    entries = _entries(element)
    if "*" in entries:
        return True
    if caller.service is not None:
        return caller.service.lower() in (name.lower() for name in entries.get("Service", []))
    listed = entries.get("AWS", [])
    if "*" in listed:
        return True
    account_listed = any(_account_of(entry) == caller.account for entry in listed)
    is_root = _account_of(caller.arn) == caller.account
    self_listed = (
        is_root
        or caller.arn in listed
        or (caller.role_arn is not None and caller.role_arn in listed)
    )
    return account_listed and self_listed
