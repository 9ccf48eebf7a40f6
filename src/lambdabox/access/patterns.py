"""Policy text as patterns: IAM's `*` and `?` wildcards and its `${...}` policy variables.

Policy documents come from tenants, so nothing here backtracks: a wildcard pattern is compiled to a
bit-parallel automaton (one bit per pattern position) and a subject is read once, left to right, with a
constant number of integer operations per character. `'a*' * 1000` against a long string costs the same as
any other pattern of that length.

Contract:
- `expand` substitutes policy variables from a request context. A variable whose key is missing or has
  more than one value (and has no default) raises `Unresolved`; the caller treats the statement as not
  applying, as AWS does ("Policy variables with no value").
- Text substituted for a variable is always literal: a `*` in a user's tag never acts as a wildcard.
- `Glob` and `ArnGlob` raise `PatternError` for a pattern longer than `MAX_PATTERN_CHARS`; their `match`
  answers False for a subject longer than `MAX_SUBJECT_CHARS`. They never raise on a subject.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

#: Longest pattern (in characters, after variables are substituted) that we compile. AWS caps a whole
#: managed policy at 6,144 characters; one ARN or value pattern longer than this is not a real policy.
MAX_PATTERN_CHARS = 2048
#: Longest subject (ARN, action or context value, in characters) that we match; longer never matches.
#: Requests are far smaller (a function ARN is under 200 characters, a tag value at most 256).
MAX_SUBJECT_CHARS = 65536
#: Longest text between `${` and `}` read as a variable: a context key name (at most 128 characters in AWS)
#: plus a quoted default. Longer text is left as it stands.
MAX_VARIABLE_CHARS = 512

#: The Version that turns policy variables on. Documents without it (or with 2008-10-17) treat `${...}` as
#: literal text, as AWS documents.
VARIABLES_VERSION = "2012-10-17"

Context = Mapping[str, Sequence[str]]
"""A normalized request context: lower-cased key names to their values (see `normalize_context`)."""


class PatternError(Exception):
    """A policy value can't be used as a pattern; the statement holding it does not apply."""


class Unresolved(PatternError):
    """A policy variable has no single value in the request context, and no default."""


def normalize_context(context: Mapping[str, Sequence[str] | str]) -> dict[str, tuple[str, ...]]:
    """Key names lower-cased (IAM matches them case-insensitively), values as tuples of strings.

    A bare string value counts as one value; keys that differ only in case are merged; a key with no values
    is absent, as AWS treats an empty set.
    """
    normalized: dict[str, tuple[str, ...]] = {}
    for key, values in context.items():
        if not isinstance(key, str):
            continue
        items = (values,) if isinstance(values, str) else tuple(v for v in values if isinstance(v, str))
        if items:
            lowered = key.lower()
            normalized[lowered] = normalized.get(lowered, ()) + items
    return normalized


# A piece of expanded policy text: (text, literal). Literal text came from a variable or an escape, so its
# `*` and `?` are plain characters; other text keeps its wildcards.
Piece = tuple[str, bool]

_ESCAPES = {"*": "*", "?": "?", "$": "$"}


def expand(text: str, context: Context, variables: bool) -> list[Piece]:
    """Split `text` into pieces, substituting `${key}`, `${key, 'default'}`, `${*}`, `${?}` and `${$}`.

    With `variables` False (a document without Version 2012-10-17) the text is returned whole.
    A `${` with no closing `}` within `MAX_VARIABLE_CHARS` is literal text. Raises `PatternError` for text
    longer than `MAX_PATTERN_CHARS`, and `Unresolved` for a variable without a value.
    """
    if len(text) > MAX_PATTERN_CHARS:
        raise PatternError("policy value too long")
    if not variables or "${" not in text:
        return [(text, False)]
    pieces: list[Piece] = []
    start = 0
    at = text.find("${")
    while at != -1:
        end = text.find("}", at + 2, at + 2 + MAX_VARIABLE_CHARS + 1)
        if end == -1:
            at = text.find("${", at + 2)  # this `${` stays literal text
            continue
        if at > start:
            pieces.append((text[start:at], False))
        pieces.append((_resolve(text[at + 2 : end], context), True))
        start = end + 1
        at = text.find("${", start)
    if start < len(text):
        pieces.append((text[start:], False))
    return pieces


def _resolve(body: str, context: Context) -> str:
    """The value of one variable body (the text between `${` and `}`)."""
    if body in _ESCAPES:
        return _ESCAPES[body]
    name, comma, rest = body.partition(",")
    default: str | None = None
    if comma:
        quoted = rest.strip()
        if len(quoted) < 2 or quoted[0] != "'" or quoted[-1] != "'":
            raise Unresolved(f"malformed default in ${{{body}}}")
        default = quoted[1:-1]
    values = context.get(name.strip().lower(), ())
    if len(values) == 1:
        return values[0]
    if default is not None:
        return default
    # Missing, or multivalued: AWS can't use a multivalued key as a variable.
    raise Unresolved(f"no single value for ${{{body}}}")


