"""CloudWatch Logs filter patterns: parsed once, then matched against each event's message.

The syntax is AWS's ("Filter pattern syntax for metric filters, subscription filters, filter log
events, and Live Tail"):

- Unstructured: terms separated by spaces, each a word or a "quoted phrase", all of which must
  appear in the message (case-sensitive substrings). `?term` terms are alternatives: at least one
  of them must appear. `-term` terms must not appear. The empty pattern matches every event.
- JSON, `{ ... }`: comparisons of selectors (`$.a.b`, `$.a[0].b`) with values, joined by `&&` and
  `||` (`&&` binds tighter) and grouped with parentheses. Strings compare with `=` and `!=`, where
  `*` in the value matches any run of characters; numbers with `= != < <= > >=`; and
  `IS NULL`, `NOT EXISTS`, `IS TRUE`, `IS FALSE` test a value's presence and kind. A message that
  is not a JSON object matches no JSON pattern.
- Space-delimited, `[f1, f2, ..., f3=5*]`: the message's fields (separated by spaces; a "quoted"
  or [bracketed] field is one field) named in order, `...` standing for any number of fields,
  each name optionally compared as in a JSON pattern.

Contract:
1. `compile_pattern` raises `InvalidPattern` (whose message is the one AWS gives) for any text it
   cannot read, and for text longer than MAX_PATTERN_CHARS or nested deeper than MAX_NESTING.
2. Matching never raises, whatever the message (deeply nested JSON is "not JSON"), and takes time
   linear in the message's length for a given pattern: there are no regular expressions and no
   backtracking (string wildcards are matched piece by piece with str.find; `...` fields are
   matched with one pass over a set of positions, so a pattern holds at most MAX_ELLIPSES of them).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: Longest filter pattern, in characters: FilterLogEvents' filterPattern holds at most 1,024.
MAX_PATTERN_CHARS = 1024
#: Deepest nesting of parentheses in a JSON pattern (the recursive parser's bound).
MAX_NESTING = 32
#: Most fields one space-delimited pattern may name.
MAX_FIELDS = 100
#: Most `...` one space-delimited pattern may hold: each costs a pass over the message's fields.
MAX_ELLIPSES = 4

_COMPARISONS = ("!=", "<=", ">=", "=", "<", ">")
_SELECTOR_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-@$.[]*")
_MISSING = object()


class InvalidPattern(ValueError):
    """A filter pattern that cannot be read; its message is AWS's."""


#: A compiled pattern: does a message match it?
Matcher = Callable[[str], bool]


def compile_pattern(text: str | None) -> Matcher:
    """The matcher of a filter pattern; InvalidPattern if it is not one."""
    if text is None or not text.strip():
        return lambda message: True
    if len(text) > MAX_PATTERN_CHARS:
        raise InvalidPattern("Invalid filter pattern")
    stripped = text.strip()
    if stripped.startswith("{"):
        if not stripped.endswith("}"):
            raise InvalidPattern("If a filter pattern starts with '{' it must end with '}'")
        return _json_matcher(_JsonParser(stripped[1:-1]).parse())
    if stripped.startswith("["):
        if not stripped.endswith("]"):
            raise InvalidPattern("Invalid filter pattern")
        return _delimited_matcher(stripped[1:-1])
    return _terms_matcher(stripped)


# --- Unstructured terms ------------------------------------------------------------------------


def _terms_matcher(text: str) -> Matcher:
    required: list[str] = []
    optional: list[str] = []
    excluded: list[str] = []
    position = 0
    while position < len(text):
        if text[position].isspace():
            position += 1
            continue
        kind = text[position] if text[position] in "?-" else ""
        position += len(kind)
        if position < len(text) and text[position] == '"':
            term, position = _quoted(text, position)
        else:
            end = position
            while end < len(text) and not text[end].isspace() and text[end] != '"':
                end += 1
            term, position = text[position:end], end
        if not term:
            raise InvalidPattern("Invalid filter pattern")
        {"?": optional, "-": excluded, "": required}[kind].append(term)

    def matches(message: str) -> bool:
        return (
            all(term in message for term in required)
            and not any(term in message for term in excluded)
            and (not optional or any(term in message for term in optional))
        )

    return matches


def _quoted(text: str, position: int) -> tuple[str, int]:
    """The string of the quoted text starting at `position` (a '"'), and the position after it."""
    characters: list[str] = []
    index = position + 1
    while index < len(text):
        character = text[index]
        if character == "\\" and index + 1 < len(text):
            characters.append(text[index + 1])
            index += 2
            continue
        if character == '"':
            return "".join(characters), index + 1
        characters.append(character)
        index += 1
    raise InvalidPattern("Invalid filter pattern")


# --- Values: what a selector or a field is compared with -----------------------------------------


@dataclass(frozen=True)
class _Comparison:
    operator: str
    #: A number (float), or a string (a glob where "*" matches any run of characters).
    value: float | str

    def test(self, found: Any) -> bool:
        if isinstance(self.value, float):
            if isinstance(found, bool) or not isinstance(found, int | float):
                return False
            return _numeric(self.operator, float(found), self.value)
        if not isinstance(found, str):
            return False
        matched = _glob(self.value, found)
        return matched if self.operator == "=" else not matched


