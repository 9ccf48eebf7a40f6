"""Signatures are verified: every way a request can be badly signed gets AWS's answer, and changes nothing."""

from __future__ import annotations

import hashlib
import http.client
import json
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone

import botocore.auth
import pytest
from botocore.exceptions import ClientError

from support import ACCOUNT, Answer, Server, error_of, make_zip

INVALID_TOKEN = "The security token included in the request is invalid."
EXPIRED_TOKEN = "The security token included in the request is expired"
BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key "
    "and signing method. Consult the service documentation for details."
)


def wrong_secret(server: Server) -> tuple[str, str]:
    key, secret = server.root()
    return key, "x" * 40


def test_the_default_account_has_real_root_credentials(server):
    text = server.credentials_file.read_text()
    assert "[default]" in text and f"[{ACCOUNT}]" in text
    assert server.credentials_file.stat().st_mode & 0o777 == 0o600
    key, secret = server.root()
    assert key.startswith("AKIA") and len(key) == 20 and len(secret) == 40
    identity = server.client("sts").get_caller_identity()
    assert identity["Arn"] == f"arn:aws:iam::{ACCOUNT}:root"


@pytest.mark.parametrize(
    ("service", "call", "status", "code"),
    [
        ("lambda", lambda c: c.list_functions(), 403, "InvalidSignatureException"),
        ("iam", lambda c: c.list_roles(), 403, "SignatureDoesNotMatch"),
        ("sts", lambda c: c.get_caller_identity(), 403, "SignatureDoesNotMatch"),
    ],
)
def test_a_wrong_secret(server, service, call, status, code):
    with pytest.raises(ClientError) as raised:
        call(server.client(service, credentials=wrong_secret(server)))
    assert error_of(raised) == (status, code, BAD_SIGNATURE)


@pytest.mark.parametrize(
    ("service", "call", "code"),
    [
        ("lambda", lambda c: c.list_functions(), "UnrecognizedClientException"),
        ("iam", lambda c: c.list_roles(), "InvalidClientTokenId"),
        ("sts", lambda c: c.get_caller_identity(), "InvalidClientTokenId"),
    ],
)
def test_an_unknown_key(server, service, call, code):
    with pytest.raises(ClientError) as raised:
        call(server.client(service, credentials=("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")))
    assert error_of(raised) == (403, code, INVALID_TOKEN)


def test_a_12_digit_key_names_no_account_any_more(server):
    with pytest.raises(ClientError) as raised:
        server.client("sts", credentials=("111111111111", "test")).get_caller_identity()
    assert error_of(raised) == (403, "InvalidClientTokenId", INVALID_TOKEN)


def test_a_refused_create_changes_nothing(server, role, unique):
    name = unique("refused")
    bad = server.client("lambda", credentials=wrong_secret(server))
    with pytest.raises(ClientError) as raised:
        bad.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                            Code={"ZipFile": make_zip()})
    assert error_of(raised)[1] == "InvalidSignatureException"
    with pytest.raises(ClientError) as missing:
        server.client("lambda").get_function(FunctionName=name)
    assert error_of(missing)[1] == "ResourceNotFoundException"


def test_a_forged_session_token(server):
    key, secret = server.root()
    forged = server.client("sts", credentials=("ASIAIOSFODNN7EXAMPLE", secret, "v1:" + "A" * 200))
    with pytest.raises(ClientError) as raised:
        forged.get_caller_identity()
    assert error_of(raised) == (403, "InvalidClientTokenId", INVALID_TOKEN)


