"""Function URLs driven by curl, as a user tries them: methods, query strings, repeated headers, cookies both ways,
binary bodies both ways, status codes, the inferred answer, the 502s, and a 403 that turns 200 after AddPermission.

curl reaches the URL's host form (`ID.lambda-url.REGION.localhost:PORT`), which it resolves to loopback itself."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess

import pytest

from test_url_front import HANDLER, make_public, public  # noqa: F401 (public is a fixture used by url)


def curl(*arguments: str) -> tuple[int, dict[str, list[str]], bytes]:
    """Run curl with `arguments`; (status, headers by lower-case name, body)."""
    assert shutil.which("curl"), "curl is needed for these tests"
    answer = subprocess.run(["curl", "-sS", "-i", "--max-time", "60", *arguments], capture_output=True, timeout=90)
    assert answer.returncode == 0, answer.stderr.decode()
    head, _, body = answer.stdout.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, list[str]] = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return int(status_line.split()[1]), headers, body


@pytest.fixture(scope="module")
def url(public) -> str:
    """test_url_front's public (NONE) URL of its echoing handler, made for this module."""
    return public[1]


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"])
def test_methods(url, method):
    status, _, body = curl(*(["-I"] if method == "HEAD" else ["-X", method]), url + "?mode=echo")
    assert status == 200
    if method != "HEAD":
        assert json.loads(body)["requestContext"]["http"]["method"] == method


def test_query_strings_and_repeated_headers(url):
    status, _, body = curl(url + "path/x?mode=echo&a=1&a=2&sp=a%20b&empty=", "-H", "X-Rep: one", "-H", "X-Rep: two")
    event = json.loads(body)
    assert status == 200 and event["rawPath"] == "/path/x"
    assert event["rawQueryString"] == "mode=echo&a=1&a=2&sp=a%20b&empty="
    assert event["queryStringParameters"] == {"mode": "echo", "a": "1,2", "sp": "a b", "empty": ""}
    assert event["headers"]["x-rep"] == "one,two"


def test_cookies_both_ways(url):
    _, _, body = curl(url + "?mode=echo", "-b", "c1=v1; c2=v2")
    event = json.loads(body)
    assert event["cookies"] == ["c1=v1", "c2=v2"] and "cookie" not in event["headers"]
    status, headers, _ = curl(url + "?mode=status")
    assert status == 418 and headers["set-cookie"] == ["a=1; Path=/", "b=2; HttpOnly"]


def test_binary_bodies_both_ways(url, tmp_path):
    data = bytes(range(256)) * 4
    (tmp_path / "in.bin").write_bytes(data)
    _, _, body = curl(url + "?mode=echo", "-H", "Content-Type: application/octet-stream",
                      "--data-binary", f"@{tmp_path / 'in.bin'}")
    event = json.loads(body)
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == data
    status, headers, body = curl(url + "?mode=binary")
    assert status == 200 and body == bytes(range(256)) and headers["content-type"] == ["application/octet-stream"]


def test_status_codes_headers_and_the_inferred_answer(url):
    status, headers, body = curl(url + "?mode=status")
    assert (status, body) == (418, b"short and stout") and headers["x-teapot"] == ["yes"]
    status, headers, body = curl(url + "?mode=bare")
    assert (status, json.loads(body)) == (200, {"hello": "world"}) and headers["content-type"] == ["application/json"]


@pytest.mark.parametrize("mode", ["raise", "malformed", "sleep"])
def test_function_errors_timeouts_and_malformed_answers_are_502(url, mode):
    assert curl(url + f"?mode={mode}")[::2] == (502, b'{"Message":"Internal Server Error"}')


def test_forbidden_until_add_permission_then_served(lam, deploy):
    name = deploy({"app.py": HANDLER})
    address = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    assert curl(address + "?mode=bare")[::2] == (403, b'{"Message":"Forbidden"}')
    make_public(lam, name)
    status, _, body = curl(address + "?mode=bare")
    assert (status, json.loads(body)) == (200, {"hello": "world"})