def _numeric(operator: str, left: float, right: float) -> bool:
    if operator == "=":
        return left == right
    if operator == "!=":
        return left != right
    if operator == "<":
        return left < right
    if operator == "<=":
        return left <= right
    if operator == ">":
        return left > right
    return left >= right


def _comparison(operator: str, raw: str, quoted: bool) -> _Comparison:
    """A comparison with a value as written: quoted text is a string; bare text a number if it reads as one."""
    if not quoted:
        try:
            number = float(raw)
        except ValueError:
            number = math.nan
        if math.isfinite(number):
            return _Comparison(operator, number)
    if operator not in ("=", "!="):
        raise InvalidPattern("Invalid filter pattern")
    if not raw:
        raise InvalidPattern("Invalid filter pattern")
    return _Comparison(operator, raw)


def _glob(pattern: str, text: str) -> bool:
    """Whether `text` matches `pattern`, where "*" matches any run: piece by piece, leftmost first (linear)."""
    pieces = pattern.split("*")
    if len(pieces) == 1:
        return text == pattern
    first, *middle, last = pieces
    if not text.startswith(first) or len(text) < len(first) + len(last) or not text.endswith(last):
        return False
    position, end = len(first), len(text) - len(last)
    for piece in middle:
        found = text.find(piece, position, end)
        if found < 0:
            return False
        position = found + len(piece)
    return True


# --- JSON patterns ---------------------------------------------------------------------------------

#: A compiled JSON condition: does the parsed message satisfy it?
_Condition = Callable[[Any], bool]


class _JsonParser:
    """A recursive-descent parser over the text between the braces of a JSON pattern."""

    def __init__(self, text: str) -> None:
        self._tokens = _json_tokens(text)
        self._at = 0

    def parse(self) -> _Condition:
        condition = self._either(0)
        if self._at != len(self._tokens):
            raise InvalidPattern("Invalid filter pattern")
        return condition

    def _peek(self) -> tuple[str, str] | None:
        return self._tokens[self._at] if self._at < len(self._tokens) else None

    def _take(self) -> tuple[str, str]:
        token = self._peek()
        if token is None:
            raise InvalidPattern("Invalid filter pattern")
        self._at += 1
        return token

    def _either(self, depth: int) -> _Condition:
        options = [self._both(depth)]
        while self._peek() == ("op", "||"):
            self._at += 1
            options.append(self._both(depth))
        return options[0] if len(options) == 1 else (lambda document: any(option(document) for option in options))

    def _both(self, depth: int) -> _Condition:
        parts = [self._single(depth)]
        while self._peek() == ("op", "&&"):
            self._at += 1
            parts.append(self._single(depth))
        return parts[0] if len(parts) == 1 else (lambda document: all(part(document) for part in parts))

    def _single(self, depth: int) -> _Condition:
        kind, text = self._take()
        if (kind, text) == ("op", "("):
            if depth >= MAX_NESTING:
                raise InvalidPattern("Invalid filter pattern")
            inner = self._either(depth + 1)
            if self._take() != ("op", ")"):
                raise InvalidPattern("Invalid filter pattern")
            return inner
        if kind != "word" or not text.startswith("$"):
            raise InvalidPattern("Invalid filter pattern")
        path = _selector(text)
        kind, text = self._take()
        if kind == "op" and text in _COMPARISONS:
            value_kind, value = self._take()
            if value_kind not in ("word", "string"):
                raise InvalidPattern("Invalid filter pattern")
            comparison = _comparison(text, value, value_kind == "string")
            return lambda document: _found_test(_resolve(document, path), comparison)
        if (kind, text.upper()) == ("word", "IS"):
            _, what = self._take()
            tests = {"NULL": lambda v: v is None, "TRUE": lambda v: v is True, "FALSE": lambda v: v is False}
            test = tests.get(what.upper())
            if test is None:
                raise InvalidPattern("Invalid filter pattern")
            return lambda document: test(_resolve(document, path))
        if (kind, text.upper()) == ("word", "NOT") and self._take()[1].upper() == "EXISTS":
            return lambda document: _resolve(document, path) is _MISSING
        raise InvalidPattern("Invalid filter pattern")


def _found_test(found: Any, comparison: _Comparison) -> bool:
    return found is not _MISSING and comparison.test(found)


def _json_tokens(text: str) -> list[tuple[str, str]]:
    """(kind, text) tokens: ("op", "&&" | "||" | "(" | ")" | a comparison), ("string", s), ("word", w)."""
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        character = text[position]
        if character.isspace():
            position += 1
        elif text.startswith(("&&", "||"), position):
            tokens.append(("op", text[position : position + 2]))
            position += 2
        elif character in "()":
            tokens.append(("op", character))
            position += 1
        elif character == '"':
            value, position = _quoted(text, position)
            tokens.append(("string", value))
        else:
            operator = next((op for op in _COMPARISONS if text.startswith(op, position)), None)
            if operator is not None:
                tokens.append(("op", operator))
                position += len(operator)
                continue
            end = position
            while end < len(text) and not text[end].isspace() and text[end] not in '()"=!<>&|':
                end += 1
            if end == position:
                raise InvalidPattern("Invalid filter pattern")
            tokens.append(("word", text[position:end]))
            position = end
    return tokens


