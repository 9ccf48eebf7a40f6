"""model/url_events.py on its own: the event of odd requests, and responses that are no answer."""

from __future__ import annotations

import base64
import json

import pytest

from lambdabox.model.url_events import Malformed, UrlRequest, answer, event, prelude


def request(**changes) -> UrlRequest:
    base = dict(url_id="a" * 32, domain_name="h", method="GET", raw_path="/", raw_query="", headers=[], body=b"",
                source_ip="127.0.0.1", request_id="r", received=0.0)
    base.update(changes)
    return UrlRequest(**base)


def test_no_query_no_cookies_no_body():
    built = event(request())
    assert "queryStringParameters" not in built and "cookies" not in built and "body" not in built
    assert built["isBase64Encoded"] is False and built["requestContext"]["time"] == "01/Jan/1970:00:00:00 +0000"


def test_text_that_is_not_utf8_is_base64():
    built = event(request(body=b"\xff\xfe", headers=[("Content-Type", "text/plain")]))
    assert built["isBase64Encoded"] is True and base64.b64decode(built["body"]) == b"\xff\xfe"
    built = event(request(body="é".encode(), headers=[("content-type", "application/vnd.api+json; charset=utf-8")]))
    assert built["body"] == "é" and built["isBase64Encoded"] is False


def test_repeated_cookie_headers_and_odd_queries():
    built = event(request(headers=[("Cookie", "a=1"), ("cookie", "b=2;  c=3")], raw_query="x&y=%20&x=2"))
    assert built["cookies"] == ["a=1", "b=2", "c=3"]
    assert built["queryStringParameters"] == {"x": ",2", "y": " "}


@pytest.mark.parametrize("payload", [
    b"not json",
    json.dumps({"statusCode": True}).encode(),
    json.dumps({"statusCode": 99}).encode(),
    json.dumps({"statusCode": 600}).encode(),
    json.dumps({"statusCode": 200, "headers": ["x"]}).encode(),
    json.dumps({"statusCode": 200, "headers": {"bad name": "x"}}).encode(),
    json.dumps({"statusCode": 200, "headers": {"x\r\nset-cookie": "x"}}).encode(),
    json.dumps({"statusCode": 200, "headers": {"x": {"nested": 1}}}).encode(),
    json.dumps({"statusCode": 200, "cookies": ["a=1\r\nx: y"]}).encode(),
    json.dumps({"statusCode": 200, "body": 5}).encode(),
    json.dumps({"statusCode": 200, "body": "!!", "isBase64Encoded": True}).encode(),
])
def test_responses_that_are_no_answer(payload):
    with pytest.raises(Malformed):
        answer(payload)


def test_answers():
    assert answer(b"null").status == 200 and answer(b"null").body == b"null"
    assert answer(b"[1]").headers == [("content-type", "application/json")]
    full = answer(json.dumps({"statusCode": 201, "headers": {"X-A": 1, "X-B": True}, "cookies": ["c=1"]}).encode())
    assert (full.status, full.body) == (201, b"")
    assert full.headers == [("x-a", "1"), ("x-b", "true"), ("content-type", "application/json"), ("set-cookie", "c=1")]


def test_an_answer_nested_past_the_parser_is_a_bare_json_value():
    """A function's answer is tenant JSON: nested deeper than any response object, it is answered as it is."""
    nested = b"[" * 100_000 + b"]" * 100_000
    found = answer(nested)
    assert (found.status, found.headers, found.body) == (200, [("content-type", "application/json")], nested)


def test_a_prelude_gives_status_headers_and_cookies():
    found = prelude(b'{"statusCode": 404, "headers": {"X-A": "1"}, "cookies": ["c=1"]}')
    assert found.status == 404 and found.body == b""
    assert found.headers == [("x-a", "1"), ("content-type", "application/octet-stream"), ("set-cookie", "c=1")]
    assert prelude(b"{}").status == 200


@pytest.mark.parametrize("raw", [
    b"not json", b"[1]", b'{"statusCode": "200"}', b'{"statusCode": 600}', b'{"statusCode": true}',
    b'{"headers": []}', b'{"cookies": "c=1"}', b'{"headers": {"a b": "c"}}', b'{"headers": {"a": "x\\r\\ny"}}',
    b'{"headers": {"a": {"nested": 1}}}', b"[" * 6000 + b"]" * 6000,
])
def test_a_malformed_prelude_is_refused(raw):
    with pytest.raises(Malformed):
        prelude(raw)
