"""Strings no process, UTF-8 store or log can carry: refused at the door, with nothing stored.

JSON's \\ud800 escapes can spell unpaired UTF-16 surrogates, which no UTF-8 encoder accepts;
a NUL cannot travel in a process environment, where the handler and the environment
variables go. Before, each was stored and then failed as a 500 when used.
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from support import error_of, make_zip
from wire import send


def create_body(name: str, role: str, **members: object) -> bytes:
    import base64

    body = {"FunctionName": name, "Runtime": "python3.12", "Role": role, "Handler": "app.handler",
            "Code": {"ZipFile": base64.b64encode(make_zip()).decode()}, **members}
    return json.dumps(body).encode()  # ensure_ascii: a lone surrogate goes as a \\udXXX escape


@pytest.mark.parametrize(
    "members",
    [
        {"Description": "\ud800"},
        {"Environment": {"Variables": {"AB": "x\udfff"}}},
        {"Tags": {"k\ud800": "v"}},
        {"Tags": {"k": "\udc00"}},
        {"Handler": "app\ud800.handler"},
    ],
    ids=["description", "environment-value", "tag-key", "tag-value", "handler"],
)
def test_unpaired_surrogates_are_invalid_content(server, lam, role, unique, quiet_log, members):
    name = unique("fn")
    answer = send(server, "POST", "/2015-03-31/functions", create_body(name, role, **members))
    assert answer.status == 400, answer.body
    assert answer.headers["x-amzn-ErrorType"] == "InvalidRequestContentException"
    assert "unpaired UTF-16 surrogate" in answer.json()["message"]
    with pytest.raises(ClientError) as missing:
        lam.get_function(FunctionName=name)
    assert error_of(missing)[0] == 404


def test_paired_surrogates_are_ordinary_characters(server, lam, role, unique, quiet_log):
    name = unique("fn")
    answer = send(server, "POST", "/2015-03-31/functions", create_body(name, role, Description="smile \U0001F600"))
    assert answer.status == 201, answer.body
    assert lam.get_function_configuration(FunctionName=name)["Description"] == "smile \U0001F600"


@pytest.mark.parametrize(
    "members, fragment",
    [
        ({"Environment": {"Variables": {"AB": "a\x00b"}}}, "NUL"),
        ({"Handler": "app\x00.handler"}, "is not valid"),
        ({"Handler": "app.hand\x00ler", "Runtime": "nodejs20.x"}, "is not valid"),
    ],
    ids=["environment-value", "python-handler", "node-handler"],
)
def test_a_nul_that_would_reach_the_process_environment_is_refused(server, lam, role, unique, quiet_log, members, fragment):
    name = unique("fn")
    answer = send(server, "POST", "/2015-03-31/functions", create_body(name, role, **members))
    assert answer.status == 400, answer.body
    assert answer.headers["x-amzn-ErrorType"] == "InvalidParameterValueException"
    assert fragment in answer.json()["message"]
    with pytest.raises(ClientError) as missing:
        lam.get_function(FunctionName=name)
    assert error_of(missing)[0] == 404


def test_an_update_cannot_bring_a_nul_in_either(raw_lam, create_function, invoke, quiet_log):
    name = create_function()["FunctionName"]
    for members in ({"Environment": {"Variables": {"AB": "\x00"}}}, {"Handler": "app.\x00"}):
        with pytest.raises(ClientError) as raised:
            raw_lam.update_function_configuration(FunctionName=name, **members)
        assert error_of(raised)[:2] == (400, "InvalidParameterValueException")
    assert invoke(name, {"still": "fine"}).status == 200