def _selector(text: str) -> tuple[str | int, ...]:
    """The steps of a selector: `$.a[0].b` -> ("a", 0, "b")."""
    if not set(text) <= _SELECTOR_CHARACTERS or not text.startswith("$"):
        raise InvalidPattern("Invalid filter pattern")
    steps: list[str | int] = []
    rest = text[1:]
    while rest:
        if rest.startswith("."):
            end = 1
            while end < len(rest) and rest[end] not in ".[":
                end += 1
            name = rest[1:end]
            if not name or "]" in name:
                raise InvalidPattern("Invalid filter pattern")
            steps.append(name)
            rest = rest[end:]
        elif rest.startswith("["):
            close = rest.find("]")
            index = rest[1:close] if close > 0 else ""
            if not index.isdigit() or not index.isascii():
                raise InvalidPattern("Invalid filter pattern")
            steps.append(int(index))
            rest = rest[close + 1 :]
        else:
            raise InvalidPattern("Invalid filter pattern")
    if not steps:
        raise InvalidPattern("Invalid filter pattern")
    return tuple(steps)


def _resolve(document: Any, path: tuple[str | int, ...]) -> Any:
    """The value at `path` in `document`, or _MISSING."""
    for step in path:
        if isinstance(step, int):
            if not isinstance(document, list) or step >= len(document):
                return _MISSING
            document = document[step]
        elif isinstance(document, dict) and step in document:
            document = document[step]
        else:
            return _MISSING
    return document


def _json_matcher(condition: _Condition) -> Matcher:
    def matches(message: str) -> bool:
        text = message.strip()
        if not text.startswith("{"):
            return False
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):
            return False
        return isinstance(document, dict) and condition(document)

    return matches


# --- Space-delimited patterns ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Field:
    #: None: `...`, any number of fields.
    conditions: tuple[_Comparison, ...] | None
    #: Whether the conditions are joined by || (else by &&).
    either: bool = False

    def test(self, value: str) -> bool:
        if not self.conditions:
            return True
        found: Any = value
        results = (condition.test(_as_number(found) if isinstance(condition.value, float) else found)
                   for condition in self.conditions)
        return any(results) if self.either else all(results)


def _as_number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _delimited_matcher(text: str) -> Matcher:
    specs = [part.strip() for part in text.split(",")]
    if len(specs) > MAX_FIELDS or any(not spec for spec in specs) or specs.count("...") > MAX_ELLIPSES:
        raise InvalidPattern("Invalid filter pattern")
    fields = [_field(spec) for spec in specs]

    def matches(message: str) -> bool:
        # The positions in the message's fields that some way of matching the specs so far reaches.
        values = _message_fields(message)
        reached = {0}
        for field in fields:
            if field.conditions is None:
                reached = set(range(min(reached), len(values) + 1)) if reached else set()
            else:
                reached = {at + 1 for at in reached if at < len(values) and field.test(values[at])}
            if not reached:
                return False
        return len(values) in reached

    return matches


def _field(spec: str) -> _Field:
    if spec == "...":
        return _Field(None)
    either = "||" in spec
    if either and "&&" in spec:
        raise InvalidPattern("Invalid filter pattern")
    parts = spec.split("||" if either else "&&")
    conditions = []
    name = None
    for part in parts:
        part = part.strip()
        operator = next((op for op in _COMPARISONS if op in part), None)
        if operator is None:
            if len(parts) > 1 or not _is_name(part):
                raise InvalidPattern("Invalid filter pattern")
            return _Field(())
        left, _, right = part.partition(operator)
        left, right = left.strip(), right.strip()
        if not _is_name(left) or (name is not None and left != name):
            raise InvalidPattern("Invalid filter pattern")
        name = left
        quoted = len(right) >= 2 and right.startswith('"') and right.endswith('"')
        conditions.append(_comparison(operator, right[1:-1] if quoted else right, quoted))
    return _Field(tuple(conditions), either)


def _is_name(text: str) -> bool:
    return bool(text) and all(character.isalnum() or character in "_-" for character in text)


def _message_fields(message: str) -> list[str]:
    """The fields of a message: runs of non-spaces, where "quoted" and [bracketed] text is one field."""
    fields: list[str] = []
    position = 0
    text = message.strip()
    while position < len(text):
        if text[position].isspace():
            position += 1
            continue
        close = {'"': '"', "[": "]"}.get(text[position])
        if close is not None:
            end = text.find(close, position + 1)
            end = len(text) if end < 0 else end
            fields.append(text[position + 1 : end])
            position = end + 1
            continue
        end = position
        while end < len(text) and not text[end].isspace():
            end += 1
        fields.append(text[position:end])
        position = end
    return fields
