"""Serving function URLs (BUFFERED): the event, the answer, the 502s, auth (NONE and AWS_IAM), CORS, limits, and
hostile requests, all over real HTTP to a real server."""

from __future__ import annotations

import base64
import http.client
import json
import subprocess
import time
from urllib.parse import urlparse

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from support import ACCOUNT, Server

HANDLER = r'''
import base64, json, time

def handler(event, context):
    mode = (event.get("queryStringParameters") or {}).get("mode", "echo")
    if mode == "echo":
        return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(event)}
    if mode == "bare":
        return {"hello": "world"}
    if mode == "string":
        return "plain words"
    if mode == "status":
        return {"statusCode": 418, "headers": {"x-teapot": "yes", "content-type": "text/plain"},
                "cookies": ["a=1; Path=/", "b=2; HttpOnly"], "body": "short and stout"}
    if mode == "binary":
        return {"statusCode": 200, "headers": {"content-type": "application/octet-stream"},
                "body": base64.b64encode(bytes(range(256))).decode(), "isBase64Encoded": True}
    if mode == "cors":
        return {"statusCode": 200, "headers": {"access-control-allow-origin": "https://evil.example"}, "body": "x"}
    if mode == "raise":
        raise RuntimeError("boom")
    if mode == "malformed":
        return {"statusCode": "teapot"}
    if mode == "badheader":
        return {"statusCode": 200, "headers": {"x-a": "one\r\nset-cookie: injected=1"}, "body": ""}
    if mode == "sleep":
        time.sleep(5)
    if mode == "huge":
        return {"statusCode": 200, "body": "z" * (7 * 1024 * 1024)}
    return {"statusCode": 200, "body": context.invoked_function_arn}
'''

OTHER_ACCOUNT = "444455556666"


