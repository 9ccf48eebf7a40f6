"""Checking request input against the shapes of AWS's own API model.

botocore ships the Lambda service model: every member's type, whether it is required,
its length and value ranges, enums and patterns. Requests are checked against it in two
passes, as AWS does:

1. `decode` walks the JSON and rejects what cannot be read as the shape at all (unknown
   fields, wrong types, undecodable base64) with InvalidRequestContentException;
2. `check` collects constraint failures (required, min/max, enum, pattern) and raises one
   ValidationException that lists them, in AWS's "N validation errors detected" words.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from typing import Any

from botocore.model import Shape

from lambdabox.model import aws_runtimes
from lambdabox.model.errors import InvalidRequestContent, constraint, validation_failure

#: Bound on the constraint failures listed in one message, as AWS lists at most a few.
MAX_LISTED_PROBLEMS = 10


def _parse_error(detail: str) -> InvalidRequestContent:
    return InvalidRequestContent(f"Could not parse request body into json: Could not parse payload into json: {detail}")


def _type_name(value: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}.get(
        type(value), type(value).__name__
    )


def decode(shape: Shape, value: Any, where: str) -> Any:
    """Return `value` read as `shape`, or raise InvalidRequestContentException. Nulls were dropped before."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            raise _parse_error(f"Cannot deserialize {where or 'request'}: expected an object, got {_type_name(value)}")
        out = {}
        for key, item in value.items():
            if key not in shape.members:
                raise _parse_error(f'Unrecognized field "{key}" ({shape.name}), not marked as ignorable')
            if item is not None:
                out[key] = decode(shape.members[key], item, f"{where}.{key}" if where else key)
        return out
    if kind == "list":
        if not isinstance(value, list):
            raise _parse_error(f"Cannot deserialize {where}: expected an array, got {_type_name(value)}")
        return [decode(shape.member, item, f"{where}[{i}]") for i, item in enumerate(value) if item is not None]
    if kind == "map":
        if not isinstance(value, dict):
            raise _parse_error(f"Cannot deserialize {where}: expected an object, got {_type_name(value)}")
        return {
            decode(shape.key, k, f"{where} key"): decode(shape.value, v, f"{where}.{k}")
            for k, v in value.items() if v is not None
        }
    if kind == "timestamp" and isinstance(value, int | float) and not isinstance(value, bool):
        # REST-JSON sends a timestamp as epoch seconds (botocore's default), or as text.
        return value
    if kind == "string" or kind == "timestamp":
        if not isinstance(value, str):
            raise _parse_error(f"Cannot deserialize {where}: expected a string, got {_type_name(value)}")
        if not value.isascii() and not _is_unicode(value):
            raise _parse_error(f"Cannot deserialize {where}: the string holds an unpaired UTF-16 surrogate")
        return value
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _parse_error(f"Cannot deserialize {where}: expected an integer, got {_type_name(value)}")
        return value
    if kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _parse_error(f"Cannot deserialize {where}: expected a number, got {_type_name(value)}")
        # A double is a double however the client wrote it: -1 is -1.0, as AWS prints and answers it.
        return float(value)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _parse_error(f"Cannot deserialize {where}: expected a boolean, got {_type_name(value)}")
        return value
    if kind == "blob":
        if not isinstance(value, str):
            raise _parse_error(f"Cannot deserialize {where}: expected a base64 string, got {_type_name(value)}")
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise _parse_error(f"Cannot deserialize {where}: the value is not valid base64") from None
    raise _parse_error(f"Cannot deserialize {where}: unsupported shape type {kind}")


