"""Reading JSON that tenants wrote, without letting its shape reach the server's own stack.

Python's `json` module builds nested values by recursion, so a document nested a
thousand deep raises RecursionError (not ValueError), and an integer of more than
4,300 digits raises ValueError while it is converted. Every place that reads tenant
JSON goes through here instead:

- `depth(text)` measures nesting without recursion and without building anything;
- `loads(text, max_depth)` builds the value only when it nests at most `max_depth` deep,
  and raises TooDeep (a ValueError) otherwise, before `json` ever recurses;
- `check(data)` proves that bytes are one JSON value of any depth and numbers of any
  length, without converting them: Invoke accepts whatever JSON Lambda accepts and passes
  it on unchanged.

Both read JSON as RFC 8259 defines it: `NaN` and `Infinity`, which Python's `json` takes
by default, are refused: RFC 8259 has no such values, and a NaN once stored (as an alias
weight, say) would be written back out as text no client can parse.

Every failure is a ValueError (json.JSONDecodeError, UnicodeDecodeError, TooDeep or
InvalidJson), so a caller catches one type and says what AWS says.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

#: Nesting that the server itself will build Python values for: far deeper than any Lambda
#: request shape or IAM policy grammar (about six levels), and far below the interpreter's
#: recursion limit (1,000 frames), so `json` never recurses near it.
MAX_DEPTH = 64

#: A complete JSON string literal (unrolled so that long strings match in one step).
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
#: Everything that is not a bracket, once strings are gone.
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
#: How each bracket moves the nesting depth.
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}

#: One token of JSON after optional whitespace, for the iterative checker. A run
#: of opening square brackets, or of closing brackets, is one token: deep documents are
#: mostly such runs, and a run is pushed or popped at C speed.
_TOKEN = re.compile(
    r"""[ \t\n\r]*(?:
        (?P<arrays>\[(?:[ \t\n\r]*\[)*)
      | (?P<object>\{)
      | (?P<closes>[\]}](?:[ \t\n\r]*[\]}])*)
      | (?P<comma>,)
      | (?P<colon>:)
      | (?P<string>"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*")
      | (?P<scalar>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|true|false|null)
    )""",
    re.VERBOSE,
)
_END = re.compile(r"[ \t\n\r]*\Z")
#: Drops JSON whitespace from a run of brackets; turns closing brackets into their openers.
_BARE = str.maketrans({" ": None, "\t": None, "\n": None, "\r": None, "]": "[", "}": "{"})


class InvalidJson(ValueError):
    """The text is not one JSON value; the message says where it went wrong."""


class TooDeep(ValueError):
    """The JSON nests deeper than the reader allows."""

    def __init__(self, found: int, allowed: int) -> None:
        super().__init__(f"JSON nested {found} levels deep; at most {allowed} are allowed")
        self.found = found
        self.allowed = allowed


def _text(data: str | bytes) -> str:
    """`data` as text, decoded as `json.loads` decodes bytes (UTF-8, -16 or -32; UnicodeDecodeError if bad)."""
    if isinstance(data, str):
        return data
    return data.decode(json.detect_encoding(data), "surrogatepass")


def depth(text: str) -> int:
    """The deepest nesting of brackets outside string literals (0 for a scalar), without recursion.

    Runs at C speed whatever the text: strings are cut out by one regular expression, and
    the depth is the highest running sum of +1 per opening and -1 per closing bracket.
    It is exact for valid JSON; for invalid JSON it is only an estimate (the parser says why).
    """
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def loads(data: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """The value of JSON `data`, or ValueError: TooDeep past `max_depth`, or what `json.loads` raises.

    `max_depth` must stay well below the recursion limit. Integers keep `json`'s own bound
    (4,300 digits: ValueError past it).
    """
    text = _text(data)
    found = depth(text)
    if found > max_depth:
        raise TooDeep(found, max_depth)
    return json.loads(text, parse_constant=_refuse)


def _refuse(constant: str) -> None:
    """`json` meets NaN, Infinity or -Infinity: not JSON."""
    raise InvalidJson(f"{constant} is not a JSON value")


def _skip(_: str) -> int:
    """Stands for a number while checking: nothing is converted, so no length is too long."""
    return 0


def check(data: str | bytes) -> None:
    """Return if `data` is exactly one JSON value (any depth, numbers of any length); else ValueError.

    Shallow documents (the usual case) are checked by `json` itself at C speed; deeper ones
    by an iterative checker with an explicit stack, so the server never recurses on them.
    """
    text = _text(data)
    if depth(text) <= MAX_DEPTH:
        json.loads(text, parse_int=_skip, parse_float=_skip, parse_constant=_refuse)
        return
    _check_iteratively(text)


def _check_iteratively(text: str) -> None:
    """The grammar of RFC 8259 as a loop over tokens.

    `stack` holds the open containers' opening brackets; `want` is what may come next: a
    "value", a "key", a "colon", or "more" (a comma or closing brackets). A container just
    opened may also close at once (`[]`, `{}`).
    """
    stack: list[str] = []
    want, just_opened, position = "value", False, 0
    while True:
        if not stack and want == "more":
            if _END.match(text, position):
                return
            raise InvalidJson(f"Extra data at character {position}")
        token = _TOKEN.match(text, position)
        if token is None:
            raise InvalidJson(f"Expecting {want} at character {position}")
        kind = token.lastgroup
        assert kind is not None
        if kind == "closes" and (want == "more" or just_opened):
            # Each closing bracket must match the opener it closes, innermost first.
            openers = token["closes"].translate(_BARE)[::-1]
            if len(openers) > len(stack) or "".join(stack[len(stack) - len(openers):]) != openers:
                raise InvalidJson(f"Mismatched closing bracket near character {token.start(kind)}")
            del stack[len(stack) - len(openers):]
            want = "more"
        elif want == "value" and kind == "arrays":
            stack.extend(token["arrays"].translate(_BARE))
        elif want == "value" and kind == "object":
            stack.append("{")
            want = "key"
        elif want == "value" and kind in ("string", "scalar"):
            want = "more"
        elif want == "key" and kind == "string":
            want = "colon"
        elif want == "colon" and kind == "colon":
            want = "value"
        elif want == "more" and kind == "comma" and stack:
            want = "key" if stack[-1] == "{" else "value"
        else:
            raise InvalidJson(f"Expecting {want} at character {token.start(kind)}")
        just_opened = kind in ("arrays", "object")
        position = token.end()