def send(server: Server, url: str, method: str = "GET", path: str = "/", body: bytes | None = None,
         headers: list[tuple[str, str]] = (), host: str | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One request to `url` (its host in the Host header) at the server's address; (status, headers, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", host or urlparse(url).netloc)
        for name, value in headers:
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        answer = connection.getresponse()
        return answer.status, answer.headers, answer.read()
    finally:
        connection.close()


def signed(url: str, method: str, path: str, credentials: tuple[str, str], body: bytes = b"",
           service: str = "lambda") -> list[tuple[str, str]]:
    request = AWSRequest(method=method, url=url.rstrip("/") + path, data=body, headers={})
    SigV4Auth(Credentials(*credentials), service, "us-east-1").add_auth(request)
    return [(name, value) for name, value in request.headers.items()]


def make_public(lam, name: str, **qualifier) -> None:
    lam.add_permission(FunctionName=name, StatementId="url", Action="lambda:InvokeFunctionUrl", Principal="*",
                       FunctionUrlAuthType="NONE", **qualifier)
    lam.add_permission(FunctionName=name, StatementId="invoke", Action="lambda:InvokeFunction", Principal="*",
                       InvokedViaFunctionUrl=True, **qualifier)


@pytest.fixture(scope="module")
def public(server: Server):
    """A function with a public (NONE) URL, its Timeout 2 s: (name, URL)."""
    from support import lambda_role, make_zip

    lam = server.client("lambda")
    name = f"url-{__import__('os').urandom(4).hex()}"
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=lambda_role(server, name), Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": HANDLER})}, Timeout=2)
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    make_public(lam, name)
    return name, url


def test_a_none_url_is_forbidden_until_the_policy_allows_both_actions(server, lam, deploy):
    name = deploy({"app.py": HANDLER})
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    assert send(server, url)[::2] == (403, b'{"Message":"Forbidden"}')
    lam.add_permission(FunctionName=name, StatementId="url", Action="lambda:InvokeFunctionUrl", Principal="*",
                       FunctionUrlAuthType="NONE")
    assert send(server, url)[0] == 403  # lambda:InvokeFunction is needed too (AWS's rule since October 2025)
    lam.add_permission(FunctionName=name, StatementId="wrong-type", Action="lambda:InvokeFunction", Principal="*",
                       FunctionUrlAuthType="AWS_IAM")
    assert send(server, url)[0] == 403  # a condition for the other auth type does not apply
    lam.add_permission(FunctionName=name, StatementId="invoke", Action="lambda:InvokeFunction", Principal="*",
                       InvokedViaFunctionUrl=True)
    status, _, body = send(server, url)
    assert status == 200 and json.loads(body)["requestContext"]["accountId"] == "anonymous"


def test_the_event_field_for_field(server, public):
    name, url = public
    host = urlparse(url).netloc
    status, headers, body = send(
        server, url, "POST", "/some/path?mode=echo&a=1&a=2&empty=",
        body=b'{"x": 1}',
        headers=[("Content-Type", "application/json"), ("X-Rep", "one"), ("X-Rep", "two"), ("User-Agent", "tester/1"),
                 ("Cookie", "c1=v1; c2=v2")],
    )
    assert status == 200 and headers["x-amzn-RequestId"]
    event = json.loads(body)
    assert event["version"] == "2.0" and event["routeKey"] == "$default"
    assert event["rawPath"] == "/some/path" and event["rawQueryString"] == "mode=echo&a=1&a=2&empty="
    assert event["queryStringParameters"] == {"mode": "echo", "a": "1,2", "empty": ""}
    assert event["cookies"] == ["c1=v1", "c2=v2"] and "cookie" not in event["headers"]
    assert event["headers"]["x-rep"] == "one,two" and event["headers"]["host"] == host
    assert event["headers"]["x-forwarded-for"] == "127.0.0.1" and event["headers"]["x-forwarded-proto"] == "http"
    assert event["headers"]["x-forwarded-port"] == str(server.port)
    assert event["headers"]["x-amzn-trace-id"].startswith("Root=1-")
    assert event["body"] == '{"x": 1}' and event["isBase64Encoded"] is False
    context = event["requestContext"]
    url_id = host.split(".")[0]
    assert context["apiId"] == url_id == context["domainPrefix"] and context["domainName"] == host.split(":")[0]
    assert context["http"] == {"method": "POST", "path": "/some/path", "protocol": "HTTP/1.1",
                               "sourceIp": "127.0.0.1", "userAgent": "tester/1"}
    assert context["requestId"] == headers["x-amzn-RequestId"]
    assert context["stage"] == "$default" and context["routeKey"] == "$default"
    assert isinstance(context["timeEpoch"], int) and context["time"].endswith("+0000")
    assert "authorizer" not in context


def test_a_client_cannot_name_its_own_source_ip(server, public):
    """X-Forwarded-For from the client is kept as a header, with the address the server saw appended; the
    event's sourceIp is that address, never the client's claim (a function behind the loopback bridge included)."""
    status, _, body = send(server, public[1], "GET", "/?mode=echo", headers=[("X-Forwarded-For", "10.9.9.9")])
    event = json.loads(body)
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"
    assert event["headers"]["x-forwarded-for"] == "10.9.9.9,127.0.0.1"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_methods(server, public, method):
    status, _, body = send(server, public[1], method, "/?mode=echo")
    assert status == 200 and json.loads(body)["requestContext"]["http"]["method"] == method


def test_binary_bodies_both_ways(server, public):
    data = bytes(range(256))
    status, _, body = send(server, public[1], "POST", "/?mode=echo", body=data,
                           headers=[("Content-Type", "application/octet-stream")])
    event = json.loads(body)
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == data
    status, headers, body = send(server, public[1], "GET", "/?mode=binary")
    assert status == 200 and body == data and headers["content-type"] == "application/octet-stream"


def test_status_headers_and_cookies_back(server, public):
    status, headers, body = send(server, public[1], "GET", "/?mode=status")
    assert (status, body) == (418, b"short and stout")
    assert headers["x-teapot"] == "yes" and headers["content-type"] == "text/plain"
    assert headers.get_all("set-cookie") == ["a=1; Path=/", "b=2; HttpOnly"]


def test_a_bare_value_is_a_200_json_answer(server, public):
    status, headers, body = send(server, public[1], "GET", "/?mode=bare")
    assert (status, json.loads(body)) == (200, {"hello": "world"})
    assert headers["content-type"] == "application/json"
    status, _, body = send(server, public[1], "GET", "/?mode=string")
    assert (status, json.loads(body)) == (200, "plain words")


@pytest.mark.parametrize("mode", ["raise", "malformed", "badheader", "sleep", "huge"])
def test_errors_timeouts_and_malformed_answers_are_502(server, public, mode):
    status, headers, body = send(server, public[1], "GET", f"/?mode={mode}")
    assert (status, body) == (502, b'{"Message":"Internal Server Error"}')
    assert "set-cookie" not in headers


def test_the_path_form(server, public):
    url_id = urlparse(public[1]).hostname.split(".")[0]
    status, _, body = send(server, server.url, "GET", f"/_lambdabox/urls/{url_id}/deep/er?mode=echo&q=1",
                           host=f"127.0.0.1:{server.port}")
    event = json.loads(body)
    assert status == 200 and event["rawPath"] == "/deep/er" and event["queryStringParameters"]["q"] == "1"


def test_curl_reaches_the_host_form(public):
    answer = subprocess.run(["curl", "-sS", "-i", public[1] + "?mode=bare"], capture_output=True, text=True, timeout=60)
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.startswith("HTTP/1.1 200") and answer.stdout.rstrip().endswith('{"hello": "world"}')


def test_spoofed_and_unknown_hosts_do_not_reach_a_function(server, public):
    host = urlparse(public[1]).netloc
    url_id = host.split(".")[0]
    for spoofed in (f"{url_id}.lambda-url.us-east-1.localhost.evil.com", f"{url_id}.lambda-url.us-east-1.localhost.evil.com:80",
                    f"x{url_id}.lambda-url.us-east-1.localhost", f"{url_id}.lambda-url.us-east-1.localhostx",
                    f"evil.com/{url_id}.lambda-url.us-east-1.localhost"):
        status, _, body = send(server, public[1], "GET", "/?mode=echo", host=spoofed)
        assert b"requestContext" not in body, spoofed
    # Another region's name for the id, and ids nobody has, are forbidden alike.
    for other in (host.replace("us-east-1", "eu-west-1"), "a" * 32 + ".lambda-url.us-east-1.localhost"):
        assert send(server, public[1], "GET", "/", host=other)[::2] == (403, b'{"Message":"Forbidden"}')
    for path in ("/_lambdabox/urls/" + "b" * 32 + "/", "/_lambdabox/urls/../2015-03-31/functions/",
                 "/_lambdabox/urls/"):
        assert send(server, server.url, "GET", path, host=f"127.0.0.1:{server.port}")[0] == 403


def test_huge_bodies_are_413_and_huge_headers_refused(server, public):
    status, _, body = send(server, public[1], "POST", "/", body=b"x" * (6 * 1024 * 1024 + 1),
                           headers=[("Content-Type", "text/plain")])
    assert (status, body) == (413, b'{"Message":"Request Entity Too Large"}')
    # A body under 6 MB whose event (base64) passes 6 MB is too large as well.
    status, _, _ = send(server, public[1], "POST", "/", body=b"\xff" * (5 * 1024 * 1024),
                        headers=[("Content-Type", "application/octet-stream")])
    assert status == 413
    try:
        status = send(server, public[1], "GET", "/", headers=[("X-Big", "y" * 200_000)])[0]
    except (ConnectionError, http.client.HTTPException):
        status = None
    assert status != 200
    assert send(server, public[1], "GET", "/?mode=bare")[0] == 200


def test_cors(server, lam, deploy):
    name = deploy({"app.py": HANDLER})
    cors = {"AllowOrigins": ["https://good.example"], "AllowMethods": ["GET", "POST"], "AllowHeaders": ["x-custom"],
            "ExposeHeaders": ["x-teapot"], "AllowCredentials": True, "MaxAge": 300}
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE", Cors=cors)["FunctionUrl"]
    make_public(lam, name)
    preflight = [("Origin", "https://good.example"), ("Access-Control-Request-Method", "POST"),
                 ("Access-Control-Request-Headers", "x-custom")]
    status, headers, body = send(server, url, "OPTIONS", "/?mode=raise", headers=preflight)
    assert (status, body) == (200, b"")  # answered by the platform: the function (which raises) never ran
    assert headers["access-control-allow-origin"] == "https://good.example"
    assert headers["access-control-allow-methods"] == "GET,POST"
    assert headers["access-control-allow-headers"] == "x-custom"
    assert headers["access-control-max-age"] == "300" and headers["access-control-allow-credentials"] == "true"
    status, headers, _ = send(server, url, "OPTIONS", "/", headers=[("Origin", "https://evil.example"),
                                                                    ("Access-Control-Request-Method", "POST")])
    assert status == 200 and "access-control-allow-origin" not in headers
    status, headers, _ = send(server, url, "GET", "/?mode=status", headers=[("Origin", "https://good.example")])
    assert status == 418 and headers["access-control-allow-origin"] == "https://good.example"
    assert headers["access-control-expose-headers"] == "x-teapot"
    # The config's headers replace the function's own.
    status, headers, _ = send(server, url, "GET", "/?mode=cors", headers=[("Origin", "https://evil.example")])
    assert status == 200 and "access-control-allow-origin" not in headers


def test_an_alias_url_runs_the_alias(server, lam, deploy):
    name = deploy({"app.py": HANDLER})
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    url = lam.create_function_url_config(FunctionName=name, Qualifier="live", AuthType="NONE")["FunctionUrl"]
    make_public(lam, name)  # on the unqualified function: not the alias's policy
    assert send(server, url, "GET", "/?mode=arn")[0] == 403
    make_public(lam, name, Qualifier="live")
    status, _, body = send(server, url, "GET", "/?mode=arn")
    assert (status, body.decode()) == (200, f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}:live")


def test_aws_iam_urls(server, lam, deploy):
    name = deploy({"app.py": HANDLER})
    url = lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")["FunctionUrl"]
    root = server.root()
    assert send(server, url, "GET", "/?mode=echo")[::2] == (403, b'{"Message":"Forbidden"}')
    status, _, body = send(server, url, "GET", "/?mode=echo", headers=signed(url, "GET", "/?mode=echo", root))
    assert status == 200
    iam = json.loads(body)["requestContext"]["authorizer"]["iam"]
    assert iam["accountId"] == ACCOUNT and iam["accessKey"] == root[0] and iam["userArn"] == f"arn:aws:iam::{ACCOUNT}:root"
    assert json.loads(body)["requestContext"]["accountId"] == ACCOUNT
    wrong = (root[0], "not-the-secret")
    assert send(server, url, "GET", "/?mode=echo", headers=signed(url, "GET", "/?mode=echo", wrong))[0] == 403
    # A signature for another path, or for another service, is refused.
    assert send(server, url, "GET", "/?mode=bare", headers=signed(url, "GET", "/?mode=echo", root))[0] == 403
    assert send(server, url, "GET", "/?mode=echo", headers=signed(url, "GET", "/?mode=echo", root, service="s3"))[0] == 403
    # A signed POST body that was changed on the way is refused.
    headers = signed(url, "POST", "/?mode=echo", root, body=b"original")
    assert send(server, url, "POST", "/?mode=echo", body=b"tampered", headers=headers)[0] == 403
    assert send(server, url, "POST", "/?mode=echo", body=b"original", headers=headers)[0] == 200


def test_another_account_cannot_invoke_an_aws_iam_url_unless_allowed(server, lam, deploy):
    name = deploy({"app.py": HANDLER})
    url = lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")["FunctionUrl"]
    other = server.root(OTHER_ACCOUNT)
    assert send(server, url, "GET", "/?mode=bare", headers=signed(url, "GET", "/?mode=bare", other))[0] == 403
    # lambda:InvokeFunctionUrl alone is not enough: lambda:InvokeFunction is needed too.
    lam.add_permission(FunctionName=name, StatementId="other-url", Action="lambda:InvokeFunctionUrl",
                       Principal=OTHER_ACCOUNT, FunctionUrlAuthType="AWS_IAM")
    assert send(server, url, "GET", "/?mode=bare", headers=signed(url, "GET", "/?mode=bare", other))[0] == 403
    lam.add_permission(FunctionName=name, StatementId="other-invoke", Action="lambda:InvokeFunction", Principal=OTHER_ACCOUNT)
    status, _, body = send(server, url, "GET", "/?mode=bare", headers=signed(url, "GET", "/?mode=bare", other))
    assert (status, json.loads(body)) == (200, {"hello": "world"})
    # A NONE grant does not open an AWS_IAM URL to the anonymous.
    make_public(lam, name)
    assert send(server, url, "GET", "/?mode=bare")[0] == 403


def test_a_throttled_function_answers_429(server, lam, deploy):
    name = deploy({"app.py": HANDLER})
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    make_public(lam, name)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    assert send(server, url, "GET", "/?mode=bare")[::2] == (429, b'{"Message":"Rate Exceeded."}')
    lam.delete_function_concurrency(FunctionName=name)
    assert send(server, url, "GET", "/?mode=bare")[0] == 200


def test_a_deleted_functions_url_is_gone(server, lam, deploy):
    name = deploy({"app.py": HANDLER})
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    make_public(lam, name)
    assert send(server, url, "GET", "/?mode=bare")[0] == 200
    lam.delete_function(FunctionName=name)
    assert send(server, url, "GET", "/?mode=bare")[0] == 403
    # The id's index entry went with that first miss.
    from lambdabox.control.function_urls import FUNCTION_URL_ID
    from lambdabox.store.records import RecordStore

    store = RecordStore(f"sqlite:///{server.data_dir / 'lambdabox.db'}")
    try:
        with store.reading() as records:
            assert records.get(FUNCTION_URL_ID, "", urlparse(url).hostname.split(".")[0]) is None
    finally:
        store.close()


def test_a_response_stream_url_answers_a_buffered_response_as_a_buffered_url_does(server, lam, deploy):
    name = deploy({"app.py": HANDLER})
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE", InvokeMode="RESPONSE_STREAM")["FunctionUrl"]
    make_public(lam, name)
    status, _, body = send(server, url, "GET", "/?mode=status")
    assert (status, body) == (418, b"short and stout")


def test_without_cors_an_options_request_reaches_the_function(server, public):
    status, headers, body = send(server, public[1], "OPTIONS", "/?mode=echo", headers=[
        ("Origin", "https://a.example"), ("Access-Control-Request-Method", "POST")])
    assert status == 200 and json.loads(body)["requestContext"]["http"]["method"] == "OPTIONS"
    assert "access-control-allow-origin" not in headers


def test_with_auth_off_a_none_url_still_needs_its_policy(tmp_path):
    from support import lambda_role, make_zip

    off = Server(tmp_path / "data", extra_args=["--auth", "off"]).start()
    try:
        client = off.client("lambda")
        client.create_function(FunctionName="f", Runtime="python3.12", Role=lambda_role(off, "r"), Handler="app.handler",
                               Code={"ZipFile": make_zip({"app.py": HANDLER})})
        client.get_waiter("function_active_v2").wait(FunctionName="f")
        url = client.create_function_url_config(FunctionName="f", AuthType="NONE")["FunctionUrl"]
        assert send(off, url, "GET", "/?mode=bare")[0] == 403
        make_public(client, "f")
        assert send(off, url, "GET", "/?mode=bare")[0] == 200
    finally:
        off.stop()


def test_a_user_needs_both_actions_with_the_auth_type_condition(server, lam, deploy):
    name = deploy({"app.py": HANDLER})
    url = lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")["FunctionUrl"]
    iam = server.client("iam")
    user = f"urluser-{int(time.time() * 1000) % 10**9}"
    iam.create_user(UserName=user)
    created = iam.create_access_key(UserName=user)["AccessKey"]
    key = (created["AccessKeyId"], created["SecretAccessKey"])
    function = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"

    def put(*statements):
        iam.put_user_policy(UserName=user, PolicyName="p",
                            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": list(statements)}))

    def status() -> int:
        return send(server, url, "GET", "/?mode=bare", headers=signed(url, "GET", "/?mode=bare", key))[0]

    assert status() == 403
    # The config API is gated like every other operation.
    as_user = server.client("lambda", credentials=key)
    with pytest.raises(Exception) as raised:
        as_user.get_function_url_config(FunctionName=name)
    assert raised.value.response["Error"]["Code"] == "AccessDeniedException"
    url_only = {"Effect": "Allow", "Action": "lambda:InvokeFunctionUrl", "Resource": function,
                "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}}}
    put(url_only)
    assert status() == 403
    wrong_type = dict(url_only, Condition={"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}})
    invoke = {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": function,
              "Condition": {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}}
    put(wrong_type, invoke)
    assert status() == 403
    put(url_only, invoke)
    assert status() == 200
    # An invoke through the API is not "via a function URL": the Bool condition keeps it out.
    with pytest.raises(Exception) as raised:
        as_user.invoke(FunctionName=name)
    assert raised.value.response["Error"]["Code"] == "AccessDeniedException"


def test_a_chunked_body_without_a_length_is_cut_at_6_mb(server, public):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        chunks = (b"x" * (1024 * 1024) for _ in range(7))
        connection.request("POST", "/?mode=bare", body=chunks, encode_chunked=True,
                           headers={"Host": urlparse(public[1]).netloc, "Content-Type": "text/plain"})
        answer = connection.getresponse()
        assert (answer.status, answer.read()) == (413, b'{"Message":"Request Entity Too Large"}')
    finally:
        connection.close()
    assert send(server, public[1], "GET", "/?mode=bare")[0] == 200