def _is_unicode(text: str) -> bool:
    """Whether `text` is valid Unicode: JSON's \\ud800 escapes can make unpaired surrogates, which
    no UTF-8 store, log or process environment can carry."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def aws_path(parent: str, member: str) -> str:
    """AWS names a member in messages in lower camel case: MemorySize -> memorySize."""
    name = member[:1].lower() + member[1:]
    return f"{parent}.{name}" if parent else name


def check(shape: Shape, value: Any, exempt: frozenset[str] = frozenset(), unbounded: frozenset[str] = frozenset()) -> None:
    """Raise one ValidationException naming every constraint `value` breaks.

    Paths in `exempt` are left to the control layer, which reports them as AWS does
    (Lambda reports a bad Runtime as InvalidParameterValueException, for one). Paths in
    `unbounded` are checked but for their maximum length, which Lambda does not check there
    (a GetFunction name longer than any function's is not found, not invalid).
    """
    problems: list[str] = []
    _collect(shape, value, "", problems, exempt, unbounded)
    if problems:
        raise validation_failure(problems[:MAX_LISTED_PROBLEMS])


def _describe(shape: Shape, value: Any, path: str, rule: str) -> str:
    if shape.metadata.get("sensitive"):
        return f"Value at '{path}' failed to satisfy constraint: {rule}"
    return constraint(_show(value), path, rule)


def _collect(
    shape: Shape, value: Any, path: str, problems: list[str], exempt: frozenset[str],
    unbounded: frozenset[str] = frozenset(),
) -> None:
    if path in exempt:
        return
    kind = shape.type_name
    if kind == "structure":
        for name in shape.metadata.get("required", []):
            if value.get(name) is None:
                problems.append(f"Value null at '{aws_path(path, name)}' failed to satisfy constraint: Member must not be null")
        for name, item in value.items():
            _collect(shape.members[name], item, aws_path(path, name), problems, exempt, unbounded)
        return
    if path in _AWS_ENUMS:
        _collect_aws_enum(shape, value, path, problems)
        return
    own = _rules(shape, value)
    if path in unbounded:
        own = [rule for rule in own if not rule.startswith("Member must have length less than or equal to")]
    # When a member of a list or map breaks a rule, AWS names every rule of that member
    # shape, not only the broken ones; list members and map values add "must not be null".
    if kind == "list":
        if any(_rules(shape.member, item) for item in value):
            own.append(f"Member must satisfy constraint: [{', '.join(_all_rules(shape.member, not_null=True))}]")
        if shape.member.type_name == "structure":
            for i, item in enumerate(value, start=1):
                _collect(shape.member, item, f"{path}.{i}.member", problems, exempt)
    elif kind == "map":
        if any(_rules(shape.key, key) for key in value):
            own.append(f"Map keys must satisfy constraint: [{', '.join(_all_rules(shape.key, not_null=False))}]")
        if any(_rules(shape.value, item) for item in value.values()):
            own.append(f"Map value must satisfy constraint: [{', '.join(_all_rules(shape.value, not_null=True))}]")
    problems.extend(_describe(shape, value, path, rule) for rule in own)


#: Members Lambda checks against a set of its own rather than the model's enum, by the path its message
#: names. It prints the set bare even for a list ("Member must satisfy enum value set: [...]"), as recorded.
_AWS_ENUMS = {
    "compatibleRuntime": aws_runtimes.LAYER_FILTER,
    "compatibleRuntimes": aws_runtimes.CREATABLE,
}


def _collect_aws_enum(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    allowed = _AWS_ENUMS[path]
    own = _rules(shape, value) if shape.type_name == "list" else []
    items = value if shape.type_name == "list" else [value]
    if any(item not in allowed for item in items):
        own.append(f"Member must satisfy enum value set: [{', '.join(allowed)}]")
    problems.extend(_describe(shape, value, path, rule) for rule in own)


def _all_rules(shape: Shape, not_null: bool) -> list[str]:
    """Every constraint of a member shape, in AWS's order: max, min, enum or pattern, not null."""
    meta = shape.metadata
    measure = "value" if shape.type_name in ("integer", "long", "float", "double") else "length"
    rules = []
    if "max" in meta:
        rules.append(f"Member must have {measure} less than or equal to {meta['max']}")
    if "min" in meta:
        rules.append(f"Member must have {measure} greater than or equal to {meta['min']}")
    if "enum" in meta:
        rules.append(f"Member must satisfy enum value set: [{', '.join(meta['enum'])}]")
    elif "pattern" in meta:
        rules.append(f"Member must satisfy regular expression pattern: {_pattern_text(shape)}")
    if not_null:
        rules.append("Member must not be null")
    return rules


def _rules(shape: Shape, value: Any) -> list[str]:
    """The constraints of `shape` that the scalar, list or map `value` itself breaks."""
    meta = shape.metadata
    kind = shape.type_name
    broken: list[str] = []
    if kind == "string":
        if "enum" in meta:
            if value not in meta["enum"]:
                broken.append(f"Member must satisfy enum value set: [{', '.join(meta['enum'])}]")
            return broken
        if "min" in meta and len(value) < meta["min"]:
            broken.append(f"Member must have length greater than or equal to {meta['min']}")
        if "max" in meta and len(value) > meta["max"]:
            broken.append(f"Member must have length less than or equal to {meta['max']}")
        pattern = meta.get("pattern")
        if pattern and not _compiled(pattern).fullmatch(value):
            broken.append(f"Member must satisfy regular expression pattern: {_pattern_text(shape)}")
    elif kind in ("integer", "long", "float", "double"):
        if "min" in meta and value < meta["min"]:
            broken.append(f"Member must have value greater than or equal to {meta['min']}")
        if "max" in meta and value > meta["max"]:
            broken.append(f"Member must have value less than or equal to {meta['max']}")
    elif kind in ("list", "map"):
        if "min" in meta and len(value) < meta["min"]:
            broken.append(f"Member must have length greater than or equal to {meta['min']}")
        if "max" in meta and len(value) > meta["max"]:
            broken.append(f"Member must have length less than or equal to {meta['max']}")
    return broken


#: Patterns AWS prints differently from the service model botocore ships, by shape name: the model
#: wraps a layer ARN's two alternatives in one more group than Lambda's own message shows.
_AWS_PATTERN_TEXT = {
    "LayerVersionArn": r"(arn:(aws[a-zA-Z-]*)?:lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:layer:"
    r"[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+)",
}


def _pattern_text(shape: Shape) -> str:
    """A shape's pattern as AWS's message quotes it."""
    return _AWS_PATTERN_TEXT.get(shape.name, shape.metadata["pattern"])


#: Java's Unicode classes in AWS's patterns, in the terms Python's `re` knows. They stand
#: inside character classes, so letters and numbers both become \w (which adds only "_").
_UNICODE_CLASSES = {r"\p{L}": r"\w", r"\p{Z}": r"\s", r"\p{N}": r"\w"}


@functools.lru_cache(maxsize=512)
def _compiled(pattern: str) -> re.Pattern[str]:
    for java, python in _UNICODE_CLASSES.items():
        pattern = pattern.replace(java, python)
    return re.compile(pattern, flags=re.DOTALL)


def _show(value: Any) -> str:
    """A value as AWS's Java front end prints it: [a, b] and {k=v}."""
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={v}" for k, v in value.items()) + "}"
    return str(value)
