"""Wildcards and policy variables: the matcher under the policy engine."""

from __future__ import annotations

import time

import pytest

from lambdabox.access.patterns import (
    MAX_PATTERN_CHARS,
    ArnGlob,
    Glob,
    PatternError,
    Unresolved,
    expand,
    normalize_context,
)


def test_glob_wildcards() -> None:
    def glob(pattern: str, **options: bool) -> Glob:
        return Glob.compile([(pattern, False)], **options)

    assert glob("*").match("")
    assert glob("a**b").match("ab")
    assert glob("a*b*c").match("aXbYc") and not glob("a*b*c").match("aXbY")
    assert glob("?").match("x") and not glob("?").match("") and not glob("?").match("xy")
    assert glob("lambda:get*", fold_case=True).match("Lambda:GetFunction")
    assert not glob("x*y", colon_bound=True).match("x:y")
    assert glob("x*:y", colon_bound=True).match("x:z:y")
    assert glob("x*", colon_bound=True).match("x:z")
    literal = Glob.compile([("a", False), ("*?", True)])
    assert literal.match("a*?") and not literal.match("abc")


def test_glob_is_linear_on_hostile_input() -> None:
    started = time.monotonic()
    assert not Glob.compile([("*a" * 1000 + "b", False)]).match("a" * 60_000)
    # Inner stars may not cross the colons (each is followed by 'a'), so this fails, after a linear walk.
    assert not Glob.compile([("a*" * 200, False)], colon_bound=True).match("a:" * 5_000)
    assert Glob.compile([("a*" * 200, False)]).match("a:" * 5_000)
    assert time.monotonic() - started < 2.0


def test_glob_limits() -> None:
    with pytest.raises(PatternError):
        Glob.compile([("x" * (MAX_PATTERN_CHARS + 1), False)])
    assert not Glob.compile([("*", False)]).match("x" * 70_000)  # over MAX_SUBJECT_CHARS


def test_arn_glob_components() -> None:
    assert ArnGlob([("arn:aws:lambda:*:*:function:*", False)]).match("arn:aws:lambda:r:1:function:f:prod")
    assert not ArnGlob([("arn:aws:*:function:f", False)]).match("arn:aws:lambda:r:1:function:f")
    assert not ArnGlob([("arn:aws:lambda:*:*:function:*", False)]).match("not-an-arn")


def test_expand() -> None:
    context = normalize_context({"AWS:UserName": ["bob"], "aws:TagKeys": ["a", "b"]})
    assert expand("u/${aws:username}/*", context, True) == [("u/", False), ("bob", True), ("/*", False)]
    assert expand("${aws:username}", context, False) == [("${aws:username}", False)]
    assert expand("${*}${?}${$}", context, True) == [("*", True), ("?", True), ("$", True)]
    assert expand("${aws:PrincipalTag/team, 'none'}", context, True) == [("none", True)]
    for missing in ("${aws:PrincipalTag/team}", "${aws:TagKeys}", "${aws:PrincipalTag/team, none}"):
        with pytest.raises(Unresolved):
            expand(missing, context, True)
