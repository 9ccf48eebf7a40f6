"""Reading integers that tenants wrote as text: query strings, headers, form fields, URI labels.

`int()` is too lenient and too costly for hostile text: it accepts whitespace, underscores
and any Unicode digit ("٣", "²" passes `str.isdigit()` but not `int()`), and converting a
number of more than 4,300 digits raises ValueError (or, below that, takes quadratic time).
These helpers accept only what AWS's Java front end reads as a number, and answer None
for everything else, so each caller says what AWS says.
"""

from __future__ import annotations

import re

#: Longest integer read, in digits: a Java long, the widest integer type in AWS's API
#: models, has 19. Anything longer cannot be a valid value of any member.
MAX_DIGITS = 19

_SIGNED = re.compile(r"[-+]?[0-9]{1,%d}" % MAX_DIGITS)
_UNSIGNED = re.compile(r"[0-9]{1,%d}" % MAX_DIGITS)


def integer(text: str | None) -> int | None:
    """`text` as an int when it is an optional sign and 1 to MAX_DIGITS ASCII digits; else None."""
    if text is None or not _SIGNED.fullmatch(text):
        return None
    return int(text)


def natural(text: str | None) -> int | None:
    """`text` as an int when it is 1 to MAX_DIGITS ASCII digits (no sign); else None."""
    if text is None or not _UNSIGNED.fullmatch(text):
        return None
    return int(text)
