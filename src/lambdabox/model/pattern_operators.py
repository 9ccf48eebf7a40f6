"""Event-pattern operators and values: EventBridge's rules for one field's values.

`compile_operator` reads one ``{"operator": operand}`` of a pattern into a value test (or
raises InvalidPattern); each test's `matches(value)` takes one scalar of the record. `Number`,
`exact_key` and `comparable` say how values compare: strings by their characters, numbers by
their JSON text and, within EventBridge's numeric range, by value.
"""

from __future__ import annotations

import ipaddress
import json
import math
from dataclasses import dataclass
from typing import Any, Protocol

from lambdabox.model.wildcards import Wildcard, parse_wildcard

#: Longest text `cidr` reads as an IP address (an IPv6 address with a zone is under 64).
MAX_ADDRESS_CHARS = 64
#: EventBridge compares numbers by value only between -5e9 and 5e9 inclusive, to 6 decimal places
#: (event-ruler's ComparableNumber); outside it a number only equals its own text.
NUMERIC_LIMIT = 5e9
#: The scale of those 6 decimal places.
NUMERIC_SCALE = 1e6
#: The comparisons `numeric` takes.
NUMERIC_OPERATORS = frozenset({"=", "<", "<=", ">", ">="})


class InvalidPattern(ValueError):
    """A pattern EventBridge's syntax does not allow."""


class Number(float):
    """A JSON number that keeps its text, which exact values compare beyond the numeric range."""

    __slots__ = ("text",)
    text: str

    @classmethod
    def of(cls, text: str) -> Number:
        number = cls(float(text))
        number.text = text
        return number


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def exact_key(value: Any) -> tuple[Any, ...] | None:
    """The key under which a scalar is looked up among a leaf's exact values (None: not a scalar)."""
    if isinstance(value, str):
        return ("s", value)
    if value is None:
        return ("z",)
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, Number):
        return ("n", value.text)
    if _is_number(value):
        return ("n", json.dumps(value))
    return None


def comparable(value: Any) -> int | None:
    """A number as EventBridge compares it by value: a count of millionths (None: not comparable)."""
    if not _is_number(value):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    if not math.isfinite(number) or abs(number) > NUMERIC_LIMIT:
        return None
    return int(NUMERIC_SCALE * (NUMERIC_LIMIT + number))


class ValueTest(Protocol):
    """One alternative of a field: whether one scalar of the record matches it."""

    def matches(self, value: Any) -> bool: ...


@dataclass(frozen=True)
class _Prefix:
    text: str
    fold: bool

    def matches(self, value: Any) -> bool:
        if not isinstance(value, str):
            return False
        if not self.fold:
            return value.startswith(self.text)
        # Casefolding never shortens text, so the first len(text) characters suffice.
        return value[: len(self.text)].casefold().startswith(self.text)


@dataclass(frozen=True)
class _Suffix:
    text: str
    fold: bool

    def matches(self, value: Any) -> bool:
        if not isinstance(value, str):
            return False
        if not self.fold or not self.text:
            return value.endswith(self.text)
        return value[-len(self.text) :].casefold().endswith(self.text)


@dataclass(frozen=True)
class _EqualsIgnoreCase:
    folded: frozenset[str]
    longest: int

    def matches(self, value: Any) -> bool:
        # Casefolding never shortens text: a longer value cannot fold to a listed one.
        return isinstance(value, str) and len(value) <= self.longest and value.casefold() in self.folded


@dataclass(frozen=True)
class _Wildcards:
    patterns: tuple[Wildcard, ...]

    def matches(self, value: Any) -> bool:
        return isinstance(value, str) and any(p.matches(value) for p in self.patterns)


@dataclass(frozen=True)
class _Numeric:
    low: int | None
    low_inclusive: bool
    high: int | None
    high_inclusive: bool

    def matches(self, value: Any) -> bool:
        number = comparable(value)
        if number is None:
            return False
        if self.low is not None and not (number >= self.low if self.low_inclusive else number > self.low):
            return False
        return self.high is None or (number <= self.high if self.high_inclusive else number < self.high)


@dataclass(frozen=True)
class Cidr:
    """An IP address within a network (a `cidr` operator, or a listed value that is a CIDR block)."""

    network: ipaddress.IPv4Network | ipaddress.IPv6Network

    def matches(self, value: Any) -> bool:
        if not isinstance(value, str) or len(value) > MAX_ADDRESS_CHARS:
            return False
        try:
            return ipaddress.ip_address(value) in self.network
        except ValueError:
            return False


@dataclass(frozen=True)
class _AnythingBut:
    """A value that is none of the strings, none of the numbers (by value), and fails `unless`."""

    strings: frozenset[str]
    numbers: frozenset[int]
    unless: ValueTest | None

    def matches(self, value: Any) -> bool:
        if isinstance(value, str):
            return value not in self.strings and (self.unless is None or not self.unless.matches(value))
        if self.unless is not None:
            return False
        return not self.numbers or comparable(value) not in self.numbers