def test_an_expired_session(server):
    """A session the server itself issued, already past its expiry: what an operator's key file can make."""
    from lambdabox.access.sessions import Sessions
    from lambdabox.store.sealed import Sealer, load_key

    sessions = Sessions(Sealer(load_key(server.data_dir / "secrets.key")))
    past = sessions.issue(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:role/gone", "AROAEXAMPLEEXAMPLE01", "s", -5)
    for service, call, code in [
        ("lambda", lambda c: c.list_functions(), "ExpiredTokenException"),
        ("sts", lambda c: c.get_caller_identity(), "ExpiredToken"),
    ]:
        with pytest.raises(ClientError) as raised:
            call(server.client(service, credentials=(past.access_key, past.secret, past.token)))
        assert error_of(raised) == (403, code, EXPIRED_TOKEN)


def test_a_session_token_sent_with_another_key_is_refused(server):
    from lambdabox.access.sessions import Sessions
    from lambdabox.store.sealed import Sealer, load_key

    sessions = Sessions(Sealer(load_key(server.data_dir / "secrets.key")))
    one = sessions.issue(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:role/r", "AROAEXAMPLEEXAMPLE01", "one", 600)
    two = sessions.issue(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:role/r", "AROAEXAMPLEEXAMPLE01", "two", 600)
    with pytest.raises(ClientError) as raised:
        server.client("sts", credentials=(one.access_key, one.secret, two.token)).get_caller_identity()
    assert error_of(raised) == (403, "InvalidClientTokenId", INVALID_TOKEN)


@pytest.mark.parametrize("minutes", [-20, 20])
def test_a_skewed_clock(server, monkeypatch, minutes):
    real = botocore.auth.get_current_datetime
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: real() + timedelta(minutes=minutes))
    for service, call, code in [
        ("lambda", lambda c: c.list_functions(), "InvalidSignatureException"),
        ("sts", lambda c: c.get_caller_identity(), "SignatureDoesNotMatch"),
    ]:
        with pytest.raises(ClientError) as raised:
            call(server.client(service))
        status, error, message = error_of(raised)
        assert (status, error) == (403, code)
        if minutes < 0:
            assert message.startswith("Signature expired: ") and " is now earlier than " in message
            assert message.endswith(" - 15 min.)")
        else:
            assert message.startswith("Signature not yet current: ") and message.endswith(" + 15 min.)")


def test_a_clock_14_minutes_off_is_accepted(server, monkeypatch):
    real = botocore.auth.get_current_datetime
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: real() - timedelta(minutes=14))
    assert server.client("lambda").list_functions()["Functions"] is not None


def _raw(server: Server, method: str, path: str, body: bytes, headers: dict[str, str]) -> Answer:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        connection.close()


def test_a_tampered_body(server, create_function, lam):
    name = create_function()["FunctionName"]
    path = f"/2015-03-31/functions/{name}/configuration"
    signed = server.signed("PUT", path, b'{"Description": "honest"}', {"Content-Type": "application/json"})
    answer = _raw(server, "PUT", path, b'{"Description": "evil!!"}', signed)
    assert answer.status == 403
    assert answer.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert answer.json() == {"message": BAD_SIGNATURE}
    assert lam.get_function_configuration(FunctionName=name)["Description"] == ""


def test_a_payload_hash_that_is_not_the_body(server, create_function, lam):
    name = create_function()["FunctionName"]
    path = f"/2015-03-31/functions/{name}/configuration"
    sent = b'{"Description": "evil"}'
    # Signed honestly over a hash header that names another body: the hash must match the bytes that came.
    claimed = hashlib.sha256(b'{"Description": "honest"}').hexdigest()
    signed = server.signed("PUT", path, sent, {"Content-Type": "application/json", "X-Amz-Content-SHA256": claimed})
    answer = _raw(server, "PUT", path, sent, signed)
    assert answer.status == 403
    assert answer.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert lam.get_function_configuration(FunctionName=name)["Description"] == ""


def test_an_unsigned_payload_is_accepted_when_signed_so(server, create_function, lam):
    name = create_function()["FunctionName"]
    path = f"/2015-03-31/functions/{name}/configuration"
    sent = b'{"Description": "unsigned payload"}'
    signed = server.signed("PUT", path, sent, {"Content-Type": "application/json", "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    assert _raw(server, "PUT", path, sent, signed).status == 200
    assert lam.get_function_configuration(FunctionName=name)["Description"] == "unsigned payload"


def test_presigned_requests_are_verified_and_expire(server, create_function):
    name = create_function()["FunctionName"]
    lam = server.client("lambda")
    url = lam.generate_presigned_url("get_function_configuration", Params={"FunctionName": name}, ExpiresIn=2)
    with urllib.request.urlopen(url, timeout=10) as answer:
        assert json.load(answer)["FunctionName"] == name
    tampered = url.replace(name, name[:-1] + ("x" if name[-1] != "x" else "y"))
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(tampered, timeout=10)
    assert raised.value.code == 403
    assert json.load(raised.value) == {"message": BAD_SIGNATURE}
    time.sleep(3.2)
    with pytest.raises(urllib.error.HTTPError) as expired:
        urllib.request.urlopen(url, timeout=10)
    assert expired.value.code == 403
    assert expired.value.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert json.load(expired.value)["message"].startswith("Signature expired: ")


def test_a_presigned_sts_call(server):
    # As EKS tokens are made: a GET presigned for GetCallerIdentity.
    url = server.client("sts").generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")
    with urllib.request.urlopen(url, timeout=10) as answer:
        document = ET.fromstring(answer.read())
    namespace = {"sts": "https://sts.amazonaws.com/doc/2011-06-15/"}
    assert document.findtext("sts:GetCallerIdentityResult/sts:Account", namespaces=namespace) == ACCOUNT


@pytest.mark.parametrize(
    "path", ["/2015-03-31/functions/", "/_lambdabox/invocations?function=x", "/_lambdabox/logs/x", "/_lambdabox/invocations/abc"]
)
def test_unsigned_requests_are_refused(server, path):
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(server.url + path, timeout=10)
    assert raised.value.code == 403
    assert raised.value.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert json.load(raised.value) == {"message": "Missing Authentication Token"}


def test_an_unsigned_query_request_is_refused_in_xml(server):
    request = urllib.request.Request(
        server.url, data=b"Action=ListRoles&Version=2010-05-08",
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=10)
    assert raised.value.code == 403
    namespace = {"iam": "https://iam.amazonaws.com/doc/2010-05-08/"}
    document = ET.fromstring(raised.value.read())
    assert document.findtext("iam:Error/iam:Code", namespaces=namespace) == "MissingAuthenticationToken"


@pytest.mark.parametrize(
    "authorization",
    [
        "AWS4-HMAC-SHA256 Credential=AKIA/20240101/us-east-1/lambda/aws4_request",
        "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=00",
        "AWS3 Credential=x",
        "AWS4-HMAC-SHA256 Credential=" + "A" * 5000 + "/20240101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=0",
    ],
)
def test_malformed_authorization_headers(server, authorization):
    answer = _raw(server, "GET", "/2015-03-31/functions/", b"",
                  {"Authorization": authorization, "X-Amz-Date": "20240101T000000Z"})
    assert answer.status == 403
    assert answer.headers["x-amzn-ErrorType"] == "IncompleteSignatureException"
    assert len(answer.body) < 2000


def test_another_account_cannot_see_this_accounts_things(server, invoke_event, create_function):
    """Root of account B, signed properly, reaches none of account A's functions, invocations or logs."""
    name = create_function()["FunctionName"]
    request_id = invoke_event(name)
    other = server.client("lambda", account="222222222222")
    with pytest.raises(ClientError) as raised:
        other.get_function(FunctionName=f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}")
    assert error_of(raised)[:2] == (403, "AccessDeniedException")
    with pytest.raises(ClientError) as missing:
        other.get_function(FunctionName=name)
    assert error_of(missing)[1] == "ResourceNotFoundException"
    with pytest.raises(urllib.error.HTTPError) as lookup:
        server.get_json(f"/_lambdabox/invocations/{request_id}", account="222222222222")
    assert lookup.value.code == 404
    assert server.get_json(f"/_lambdabox/invocations/{request_id}")["function"] == name
    assert server.get_json(f"/_lambdabox/invocations?function={name}", account="222222222222") == {"invocations": []}
    assert server.get_json(f"/_lambdabox/logs/{name}?account={ACCOUNT}", account="222222222222")["events"] == []


@pytest.fixture
def invoke_event(lam):
    def invoke(name: str) -> str:
        answer = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
        return answer["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]

    return invoke


@pytest.fixture
def open_server(tmp_path):
    running = Server(tmp_path / "data", extra_args=["--auth", "off"]).start()
    yield running
    running.stop()


def test_auth_off_accepts_anything_and_says_so(open_server):
    anyone = open_server.client("sts", credentials=("111111111111", "anything"))
    assert anyone.get_caller_identity()["Arn"] == "arn:aws:iam::111111111111:root"
    answer = anyone.get_caller_identity()["ResponseMetadata"]["HTTPHeaders"]
    assert "auth is off" in answer["x-lambdabox-warning"]
    with urllib.request.urlopen(open_server.url + "/2015-03-31/functions/", timeout=10) as unsigned:
        assert unsigned.status == 200
        assert "auth is off" in unsigned.headers["x-lambdabox-warning"]
    assert "AUTH IS OFF" in open_server.log.read_text()
