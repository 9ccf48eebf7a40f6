"""EventBridge's `wildcard` operator, matched in linear time.

A wildcard pattern is text in which `*` stands for any run of characters (none included);
`\\*` is a literal star and `\\\\` a literal backslash. EventBridge refuses two stars in a row
and any other backslash escape, and so does `parse_wildcard` (it answers None).

Tenants write both the pattern and the text, so matching must not backtrack: a regular
expression built from `*a*a*a*...b` takes time exponential in the stars against a long run
of `a`. With `*` as the only wildcard a greedy scan is exact: the first piece must start the
text, the last must end it, and each piece between is taken at its leftmost place after the
previous one (a later place never leaves more room for the rest). Each piece is one
`str.find` over text that no earlier piece consumed, so the whole match costs one pass over
the text plus the pattern's length, whatever the pattern.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Wildcard:
    """A parsed wildcard pattern: the literal pieces between its stars."""

    #: The literal text around and between the stars; one piece means no star at all.
    pieces: tuple[str, ...]

    def matches(self, text: str) -> bool:
        """Whether `text` matches the whole pattern."""
        return self.scan(text, None)

    def scan(self, text: str, on_find: Callable[[int, int], None] | None) -> bool:
        """`matches`, calling `on_find(start, end)` for each search of the text (for tests)."""
        pieces = self.pieces
        if len(pieces) == 1:
            return text == pieces[0]
        head, tail = pieces[0], pieces[-1]
        if len(text) < len(head) + len(tail) or not text.startswith(head) or not text.endswith(tail):
            return False
        position, end = len(head), len(text) - len(tail)
        for piece in pieces[1:-1]:
            if on_find is not None:
                on_find(position, end)
            found = text.find(piece, position, end)
            if found < 0:
                return False
            position = found + len(piece)
        return True


def parse_wildcard(pattern: str) -> Wildcard | None:
    """The pattern's pieces, or None when EventBridge refuses it (`**`, a stray backslash)."""
    pieces: list[str] = []
    current: list[str] = []
    index, previous_star = 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            following = pattern[index + 1 : index + 2]
            if following not in ("*", "\\"):
                return None
            current.append(following)
            index += 2
            previous_star = False
            continue
        if char == "*":
            if previous_star:
                return None
            pieces.append("".join(current))
            current = []
            previous_star = True
        else:
            current.append(char)
            previous_star = False
        index += 1
    pieces.append("".join(current))
    return Wildcard(tuple(pieces))
