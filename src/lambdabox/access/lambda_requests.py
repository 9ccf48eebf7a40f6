"""What a Lambda request names: the resource it acts on and the condition keys it carries.

The readers the action table (access/actions.py) is made of. Each takes a request's decoded
parameters and the caller's scope; none raises for any parameters, however odd (a hostile body
holds anything): text it cannot read becomes a best-effort ARN from the text as given, which the
handler refuses later. See access/actions.py for the rules (qualifiers, accounts, regions).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lambdabox.model.arns import PARTITION, Scope, function_arn, layer_arn, parse_layer_name, parse_layer_version_arn
from lambdabox.model.limits import MAX_LAYERS, MAX_TAGS
from lambdabox.model.vpc import VPC_ID

Params = Mapping[str, Any]
Context = dict[str, list[str]]

#: Most values a multi-valued condition key takes from one request: one more than any request that can
#: succeed holds (50 tags, 5 layers), so every decision that matters is the same, while a hostile request
#: with 100,000 tags can't make a policy's wildcards run 100,000 times each.
MOST_VALUES = max(MAX_TAGS, MAX_LAYERS) + 1


# --- Reading names ---------------------------------------------------------------------------

#: A FunctionName as the handler reads it (model/arns.py), with any characters in the name, so
#: that odd names still give a readable ARN: a full ARN, a partial ARN, `function:NAME`, or NAME,
#: each with an optional `:QUALIFIER`.
_FUNCTION_NAME = re.compile(
    r"^(?:arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<arn_account>\d{12}):function:"
    r"|(?P<account>\d{12}):function:"
    r"|function:)?"
    r"(?P<name>[^:]+)(?::(?P<qualifier>[^:]+))?$"
)
#: Any ARN: arn:PARTITION:SERVICE:REGION:ACCOUNT:REST.
ARN = re.compile(r"^arn:[^:]*:[^:]*:(?P<region>[^:]*):(?P<account>[^:]*):.")
_ACCOUNT = re.compile(r"^\d{12}$")


def as_text(value: Any) -> str:
    """A parameter as text: strings as they are, anything else (a hostile body) by str()."""
    return value if isinstance(value, str) else "" if value is None else str(value)


def as_texts(value: Any) -> list[str]:
    """A list parameter as a list of texts; a lone value as a one-element list."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [as_text(item) for item in value]
    return [as_text(value)]


@dataclass(frozen=True)
class Place:
    resource: str
    account: str
    region: str


def _function_place(params: Params, scope: Scope) -> Place:
    """The function, version or alias a request names; see "Qualifiers" above."""
    text = as_text(params.get("FunctionName"))
    separate = as_text(params.get("Qualifier")) or None
    match = _FUNCTION_NAME.match(text)
    if not match:
        # Unreadable: the handler refuses it; give the text as the name, in the caller's scope.
        return Place(function_arn(scope, text, separate), scope.account, scope.region)
    place = Scope(match["arn_account"] or match["account"] or scope.account, match["region"] or scope.region)
    # A qualifier in the name wins; one given twice and different is refused by the handler.
    qualifier = match["qualifier"] or separate
    return Place(function_arn(place, match["name"], qualifier), place.account, place.region)


def _arn_place(text: str, scope: Scope) -> Place:
    """An ARN given whole (a tag target, a code signing config): its own account and region."""
    match = ARN.match(text)
    if not match or not _ACCOUNT.match(match["account"]):
        return Place(text, scope.account, scope.region)
    return Place(text, match["account"], match["region"])


# --- Lambda resource kinds: (params, scope) -> where the request acts -------------------------

Resource = Callable[[Params, Scope], Place]


def anything(params: Params, scope: Scope) -> Place:
    return Place("*", scope.account, scope.region)


def function(params: Params, scope: Scope) -> Place:
    return _function_place(params, scope)


def layer(params: Params, scope: Scope) -> Place:
    place, name = parse_layer_name(as_text(params.get("LayerName")), scope)
    return Place(layer_arn(place, name), place.account, place.region)


def layer_version(params: Params, scope: Scope) -> Place:
    place, name = parse_layer_name(as_text(params.get("LayerName")), scope)
    version = as_text(params.get("VersionNumber"))
    return Place(f"{layer_arn(place, name)}:{version}", place.account, place.region)