def network_of(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """`text` as an IP network when it is an address or a CIDR block (None otherwise)."""
    if len(text) > MAX_ADDRESS_CHARS or not ("." in text or ":" in text):
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def compile_operator(operator: str, operand: Any) -> ValueTest:
    """The test for ``{operator: operand}`` in a field's list of values; raises InvalidPattern."""
    if operator in ("prefix", "suffix"):
        text, fold = _affix(operand)
        return _Prefix(text, fold) if operator == "prefix" else _Suffix(text, fold)
    if operator == "equals-ignore-case":
        return _equals_ignore_case(_string(operand))
    if operator == "wildcard":
        return _wildcards(_string(operand))
    if operator == "numeric":
        return _numeric(operand)
    if operator == "cidr":
        network = network_of(operand) if isinstance(operand, str) else None
        if network is None:
            raise InvalidPattern("cidr takes a network")
        return Cidr(network)
    if operator == "anything-but":
        return _anything_but(operand)
    raise InvalidPattern("unknown operator")


def _affix(operand: Any) -> tuple[str, bool]:
    if isinstance(operand, str):
        return operand, False
    if isinstance(operand, dict) and len(operand) == 1 and isinstance(operand.get("equals-ignore-case"), str):
        return operand["equals-ignore-case"].casefold(), True
    raise InvalidPattern("prefix and suffix take a string or {equals-ignore-case: string}")


def _string(operand: Any) -> str:
    if not isinstance(operand, str):
        raise InvalidPattern("a string is required")
    return operand


def _strings(operand: Any) -> list[str]:
    values = operand if isinstance(operand, list) else [operand]
    if not values or not all(isinstance(value, str) for value in values):
        raise InvalidPattern("a string or a list of strings is required")
    return values


def _equals_ignore_case(operand: Any) -> _EqualsIgnoreCase:
    folded = frozenset(value.casefold() for value in _strings(operand))
    return _EqualsIgnoreCase(folded, max(len(value) for value in folded))


def _wildcards(operand: Any) -> _Wildcards:
    parsed = [parse_wildcard(value) for value in _strings(operand)]
    if any(pattern is None for pattern in parsed):
        raise InvalidPattern("invalid wildcard")
    return _Wildcards(tuple(p for p in parsed if p is not None))


def _numeric(operand: Any) -> _Numeric:
    """EventBridge's forms: ["=", n]; [">" or ">=", n]; [">" or ">=", n, "<" or "<=", m]; ["<" or "<=", n]."""
    if not isinstance(operand, list) or len(operand) not in (2, 4):
        raise InvalidPattern("numeric takes one or two comparisons")
    operators, numbers = operand[::2], [comparable(number) for number in operand[1::2]]
    if any(number is None for number in numbers) or not all(isinstance(op, str) for op in operators):
        raise InvalidPattern("numeric takes operators and numbers between -5e9 and 5e9")
    if not NUMERIC_OPERATORS.issuperset(operators):
        raise InvalidPattern("numeric takes operators and numbers between -5e9 and 5e9")
    first, value = operators[0], numbers[0]
    if len(operators) == 1:
        if first == "=":
            return _Numeric(value, True, value, True)
        if first in (">", ">="):
            return _Numeric(value, first == ">=", None, False)
        return _Numeric(None, False, value, first == "<=")
    second, top = operators[1], numbers[1]
    if first not in (">", ">=") or second not in ("<", "<=") or value is None or top is None or value >= top:
        raise InvalidPattern("a numeric range is a lower bound then a greater upper bound")
    return _Numeric(value, first == ">=", top, second == "<=")


def _anything_but(operand: Any) -> _AnythingBut:
    if isinstance(operand, dict):
        if len(operand) != 1:
            raise InvalidPattern("anything-but takes one operator")
        ((operator, inner),) = operand.items()
        if operator in ("prefix", "suffix"):
            if not isinstance(inner, str) or not inner:
                raise InvalidPattern("anything-but prefix and suffix take a non-empty string")
            test: ValueTest = _Prefix(inner, False) if operator == "prefix" else _Suffix(inner, False)
        elif operator == "equals-ignore-case":
            test = _equals_ignore_case(inner)
        elif operator == "wildcard":
            test = _wildcards(inner)
        else:
            raise InvalidPattern("anything-but cannot take that operator")
        return _AnythingBut(frozenset(), frozenset(), test)
    values = operand if isinstance(operand, list) else [operand]
    if values and all(isinstance(value, str) for value in values):
        return _AnythingBut(frozenset(values), frozenset(), None)
    numbers = [comparable(value) for value in values]
    if not values or any(number is None for number in numbers):
        raise InvalidPattern("anything-but takes strings, or numbers between -5e9 and 5e9, not both")
    return _AnythingBut(frozenset(), frozenset(n for n in numbers if n is not None), None)
