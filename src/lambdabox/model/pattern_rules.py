"""Event patterns compiled to matchers: EventBridge's rules, as Lambda's filters use them.

`compile_pattern` turns a parsed pattern (a dict from `event_patterns.load_json`) into a
`Node`, or raises InvalidPattern for anything EventBridge refuses. `Node.matches` then tells
whether a record (already reduced to the view the pattern applies to) matches. Matching
counts its steps in a `Visits` budget and raises MatchTooCostly when it runs out.

A `Node` is an object pattern: every field must match, and each `$or` group needs one of
its alternatives. A `Leaf` is a field's list of alternatives: exact values (looked up in a
set), value tests (`prefix`, `numeric`...), and `exists`. A field's values are the record's
value there, or the elements of its array (nested arrays flattened); objects are not values.
"""

from __future__ import annotations

import ipaddress
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol

from lambdabox.model.wildcards import Wildcard, parse_wildcard

#: Deepest nesting of objects in a pattern ($or alternatives count as a level).
MAX_DEPTH = 32
#: Longest text `cidr` reads as an IP address (an IPv6 address with a zone is under 64).
MAX_ADDRESS_CHARS = 64
#: EventBridge compares numbers by value only between -5e9 and 5e9 inclusive, to 6 decimal places
#: (event-ruler's ComparableNumber); outside it a number only equals its own text.
NUMERIC_LIMIT = 5e9
#: The scale of those 6 decimal places.
NUMERIC_SCALE = 1e6
_NUMERIC_OPERATORS = frozenset({"=", "<", "<=", ">", ">="})
#: Names event-ruler reserves, which no field inside a `$or` may have.
_RESERVED_IN_OR = frozenset(
    {"exactly", "equals-ignore-case", "prefix", "suffix", "anything-but", "exists", "wildcard", "numeric", "cidr"}
    | _NUMERIC_OPERATORS
    | {"regex", "not-wildcard", "not-equals-ignore-case", "date-after", "date-on-or-after", "date-before"}
    | {"date-on-or-before", "in-date-range", "ip-address-in-range", "ip-address-not-in-range"}
)


class InvalidPattern(ValueError):
    """A pattern EventBridge's syntax does not allow."""


class MatchTooCostly(Exception):
    """Matching one record ran out of its step budget."""


class Number(float):
    """A JSON number that keeps its text: exact values compare the text (AWS: 300 is not 300.0)."""

    __slots__ = ("text",)
    text: str

    @classmethod
    def of(cls, text: str) -> Number:
        number = cls(float(text))
        number.text = text
        return number


class Visits:
    """A budget of matching steps for one record."""

    __slots__ = ("left",)

    def __init__(self, limit: int) -> None:
        self.left = limit

    def take(self, steps: int = 1) -> None:
        self.left -= steps
        if self.left < 0:
            raise MatchTooCostly()


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


class _Test(Protocol):
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
class _Cidr:
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
    strings: frozenset[str]
    numbers: frozenset[int]
    unless: _Test | None

    def matches(self, value: Any) -> bool:
        if isinstance(value, str):
            return value not in self.strings and (self.unless is None or not self.unless.matches(value))
        if self.unless is not None:
            return False
        return not self.numbers or comparable(value) not in self.numbers


@dataclass(frozen=True)
class Leaf:
    """A field's alternatives: exact values, value tests, and `exists`.

    A number listed as a value matches its own text, and any number of the same value
    within EventBridge's numeric range (so 300 matches 300.0 and 3.0e2).
    """

    exact: frozenset[tuple[Any, ...]]
    numbers: frozenset[int]
    tests: tuple[_Test, ...]
    present: bool
    absent: bool

    def matches(self, values: list[Any], visits: Visits) -> bool:
        if not values:
            return self.absent
        if self.present:
            return True
        visits.take(len(values) * (1 + len(self.tests)))
        exact, numbers, tests = self.exact, self.numbers, self.tests
        for value in values:
            if exact and exact_key(value) in exact:
                return True
            if numbers and comparable(value) in numbers:
                return True
            for test in tests:
                if test.matches(value):
                    return True
        return False


#: What a pattern sees where the record has no object: an empty, read-only one.
_NOTHING: Mapping[str, Any] = MappingProxyType({})
#: A field the record does not have.
_ABSENT = object()