def layer_version_arn_of(params: Params, scope: Scope) -> Place:
    text = as_text(params.get("Arn"))
    ref = parse_layer_version_arn(text)
    if ref is None:
        return _arn_place(text, scope)
    return Place(layer_arn(ref.scope, ref.name, ref.version), ref.scope.account, ref.scope.region)


def event_source_mapping(params: Params, scope: Scope) -> Place:
    uuid = as_text(params.get("UUID"))
    arn = f"arn:{PARTITION}:lambda:{scope.region}:{scope.account}:event-source-mapping:{uuid}"
    return Place(arn, scope.account, scope.region)


def capacity_provider(params: Params, scope: Scope) -> Place:
    name = as_text(params.get("CapacityProviderName"))
    if name.startswith("arn:"):
        return _arn_place(name, scope)
    arn = f"arn:{PARTITION}:lambda:{scope.region}:{scope.account}:capacity-provider:{name}"
    return Place(arn, scope.account, scope.region)


def arn_in(param: str) -> Resource:
    """The resource is the ARN a parameter holds whole (TagResource's Resource, ...)."""

    def place(params: Params, scope: Scope) -> Place:
        return _arn_place(as_text(params.get(param)), scope)

    return place


# --- Lambda condition keys: (params, scope) -> keys and values --------------------------------

Keys = Callable[[Params, Scope], Context]


def request_tags(params: Params, scope: Scope) -> Context:
    """aws:RequestTag/KEY and aws:TagKeys from a Lambda `Tags` map."""
    tags = params.get("Tags")
    if not isinstance(tags, Mapping) or not tags:
        return {}
    first = list(itertools.islice(tags.items(), MOST_VALUES))
    context: Context = {f"aws:RequestTag/{as_text(key)}": [as_text(value)] for key, value in first}
    context["aws:TagKeys"] = [as_text(key) for key, _ in first]
    return context


def removed_tag_keys(params: Params, scope: Scope) -> Context:
    keys = as_texts(params.get("TagKeys"))[:MOST_VALUES]
    return {"aws:TagKeys": keys} if keys else {}


def layers(params: Params, scope: Scope) -> Context:
    layers = as_texts(params.get("Layers"))[:MOST_VALUES]
    return {"lambda:Layer": layers} if layers else {}


def subnets(params: Params, scope: Scope) -> Context:
    """lambda:SubnetIds and lambda:SecurityGroupIds from a `VpcConfig`."""
    vpc = params.get("VpcConfig")
    if not isinstance(vpc, Mapping):
        return {}
    return {
        "lambda:SubnetIds": as_texts(vpc.get("SubnetIds")),
        "lambda:SecurityGroupIds": as_texts(vpc.get("SecurityGroupIds")),
    }


def vpc(params: Params, scope: Scope) -> Context:
    """A function's VpcConfig: its subnets and groups, and lambda:VpcIds."""
    context = subnets(params, scope)
    if context:
        # All of Lambdabox's networks are subnets of one VPC (model/vpc.py); AWS derives the
        # VPC from the subnets the same way.
        context["lambda:VpcIds"] = [VPC_ID] if context["lambda:SubnetIds"] else []
    return context


def code_signing_config(params: Params, scope: Scope) -> Context:
    arn = params.get("CodeSigningConfigArn")
    return {"lambda:CodeSigningConfigArn": [as_text(arn)]} if arn is not None else {}


def function_arn_key(params: Params, scope: Scope) -> Context:
    """lambda:FunctionArn: the function the request names (an event source mapping's, a URL's)."""
    if params.get("FunctionName") is None:
        return {}
    return {"lambda:FunctionArn": [_function_place(params, scope).resource]}


def principal(params: Params, scope: Scope) -> Context:
    principal = params.get("Principal")
    return {"lambda:Principal": [as_text(principal)]} if principal is not None else {}


def url_auth_type(param: str) -> Keys:
    def keys(params: Params, scope: Scope) -> Context:
        value = params.get(param)
        return {"lambda:FunctionUrlAuthType": [as_text(value)]} if value is not None else {}

    return keys
