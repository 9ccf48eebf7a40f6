"""A statement's Condition block, decided against a request context as IAM documents it.

Sources (AWS IAM User Guide): "IAM JSON policy elements: Condition operators", "Conditions with multiple
context keys or values", "Single-valued vs. multivalued context keys" and "IAM policy elements: Variables
and tags".

Contract of `block_holds(block, context, variables)`:
- Operators in a block are ANDed, keys under one operator are ANDed, values of one key are ORed; for a
  negated operator (StringNotEquals, NotIpAddress, ...) the values are NORed: it holds when the context
  value matches none of them.
- Key names are case-insensitive (the context must come from `patterns.normalize_context`).
- A key missing from the context: the condition is false for positive operators and true for negated ones;
  `...IfExists` holds; `Null` tests exactly that; `ForAllValues:` holds (an empty set); `ForAnyValue:` fails.
- Without a set qualifier, a context key with several values holds when any value matches (negated: when
  none does). `ForAllValues:` needs every context value to pass the operator, `ForAnyValue:` at least one.
- It never raises. An unknown operator, a value of the wrong type or syntax (a Numeric value that is no
  number, a CIDR that is none) or a policy variable with no value makes the block fail, so the statement does
  not apply.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from lambdabox.access.patterns import ArnGlob, Context, Glob, PatternError, expand, plain_text

#: Longest numeric or date text we parse, in characters; longer is not a number or a date IAM would write.
MAX_SCALAR_CHARS = 64

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d{1,4})?")
_EPOCH = re.compile(r"[+-]?\d{1,12}(?:\.\d+)?")


class _Invalid(Exception):
    """A policy value that its operator can't use."""


# --- one operator family each: how a policy value is prepared, and how a context value is tested ---------


@dataclass(frozen=True)
class _Family:
    #: Policy value (with variables expanded as `expand` pieces) -> prepared form; raises _Invalid.
    prepare: Callable[[list[tuple[str, bool]]], Any]
    #: (context value, prepared policy value) -> whether they match, for the positive operator.
    test: Callable[[str, Any], bool]
    #: Whether policy variables are substituted in this family's values (String, ARN and Bool only).
    variables: bool
    #: For families whose test is equality of a context value's key with a prepared value: that key.
    #: They are matched by set lookup, so many values against many values cost their sum, not their product.
    key: Callable[[str], Any] | None = None


def _string(pieces: list[tuple[str, bool]]) -> str:
    return plain_text(pieces)


def _folded(pieces: list[tuple[str, bool]]) -> str:
    return plain_text(pieces).casefold()


def _like(pieces: list[tuple[str, bool]]) -> Glob:
    return Glob.compile(pieces)


def _arn(pieces: list[tuple[str, bool]]) -> ArnGlob:
    return ArnGlob(pieces)


