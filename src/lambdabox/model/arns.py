"""Lambda and IAM ARNs, and the many ways a client may name a function."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lambdabox.model.errors import AccessDenied, InvalidParameterValue, ResourceNotFound, ValidationError, shortened

#: The partition every ARN we mint lives in.
PARTITION = "aws"

LATEST = "$LATEST"

_FUNCTION_REF = re.compile(
    r"^(?:arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<arn_account>\d{12}):function:"
    r"|(?P<account>\d{12}):function:"
    r"|function:)?"
    r"(?P<name>[a-zA-Z0-9_-]+)(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?$"
)
_LAYER_ARN = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):layer:"
    r"(?P<name>[a-zA-Z0-9_-]+)(?::(?P<version>[0-9]+))?$"
)


@dataclass(frozen=True)
class Scope:
    """Where a request acts: the account chosen by its access key and the region of its signature."""

    account: str
    region: str


@dataclass(frozen=True)
class FunctionRef:
    """A function as a client named it: plain name, partial ARN or full ARN, maybe qualified."""

    scope: Scope
    name: str
    qualifier: str | None = None


def function_arn(scope: Scope, name: str, qualifier: str | None = None) -> str:
    arn = f"arn:{PARTITION}:lambda:{scope.region}:{scope.account}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def layer_arn(scope: Scope, name: str, version: int | None = None) -> str:
    arn = f"arn:{PARTITION}:lambda:{scope.region}:{scope.account}:layer:{name}"
    return f"{arn}:{version}" if version is not None else arn


def role_arn(account: str, path: str, name: str) -> str:
    return f"arn:{PARTITION}:iam::{account}:role{path}{name}"


def parse_function_ref(text: str, scope: Scope, qualifier: str | None = None) -> FunctionRef:
    """Resolve a FunctionName as Lambda accepts it, with an optional separate Qualifier.

    A qualifier inside the name and a different one given separately is an error, as on AWS.
    """
    match = _FUNCTION_REF.match(text)
    if not match:
        raise ValidationError(
            f"1 validation error detected: Value '{text}' at 'functionName' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: "
            r"(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?"
            r"(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?"
        )
    if len(match["name"]) > 64:
        # Lambda words this as a validation error but reports it as InvalidParameterValueException.
        raise InvalidParameterValue(
            f"1 validation error detected: Value '{match['name']}' at 'functionName' failed to satisfy "
            "constraint: Member must have length less than or equal to 64"
        )
    account = match["arn_account"] or match["account"] or scope.account
    region = match["region"] or scope.region
    if region != scope.region:
        raise ResourceNotFound(f"Functions from '{region}' are not reachable in this region ('{scope.region}')")
    if account != scope.account:
        raise AccessDenied(f"The caller's account {scope.account} cannot act on functions of account {account}.")
    inner = match["qualifier"]
    if inner and qualifier and inner != qualifier:
        raise InvalidParameterValue("The derived qualifier from the function name does not match the specified qualifier.")
    return FunctionRef(scope, match["name"], inner or qualifier)


#: The FunctionName pattern of Lambda's lookups by name (GetFunction, DeleteFunction, Invoke), which the API layer
#: has already checked; it reads a few names ours does not (dots, "arn:...:ACCOUNT:function" naming "function").
_LOOKUP_NAME = re.compile(
    r"(?:arn:(?:aws[a-zA-Z-]*)?:lambda:)?(?:(?:eusc-)?[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d:)?(?:\d{12}:)?(?:function:)?"
    r"(?P<name>[a-zA-Z0-9_.-]+)(?::(?P<qualifier>\$LATEST(?:\.PUBLISHED)?|[a-zA-Z0-9_-]+))?"
)


def existing_function_ref(
    text: str, scope: Scope, qualifier: str | None = None, *, shown_qualifier: str | None = None
) -> FunctionRef:
    """A FunctionName that must name an existing function: a well-formed one no function could have (a name
    longer than 64, or one only the lookup pattern reads) is not found, as AWS answers Get, Delete and Invoke,
    rather than invalid. The message names the function as AWS reads it, with `shown_qualifier` (or the name's
    own qualifier) as the operation shows it."""
    match = _FUNCTION_REF.match(text)
    if not match or len(match["name"]) > 64:
        lookup = _LOOKUP_NAME.fullmatch(text)
        name = lookup["name"] if lookup else text
        shown = (lookup["qualifier"] if lookup else None) or shown_qualifier
        # Quoted back at most 256 characters long: a name in a URL can be far longer than any function's.
        raise ResourceNotFound(f"Function not found: {function_arn(scope, shortened(name, 256), shown)}")
    return parse_function_ref(text, scope, qualifier)


@dataclass(frozen=True)
class LayerVersionRef:
    scope: Scope
    name: str
    version: int


def parse_layer_version_arn(arn: str) -> LayerVersionRef | None:
    """The parts of a layer version ARN, or None when the text is not one."""
    match = _LAYER_ARN.match(arn)
    if not match or match["version"] is None:
        return None
    return LayerVersionRef(Scope(match["account"], match["region"]), match["name"], int(match["version"]))


def parse_layer_name(text: str, scope: Scope) -> tuple[Scope, str]:
    """A LayerName path parameter: a plain name or a layer ARN without version."""
    match = _LAYER_ARN.match(text)
    if match and match["version"] is None:
        return Scope(match["account"], match["region"]), match["name"]
    return scope, text
