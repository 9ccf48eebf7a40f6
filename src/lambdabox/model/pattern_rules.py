"""Event patterns compiled to matchers: EventBridge's rules, as Lambda's filters use them.

`compile_pattern` turns a parsed pattern (a dict from `event_patterns.load_json`) into a
`Node`, or raises InvalidPattern for anything EventBridge refuses (the operators themselves
are read and matched by `pattern_operators`). `Node.matches` then tells
whether a record (already reduced to the view the pattern applies to) matches. Matching
counts its steps in a `Visits` budget and raises MatchTooCostly when it runs out.

A `Node` is an object pattern: every field must match, and each `$or` group needs one of
its alternatives. A `Leaf` is a field's list of alternatives: exact values (looked up in a
set), value tests (`prefix`, `numeric`...), and `exists`. A field's values are the record's
value there, or the elements of its array (nested arrays flattened); objects are not values.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from lambdabox.model.pattern_operators import (
    NUMERIC_OPERATORS,
    Cidr,
    InvalidPattern,
    Number,
    ValueTest,
    comparable,
    compile_operator,
    exact_key,
    network_of,
)

__all__ = ["InvalidPattern", "Leaf", "MatchTooCostly", "Node", "Number", "Visits", "compile_pattern"]

#: Deepest nesting of objects in a pattern ($or alternatives count as a level).
MAX_DEPTH = 32
#: Names event-ruler reserves, which no field inside a `$or` may have.
_RESERVED_IN_OR = frozenset(
    {"exactly", "equals-ignore-case", "prefix", "suffix", "anything-but", "exists", "wildcard", "numeric", "cidr"}
    | NUMERIC_OPERATORS
    | {"regex", "not-wildcard", "not-equals-ignore-case", "date-after", "date-on-or-after", "date-before"}
    | {"date-on-or-before", "in-date-range", "ip-address-in-range", "ip-address-not-in-range"}
)


class MatchTooCostly(Exception):
    """Matching one record ran out of its step budget."""


class Visits:
    """A budget of matching steps for one record."""

    __slots__ = ("left",)

    def __init__(self, limit: int) -> None:
        self.left = limit

    def take(self, steps: int = 1) -> None:
        self.left -= steps
        if self.left < 0:
            raise MatchTooCostly()


@dataclass(frozen=True)
class Leaf:
    """A field's alternatives: exact values, value tests, and `exists`.

    A number listed as a value matches its own text, and any number of the same value
    within EventBridge's numeric range (so 300 matches 300.0 and 3.0e2).
    """

    exact: frozenset[tuple[Any, ...]]
    numbers: frozenset[int]
    tests: tuple[ValueTest, ...]
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
    tests: list[ValueTest] = []
    present = absent = False
    for item in items:
        key = exact_key(item)
        if key is not None:
            exact.add(key)
            number = comparable(item)
            if number is not None:
                numbers.add(number)
            network = network_of(item) if isinstance(item, str) else None
            if network is not None:
                # EventBridge reads a value that is an IP address or a CIDR block as a range.
                tests.append(Cidr(network))
            continue
        if not isinstance(item, dict) or len(item) != 1:
            raise InvalidPattern("a value must be a scalar or an object with one operator")
        ((operator, operand),) = item.items()
        if operator == "exists":
            if not isinstance(operand, bool):
                raise InvalidPattern("exists takes true or false")
            present, absent = present or operand, absent or not operand
        else:
            tests.append(compile_operator(operator, operand))
    return Leaf(frozenset(exact), frozenset(numbers), tuple(tests), present, absent)