def _number(text: str) -> Decimal | None:
    text = text.strip()
    if len(text) > MAX_SCALAR_CHARS or not _NUMBER.fullmatch(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def _date(text: str) -> float | None:
    """Epoch seconds of an ISO 8601 date or date-time (UTC unless it says otherwise), or of epoch seconds.

    Text of digits alone is epoch seconds (so "20200101" is a 1970 instant, not the ISO basic date)."""
    text = text.strip()
    if not text or len(text) > MAX_SCALAR_CHARS:
        return None
    if _EPOCH.fullmatch(text):
        return float(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _prepared_scalar(parse: Callable[[str], Any]) -> Callable[[list[tuple[str, bool]]], Any]:
    def prepare(pieces: list[tuple[str, bool]]) -> Any:
        value = parse(plain_text(pieces))
        if value is None:
            raise _Invalid
        return value

    return prepare


def _compare(parse: Callable[[str], Any], relation: Callable[[Any, Any], bool]) -> Callable[[str, Any], bool]:
    def test(context_value: str, policy_value: Any) -> bool:
        value = parse(context_value)
        return value is not None and relation(value, policy_value)

    return test


def _bool(text: str) -> str | None:
    lowered = text.strip().lower()
    return lowered if lowered in ("true", "false") else None


def _binary(text: str) -> bytes | None:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


def _network(pieces: list[tuple[str, bool]]) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(plain_text(pieces).strip(), strict=False)
    except ValueError as error:
        raise _Invalid from error


def _in_network(context_value: str, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    try:
        address = ipaddress.ip_address(context_value.strip())
    except ValueError:
        return False
    if address.version != network.version and isinstance(address, ipaddress.IPv6Address):
        address = address.ipv4_mapped  # ::ffff:10.0.0.1 is the IPv4 client 10.0.0.1
    return address is not None and address.version == network.version and address in network


def _equal(a: Any, b: Any) -> bool:
    return a == b


_STRING = _Family(_string, _equal, variables=True, key=str)
_STRING_FOLDED = _Family(_folded, lambda value, policy: value.casefold() == policy, variables=True, key=str.casefold)
_STRING_LIKE = _Family(_like, lambda value, glob: glob.match(value), variables=True)
_ARN = _Family(_arn, lambda value, glob: glob.match(value), variables=True)
_BOOL = _Family(_prepared_scalar(_bool), _compare(_bool, _equal), variables=True)
_BINARY = _Family(_prepared_scalar(_binary), _compare(_binary, _equal), variables=False)
_IP = _Family(_network, _in_network, variables=False)


def _numeric(relation: Callable[[Any, Any], bool]) -> _Family:
    return _Family(_prepared_scalar(_number), _compare(_number, relation), variables=False)


def _dated(relation: Callable[[Any, Any], bool]) -> _Family:
    return _Family(_prepared_scalar(_date), _compare(_date, relation), variables=False)


def _less(a: Any, b: Any) -> bool:
    return a < b


def _at_most(a: Any, b: Any) -> bool:
    return a <= b


def _greater(a: Any, b: Any) -> bool:
    return a > b


def _at_least(a: Any, b: Any) -> bool:
    return a >= b


#: Base operator name (lower-cased) -> (family, negated). Names are matched case-insensitively.
_OPERATORS: dict[str, tuple[_Family, bool]] = {
    "stringequals": (_STRING, False),
    "stringnotequals": (_STRING, True),
    "stringequalsignorecase": (_STRING_FOLDED, False),
    "stringnotequalsignorecase": (_STRING_FOLDED, True),
    "stringlike": (_STRING_LIKE, False),
    "stringnotlike": (_STRING_LIKE, True),
    "numericequals": (_numeric(_equal), False),
    "numericnotequals": (_numeric(_equal), True),
    "numericlessthan": (_numeric(_less), False),
    "numericlessthanequals": (_numeric(_at_most), False),
    "numericgreaterthan": (_numeric(_greater), False),
    "numericgreaterthanequals": (_numeric(_at_least), False),
    "dateequals": (_dated(_equal), False),
    "datenotequals": (_dated(_equal), True),
    "datelessthan": (_dated(_less), False),
    "datelessthanequals": (_dated(_at_most), False),
    "dategreaterthan": (_dated(_greater), False),
    "dategreaterthanequals": (_dated(_at_least), False),
    "bool": (_BOOL, False),
    "binaryequals": (_BINARY, False),
    "ipaddress": (_IP, False),
    "notipaddress": (_IP, True),
    # ArnEquals and ArnLike behave alike: both take wildcards, component by component.
    "arnequals": (_ARN, False),
    "arnlike": (_ARN, False),
    "arnnotequals": (_ARN, True),
    "arnnotlike": (_ARN, True),
}

_ANY, _ALL = "foranyvalue:", "forallvalues:"
_IF_EXISTS = "ifexists"


def block_holds(block: Any, context: Context, variables: bool) -> bool:
    """Whether a statement's Condition block holds (see the module's contract); a missing block is None."""
    if block is None:
        return True
    if not isinstance(block, Mapping):
        return False
    try:
        for operator, keys in block.items():
            if not isinstance(operator, str) or not isinstance(keys, Mapping):
                return False
            for key, values in keys.items():
                if not isinstance(key, str) or not _condition_holds(operator, key, values, context, variables):
                    return False
    except (_Invalid, PatternError):
        return False
    return True


def _condition_holds(operator: str, key: str, raw_values: Any, context: Context, variables: bool) -> bool:
    name = operator.lower()
    qualifier = ""
    for prefix in (_ANY, _ALL):
        if name.startswith(prefix):
            qualifier, name = prefix, name[len(prefix) :]
    present = context.get(key.lower(), ())
    if name == "null":
        if qualifier:
            raise _Invalid
        return _null_holds(raw_values, bool(present))
    if_exists = name.endswith(_IF_EXISTS)
    if if_exists:
        name = name[: -len(_IF_EXISTS)]
    known = _OPERATORS.get(name)
    if known is None:
        raise _Invalid
    family, negated = known
    policy_values = _policy_values(raw_values)

    if not present:
        if if_exists or qualifier == _ALL:
            return True
        if qualifier == _ANY:
            return False
        return negated

    prepared = [family.prepare(expand(value, context, variables and family.variables)) for value in policy_values]
    if family.key is not None:
        wanted = set(prepared)
        key = family.key

        def matches(value: str) -> bool:
            return key(value) in wanted
    else:

        def matches(value: str) -> bool:
            return any(family.test(value, policy) for policy in prepared)

    def passes(value: str) -> bool:
        """The operator on one context value: matches any policy value (negated: none)."""
        return matches(value) != negated

    if qualifier == _ALL:
        return all(passes(value) for value in present)
    if qualifier == _ANY:
        return any(passes(value) for value in present)
    return any(matches(value) for value in present) != negated


def _null_holds(raw_values: Any, present: bool) -> bool:
    """`Null: {key: "true"}` holds when the key is absent, `"false"` when it is present; values ORed."""
    wanted = set()
    for value in _policy_values(raw_values):
        flag = _bool(value)
        if flag is None:
            raise _Invalid
        wanted.add(flag == "true")
    return (not present) in wanted


def _policy_values(raw: Any) -> list[str]:
    """A condition's values as strings: one or a list of strings, numbers or JSON booleans."""
    items: Sequence[Any] = raw if isinstance(raw, list) else [raw]
    values = []
    for item in items:
        if isinstance(item, bool):
            values.append("true" if item else "false")
        elif isinstance(item, (int, float)):
            values.append(str(item))
        elif isinstance(item, str):
            values.append(item)
        else:
            raise _Invalid
    return values