def plain_text(pieces: Sequence[Piece]) -> str:
    """Expanded pieces joined, for operators without wildcards (StringEquals and the like)."""
    return "".join(text for text, _ in pieces)


class _Wild:
    """A wildcard element of a compiled pattern."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


STAR = _Wild("*")
ONE = _Wild("?")

Element = str | _Wild


def _elements(pieces: Sequence[Piece], fold_case: bool = False) -> list[Element]:
    """Pattern elements: one per character, `*` and `?` of non-literal pieces as wildcards, runs of `*` as one."""
    out: list[Element] = []
    for text, literal in pieces:
        if fold_case:
            text = text.lower()
        for char in text:
            if not literal and char == "*":
                if out and out[-1] is STAR:
                    continue
                out.append(STAR)
            elif not literal and char == "?":
                out.append(ONE)
            else:
                out.append(char)
    if len(out) > MAX_PATTERN_CHARS:
        raise PatternError("pattern too long")
    return out


class Glob:
    """A compiled wildcard pattern, matched against a whole subject in one pass.

    `*` matches any run of characters (also none) and `?` exactly one. With `colon_bound`, as in a Resource
    element, a `*` that is not the last character of an ARN segment (not followed by `:` or the end) does not
    match across a `:`, as the IAM Resource documentation describes. With `fold_case` (Action elements), both
    pattern and subject are compared lower-cased.
    """

    @classmethod
    def compile(cls, pieces: Sequence[Piece], colon_bound: bool = False, fold_case: bool = False) -> Glob:
        """The pattern that expanded policy text spells; raises `PatternError` when it is too long."""
        return cls(_elements(pieces, fold_case), colon_bound, fold_case)

    def __init__(self, pattern: Sequence[Element], colon_bound: bool = False, fold_case: bool = False) -> None:
        """From elements; with `fold_case` the string elements must already be lower-cased."""
        if len(pattern) > MAX_PATTERN_CHARS:
            raise PatternError("pattern too long")
        self._fold_case = fold_case
        self._size = len(pattern)
        self._literal: str | None = None
        if all(isinstance(e, str) for e in pattern):
            self._literal = "".join(pattern)  # type: ignore[arg-type]
        self._anything = len(pattern) == 1 and pattern[0] is STAR
        # Bit i stands for "the first i elements are consumed"; bit len(pattern) accepts.
        self._chars: dict[str, int] = {}
        self._one = 0
        self._star = 0
        self._star_crossing = 0
        for i, element in enumerate(pattern):
            bit = 1 << i
            if element is STAR:
                self._star |= bit
                following = pattern[i + 1] if i + 1 < len(pattern) else None
                if not colon_bound or following is None or following == ":":
                    self._star_crossing |= bit
            elif element is ONE:
                self._one |= bit
            else:
                self._chars[element] = self._chars.get(element, 0) | bit  # type: ignore[index]

    def match(self, subject: str) -> bool:
        if len(subject) > MAX_SUBJECT_CHARS:
            return False
        if self._fold_case:
            subject = subject.lower()
        if self._literal is not None:
            return subject == self._literal
        if self._anything:
            return True
        chars, one, star, crossing = self._chars, self._one, self._star, self._star_crossing
        state = 1
        state |= (state & star) << 1  # a star may match nothing (stars never stand next to each other)
        for char in subject:
            stars = crossing if char == ":" else star
            state = ((state & (chars.get(char, 0) | one)) << 1) | (state & stars)
            if not state:
                return False
            state |= (state & star) << 1
        return bool((state >> self._size) & 1)


#: The number of colon-separated components in an ARN: arn, partition, service, region, account, resource.
ARN_COMPONENTS = 6


class ArnGlob:
    """An ARN pattern for the Arn* condition operators: each of the six components matched separately.

    A pattern or subject with fewer than six components never matches. The last component keeps any
    further colons (`function:name:alias`), and a `*` in it may span them.
    """

    def __init__(self, pieces: Sequence[Piece]) -> None:
        """Raises `PatternError` when the pattern is too long."""
        parts: list[list[Element]] = [[]]
        for element in _elements(pieces):
            if element == ":" and len(parts) < ARN_COMPONENTS:
                parts.append([])
            else:
                parts[-1].append(element)
        self._parts = [Glob(part) for part in parts] if len(parts) == ARN_COMPONENTS else None

    def match(self, subject: str) -> bool:
        if self._parts is None or len(subject) > MAX_SUBJECT_CHARS:
            return False
        pieces = subject.split(":", ARN_COMPONENTS - 1)
        if len(pieces) != ARN_COMPONENTS:
            return False
        return all(part.match(piece) for part, piece in zip(self._parts, pieces))
