"""The resource policy a request's target has: a function's, a layer version's, or a role's trust policy.

Contract: `of(target)` returns the parsed policy documents of the resource the target names (at
most one), or none: for a resource that has no policy, that does not exist, or whose stored
document does not parse. It never raises for any ARN a request can produce.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping

from lambdabox.access.actions import Target
from lambdabox.model.arns import Scope

_FUNCTION = re.compile(r"arn:aws:lambda:([a-z0-9-]+):(\d{12}):function:([A-Za-z0-9_-]+)(?::(\$LATEST|[A-Za-z0-9_-]+))?")
_LAYER_VERSION = re.compile(r"arn:aws:lambda:([a-z0-9-]+):(\d{12}):layer:([A-Za-z0-9_-]+):([0-9]{1,12})")
_ROLE = re.compile(r"arn:aws:iam::(\d{12}):role/(?:[^/]+/)*([\w+=,.@-]{1,64})")

#: (scope, function name, qualifier or None) -> the function's policy document, or None.
FunctionPolicy = Callable[[Scope, str, "str | None"], "Mapping | None"]
#: (scope, layer name, version) -> the layer version's policy document, or None.
LayerPolicy = Callable[[Scope, str, int], "Mapping | None"]
#: (account, role name) -> the role's trust policy text, or None.
TrustPolicy = Callable[[str, str], "str | None"]


class ResourcePolicies:
    def __init__(self, function_policy: FunctionPolicy, layer_policy: LayerPolicy, trust_policy: TrustPolicy) -> None:
        self._function_policy = function_policy
        self._layer_policy = layer_policy
        self._trust_policy = trust_policy

    @staticmethod
    def can_deny(target: Target) -> bool:
        """Whether the target's resource policy could hold a Deny: a role's trust policy can; the policies of
        functions and layer versions are made by AddPermission, which writes only Allows."""
        return not target.action.lower().startswith("lambda:")

    def of(self, target: Target) -> list[Mapping]:
        resource = target.resource
        if target.action.lower() == "sts:assumerole":
            found = _ROLE.fullmatch(resource)
            text = self._trust_policy(found[1], found[2]) if found else None
            return _parsed(text)
        if (found := _FUNCTION.fullmatch(resource)) is not None:
            document = self._function_policy(Scope(found[2], found[1]), found[3], found[4])
            return [document] if document else []
        if (found := _LAYER_VERSION.fullmatch(resource)) is not None:
            document = self._layer_policy(Scope(found[2], found[1]), found[3], int(found[4]))
            return [document] if document else []
        return []


def _parsed(text: str | None) -> list[Mapping]:
    if not text:
        return []
    try:
        document = json.loads(text)
    except ValueError:
        return []
    return [document] if isinstance(document, dict) else []