@dataclass(frozen=True)
class Node:
    """An object pattern: each field's rule must match, and one alternative of each `$or`."""

    fields: tuple[tuple[str, Node | Leaf], ...]
    any_of: tuple[tuple[Node, ...], ...]

    def keys(self) -> set[str]:
        """The field names this pattern reads at its own level, `$or` alternatives included."""
        names = {name for name, _ in self.fields}
        for group in self.any_of:
            for alternative in group:
                names |= alternative.keys()
        return names

    def matches(self, value: Any, visits: Visits) -> bool:
        """Whether `value` (an object, an array of objects, or `_ABSENT`) matches; a scalar never does."""
        visits.take()
        if isinstance(value, dict):
            return self._match_object(value, visits)
        if isinstance(value, list):
            objects = [item for item in _flatten(value, visits) if isinstance(item, dict)]
            if not objects:
                return self._match_object(_NOTHING, visits)
            return any(self._match_object(item, visits) for item in objects)
        return value is _ABSENT and self._match_object(_NOTHING, visits)

    def _match_object(self, value: Mapping[str, Any], visits: Visits) -> bool:
        for name, rule in self.fields:
            child = value.get(name, _ABSENT)
            if isinstance(rule, Leaf):
                if child is _ABSENT or isinstance(child, dict):
                    values = []
                elif isinstance(child, list):
                    values = [v for v in _flatten(child, visits) if not isinstance(v, dict)]
                else:
                    values = [child]
                if not rule.matches(values, visits):
                    return False
            elif not rule.matches(child, visits):
                return False
        return all(any(alt._match_object(value, visits) for alt in group) for group in self.any_of)


def _flatten(values: list[Any], visits: Visits) -> Iterator[Any]:
    """The items of `values`, nested arrays flattened, in order, without recursion."""
    stack = [iter(values)]
    while stack:
        for item in stack[-1]:
            visits.take()
            if isinstance(item, list):
                stack.append(iter(item))
                break
            yield item
        else:
            stack.pop()


def compile_pattern(document: dict[str, Any]) -> Node:
    """The matcher for a parsed pattern; raises InvalidPattern (`{}` too: "Empty objects are not allowed")."""
    return _node(document, 1, False)


def _node(document: Any, depth: int, in_or: bool) -> Node:
    if not isinstance(document, dict) or not document or depth > MAX_DEPTH:
        raise InvalidPattern("an object pattern must be a non-empty object")
    if in_or and not _RESERVED_IN_OR.isdisjoint(document):
        raise InvalidPattern("a reserved name is a field inside $or")
    fields: list[tuple[str, Node | Leaf]] = []
    any_of: list[tuple[Node, ...]] = []
    for name, rule in document.items():
        if name == "$or":
            if not isinstance(rule, list) or len(rule) < 2:
                raise InvalidPattern("$or needs a list of at least two patterns")
            any_of.append(tuple(_node(alternative, depth + 1, True) for alternative in rule))
        elif isinstance(rule, dict):
            fields.append((name, _node(rule, depth + 1, in_or)))
        elif isinstance(rule, list):
            fields.append((name, _leaf(rule)))
        else:
            raise InvalidPattern("a field's rule must be a list of values or an object")
    return Node(tuple(fields), tuple(any_of))


def _leaf(items: list[Any]) -> Leaf:
    if not items:
        raise InvalidPattern("a field's list of values is empty")
    exact: set[tuple[Any, ...]] = set()
    numbers: set[int] = set()
    tests: list[_Test] = []
    present = absent = False
    for item in items:
        key = exact_key(item)
        if key is not None:
            exact.add(key)
            number = comparable(item)
            if number is not None:
                numbers.add(number)
            network = _network(item) if isinstance(item, str) else None
            if network is not None:
                # EventBridge reads a value that is an IP address or a CIDR block as a range.
                tests.append(_Cidr(network))
            continue
        if not isinstance(item, dict) or len(item) != 1:
            raise InvalidPattern("a value must be a scalar or an object with one operator")
        ((operator, operand),) = item.items()
        if operator == "exists":
            if not isinstance(operand, bool):
                raise InvalidPattern("exists takes true or false")
            present, absent = present or operand, absent or not operand
        else:
            tests.append(_operator(operator, operand))
    return Leaf(frozenset(exact), frozenset(numbers), tuple(tests), present, absent)


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """`text` as an IP network when it is an address or a CIDR block (None otherwise)."""
    if len(text) > MAX_ADDRESS_CHARS or not ("." in text or ":" in text):
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _operator(operator: str, operand: Any) -> _Test:
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
        network = _network(operand) if isinstance(operand, str) else None
        if network is None:
            raise InvalidPattern("cidr takes a network")
        return _Cidr(network)
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
    if any(number is None for number in numbers) or any(op not in _NUMERIC_OPERATORS for op in operators):
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
            test: _Test = _Prefix(inner, False) if operator == "prefix" else _Suffix(inner, False)
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
