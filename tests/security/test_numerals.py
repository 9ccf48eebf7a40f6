"""Integers written as text by tenants (model/numerals): 5,000 digits, Unicode digits, signs.

Query parameters of Lambdabox's own routes, Lambda's URI labels, query strings and headers,
and IAM's form fields: none of them reaches `int()` unchecked, so none of them is a 5xx.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest

from wire import send

HUGE = "9" * 5000
#: Text that `str.isdigit()` accepts and `int()` refuses, or `int()` accepts and AWS would not.
ODD = ["²", "٣", "1_000", " 7", HUGE]


@pytest.mark.parametrize("value", ODD)
def test_own_routes_read_odd_numbers_as_absent(server, quiet_log, value):
    encoded = quote(value)
    assert send(server, "GET", f"/_lambdabox/invocations?function=f&limit={encoded}").status == 200
    assert send(server, "GET", f"/_lambdabox/logs/f?since={encoded}").status == 200
    assert send(server, "GET", f"/_lambdabox/logs/f?since=0&skip={encoded}").status == 200
    link = send(server, "GET", f"/_lambdabox/archives/abc?expires={encoded}&signature=x")
    assert link.status == 403


def test_a_code_link_with_a_non_ascii_signature_is_refused(server, quiet_log):
    assert send(server, "GET", "/_lambdabox/archives/abc?expires=99999999999&signature=%C3%A9").status == 403


@pytest.mark.parametrize("value", ODD)
def test_lambda_integer_query_parameters(server, quiet_log, value):
    answer = send(server, "GET", f"/2015-03-31/functions/?MaxItems={quote(value)}")
    assert answer.status == 400
    assert answer.headers["x-amzn-ErrorType"] == "InvalidRequestContentException"
    assert len(answer.body) < 1000  # a 5,000-digit value is not echoed whole


@pytest.mark.parametrize("value", ODD)
def test_lambda_integer_uri_labels(server, quiet_log, value):
    answer = send(server, "GET", f"/2018-10-31/layers/layer/versions/{quote(value)}")
    assert answer.status == 400
    assert answer.headers["x-amzn-ErrorType"] == "InvalidRequestContentException"


@pytest.mark.parametrize("value", ["²", "1_000", "-1", HUGE])
def test_content_length_that_is_not_a_number(server, quiet_log, value):
    """h11 refuses most of these before Lambdabox sees them; none may become a 5xx."""
    try:
        answer = send(server, "GET", "/2015-03-31/functions/", headers={"Content-Length": value}, timeout=10)
    except ConnectionError:
        return  # the HTTP layer hung up on a malformed request: fine
    assert answer.status < 500


@pytest.mark.parametrize("value", ODD)
def test_iam_integer_form_fields(server, quiet_log, value):
    answer = send(server, "POST", "/", f"Action=ListRoles&Version=2010-05-08&MaxItems={quote(value)}".encode(), service="iam")
    assert answer.status == 400
    assert b"<Code>ValidationError</Code>" in answer.body
    assert len(answer.body) < 1000


def test_iam_tag_member_numbers_of_5000_digits(server, quiet_log):
    form = f"Action=CreateRole&Version=2010-05-08&RoleName=huge-tag&AssumeRolePolicyDocument=%7B%7D&Tags.member.{HUGE}.Key=k"
    answer = send(server, "POST", "/", form.encode(), service="iam")
    assert answer.status == 400
    assert b"<Code>ValidationError</Code>" in answer.body
    assert send(server, "POST", "/", b"Action=GetRole&Version=2010-05-08&RoleName=huge-tag", service="iam").status == 404
