"""Bad input: each request gets a 4xx shaped like AWS's, stores nothing, and the server keeps serving.

Most requests here are raw HTTP, since boto3 would refuse to send them. They carry a plain
SigV4-looking Authorization header: Lambdabox routes by its credential scope (and does not
verify signatures yet).
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import struct
import threading
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from support import ACCOUNT, REGION, Answer, make_zip

AUTH = (
    "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/lambda/aws4_request, "
    "SignedHeaders=host, Signature=x"
)
FUNCTIONS = "/2015-03-31/functions"

#: Lambda's limits as the fact sheet records them (AWS's own numbers).
CODE_REQUEST_LIMIT = 70_167_211
REQUEST_LIMIT = 6 * 1024 * 1024
UNZIPPED_LIMIT = 262_144_000

UNZIP_FAILED = "Could not unzip uploaded file. Please check your file, then try to upload again."
TOO_BIG_UNZIPPED = f"Unzipped size must be smaller than {UNZIPPED_LIMIT} bytes"
PARSE_FAILED = "Could not parse request body into json"


# -- raw HTTP --------------------------------------------------------------------------


def _headers(extra: dict[str, str] | None) -> dict[str, str]:
    return {"Authorization": AUTH, "Content-Type": "application/json", **(extra or {})}


def send(server, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> Answer:
    """One request, signed as the default account's root."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        signed = server.signed(method, path, body or b"", {"Content-Type": "application/json", **(headers or {})})
        connection.request(method, path, body=body, headers=signed)
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        connection.close()


def send_streaming(server, method: str, path: str, chunks: Iterable[bytes], length: int | None) -> Answer:
    """Send a body while reading the answer, which may come (and the connection close) before the body ends.

    With `length` None the body goes chunked, so only the bytes themselves tell its size.
    """
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    chunked = length is None
    try:
        connection.putrequest(method, path)
        framing = {"Transfer-Encoding": "chunked"} if chunked else {"Content-Length": str(length)}
        for name, value in _headers(framing).items():
            connection.putheader(name, value)
        connection.endheaders()

        def write() -> None:
            try:
                for chunk in chunks:
                    connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
                if chunked:
                    connection.send(b"0\r\n\r\n")
            except OSError:
                pass  # the server answered and hung up before reading it all: expected

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        response = connection.getresponse()
        answer = Answer(response.status, response.headers, response.read())
        writer.join(timeout=30)
        return answer
    finally:
        connection.close()


def assert_refused(answer: Answer, status: int, error_type: str, message: str | None = None) -> str:
    """An AWS-shaped error: status, x-amzn-ErrorType, JSON body with Type and message. Returns the message."""
    assert answer.status == status, answer.body[:500]
    assert answer.headers["x-amzn-ErrorType"] == error_type
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.headers["x-amzn-RequestId"]
    body = answer.json()
    assert body["Type"] == "User"
    assert isinstance(body["message"], str) and body["message"]
    if message is not None:
        assert body["message"] == message
    return body["message"]


def assert_client_refused(raised: pytest.ExceptionInfo[ClientError], status: int, error_type: str) -> str:
    """The same checks on what boto3 parsed. Returns the message."""
    response = raised.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == error_type
    assert response["Error"]["Code"] == error_type
    assert response["Type"] == "User"
    assert response["message"] == response["Error"]["Message"]
    return response["Error"]["Message"]


# -- what must not change --------------------------------------------------------------


def function_names(lam) -> list[str]:
    return sorted(
        function["FunctionName"]
        for page in lam.get_paginator("list_functions").paginate()
        for function in page["Functions"]
    )


def archive_count(server) -> int:
    root = Path(server.data_dir) / "archives"
    return sum(1 for blob in root.rglob("*") if blob.is_file())


@pytest.fixture
def untouched(server, lam):
    """Check, after the test, that no function and no archive appeared and the server still answers."""
    names_before, archives_before = function_names(lam), archive_count(server)
    refused: list[str] = []
    yield refused
    for name in refused:
        with pytest.raises(ClientError) as raised:
            lam.get_function(FunctionName=name)
        assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert function_names(lam) == names_before
    assert archive_count(server) == archives_before


def create_body(name: str, role: str, code: bytes | None = None, **members: Any) -> dict[str, Any]:
    body = {
        "FunctionName": name,
        "Runtime": "python3.12",
        "Role": role,
        "Handler": "app.handler",
        "Code": {"ZipFile": base64.b64encode(code or make_zip()).decode()},
    }
    body.update(members)
    return body


def post_function(server, body: dict[str, Any] | bytes) -> Answer:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return send(server, "POST", FUNCTIONS, raw)


def test_a_well_formed_raw_request_is_accepted(server, lam, role, unique):
    """The control for everything below: the same raw request, well formed, creates a function."""
    name = unique("raw")
    answer = post_function(server, create_body(name, role))
    assert answer.status == 201, answer.body
    assert answer.json()["FunctionArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    lam.get_waiter("function_active_v2").wait(FunctionName=name)


# -- JSON that cannot be read as the request -------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"FunctionName": "x", ',
        b"not json at all",
        b"\x87\x99\xff",
        b"[]",
        b'"a string"',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"MemorySize": 1' + b"0" * 5000 + b"}",
    ],
    ids=["truncated", "text", "not-utf8", "array", "string", "deeply-nested", "huge-number"],
)
def test_malformed_json(server, untouched, body):
    message = assert_refused(post_function(server, body), 400, "InvalidRequestContentException")
    assert message.startswith(PARSE_FAILED)


def test_unknown_top_level_field(server, role, unique, untouched):
    name = unique("bad")
    untouched.append(name)
    message = assert_refused(
        post_function(server, create_body(name, role, Colour="blue")), 400, "InvalidRequestContentException"
    )
    assert message.startswith(PARSE_FAILED)
    assert '"Colour"' in message


@pytest.mark.parametrize(
    "member, value, unknown",
    [
        ("Environment", {"Variables": {"A1": "b"}, "Colour": "blue"}, "Colour"),
        ("TracingConfig", {"Mode": "Active", "Sampling": 1}, "Sampling"),
        ("Code", {"ZipFile": base64.b64encode(make_zip()).decode(), "Bucket": "b"}, "Bucket"),
    ],
)
def test_unknown_nested_field(server, role, unique, untouched, member, value, unknown):
    name = unique("bad")
    untouched.append(name)
    message = assert_refused(
        post_function(server, create_body(name, role, **{member: value})), 400, "InvalidRequestContentException"
    )
    assert message.startswith(PARSE_FAILED)
    assert f'"{unknown}"' in message


@pytest.mark.parametrize(
    "member, value",
    [
        ("MemorySize", "256"),
        ("MemorySize", 256.5),
        ("Timeout", True),
        ("Environment", [{"Variables": {"A1": "b"}}]),
        ("Environment", {"Variables": ["A1=b"]}),
        ("Environment", {"Variables": {"A1": 5}}),
        ("Tags", [{"Key": "a", "Value": "b"}]),
        ("Layers", "arn:aws:lambda:us-east-1:000000000000:layer:x:1"),
        ("Publish", "yes"),
        ("Code", {"ZipFile": 12345}),
        ("Code", {"ZipFile": "this is not base64!"}),
    ],
)
def test_wrong_types(server, role, unique, untouched, member, value):
    name = unique("bad")
    untouched.append(name)
    message = assert_refused(
        post_function(server, create_body(name, role, **{member: value})), 400, "InvalidRequestContentException"
    )
    assert message.startswith(PARSE_FAILED)


# -- bodies past the size limits -------------------------------------------------------


def test_declared_body_past_the_code_request_limit(server, untouched):
    """Refused on its Content-Length alone, before a byte of it is read."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.putrequest("POST", FUNCTIONS)
        for name, value in _headers({"Content-Length": str(CODE_REQUEST_LIMIT + 1)}).items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        answer = Answer(response.status, response.headers, response.read())
    finally:
        connection.close()
    assert_refused(
        answer,
        413,
        "RequestEntityTooLargeException",
        f"Request must be smaller than {CODE_REQUEST_LIMIT} bytes for the CreateFunction operation",
    )


@pytest.fixture
def victim(create_function, lam) -> dict[str, Any]:
    """A function whose configuration must survive the bad update aimed at it."""
    name = create_function()["FunctionName"]
    return lam.get_function_configuration(FunctionName=name)


def _description_body(size: int) -> tuple[bytes, int]:
    body = b'{"Description": "' + b"x" * size + b'"}'
    return body, len(body)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_real_body_past_the_request_limit(server, lam, victim, chunked):
    name = victim["FunctionName"]
    body, length = _description_body(REQUEST_LIMIT + 1024 * 1024)
    chunks = (body[i : i + 256 * 1024] for i in range(0, length, 256 * 1024))

    answer = send_streaming(server, "PUT", f"{FUNCTIONS}/{name}/configuration", chunks, None if chunked else length)

    assert_refused(
        answer,
        413,
        "RequestEntityTooLargeException",
        f"Request must be smaller than {REQUEST_LIMIT} bytes for the UpdateFunctionConfiguration operation",
    )
    after = lam.get_function_configuration(FunctionName=name)
    assert after["RevisionId"] == victim["RevisionId"]
    assert after["Description"] == victim["Description"]


def test_body_just_under_the_request_limit_is_read(server, lam, victim):
    """The limit is the limit: a big body under it is parsed (and then judged on its content)."""
    name = victim["FunctionName"]
    body, _ = _description_body(REQUEST_LIMIT - 1024)
    answer = send(server, "PUT", f"{FUNCTIONS}/{name}/configuration", body)
    message = assert_refused(answer, 400, "ValidationException")
    assert message.endswith(
        "at 'description' failed to satisfy constraint: Member must have length less than or equal to 256"
    )
    assert lam.get_function_configuration(FunctionName=name)["RevisionId"] == victim["RevisionId"]


# -- archives that are not acceptable packages -----------------------------------------


def deflated_zeros(megabytes: int) -> tuple[bytes, int]:
    """Raw deflate data for `megabytes` MiB of zeros and their CRC-32, without deflating them all.

    A full flush ends a block on a byte boundary and forgets the history, so one
    compressed MiB can be repeated; an empty final block closes the stream.
    """
    mebibyte = bytes(1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = compressor.compress(mebibyte) + compressor.flush(zlib.Z_FULL_FLUSH)
    final = zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    crc = 0
    for _ in range(megabytes):
        crc = zlib.crc32(mebibyte, crc)
    return piece * megabytes + final, crc


def zip_of(members: list[tuple[str, bytes, int, int]]) -> bytes:
    """A zip of deflated members (name, deflate data, CRC-32, declared unzipped size), declared as given."""
    out, central = bytearray(), bytearray()
    for name, data, crc, size in members:
        encoded, offset = name.encode(), len(out)
        out += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(data), size, len(encoded), 0)
        out += encoded + data
        central += struct.pack(
            "<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21, crc, len(data), size, len(encoded), 0, 0, 0, 0, 0,
            offset,
        )
        central += encoded
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central), len(out), 0)
    return bytes(out + central + end)


def zip_with_entries(entries: list[zipfile.ZipInfo | str], contents: list[bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return 1\n")
        for entry, content in zip(entries, contents):
            archive.writestr(entry, content)
    return buffer.getvalue()


def symlink(name: str, target: str) -> tuple[zipfile.ZipInfo, str]:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = 0o120777 << 16
    return info, target


def assert_package_refused(create_function, unique, untouched, code: bytes) -> str:
    name = unique("bad")
    untouched.append(name)
    with pytest.raises(ClientError) as raised:
        create_function(FunctionName=name, Code={"ZipFile": code})
    return assert_client_refused(raised, 400, "InvalidParameterValueException")


def test_an_archive_that_is_not_a_zip(create_function, unique, untouched):
    message = assert_package_refused(create_function, unique, untouched, b"this is not a zip archive")
    assert message == UNZIP_FAILED


def test_a_truncated_zip(create_function, unique, untouched):
    code = make_zip({"app.py": "x" * 5000})
    message = assert_package_refused(create_function, unique, untouched, code[: len(code) // 2])
    assert message == UNZIP_FAILED


def test_update_and_layer_with_a_non_zip_store_nothing(server, lam, create_function, unique):
    name = create_function()["FunctionName"]
    before = lam.get_function_configuration(FunctionName=name)
    archives = archive_count(server)

    with pytest.raises(ClientError) as raised:
        lam.update_function_code(FunctionName=name, ZipFile=b"not a zip")
    assert assert_client_refused(raised, 400, "InvalidParameterValueException") == UNZIP_FAILED
    after = lam.get_function_configuration(FunctionName=name)
    assert (after["CodeSha256"], after["RevisionId"]) == (before["CodeSha256"], before["RevisionId"])

    layer = unique("badlayer")
    with pytest.raises(ClientError) as raised:
        lam.publish_layer_version(LayerName=layer, Content={"ZipFile": b"not a zip"})
    assert assert_client_refused(raised, 400, "InvalidParameterValueException") == UNZIP_FAILED
    assert lam.list_layer_versions(LayerName=layer)["LayerVersions"] == []
    assert archive_count(server) == archives


def test_a_zip_bomb_past_the_unzipped_limit(create_function, unique, untouched):
    data, crc = deflated_zeros(300)
    bomb = zip_of([("app.py", b"\x03\x00", 0, 0), ("zeros.bin", data, crc, 300 << 20)])
    assert len(bomb) < 1024 * 1024
    message = assert_package_refused(create_function, unique, untouched, bomb)
    assert message == TOO_BIG_UNZIPPED


def test_many_honest_entries_past_the_unzipped_limit(create_function, unique, untouched):
    data, crc = deflated_zeros(100)
    bomb = zip_of([(f"zeros{i}.bin", data, crc, 100 << 20) for i in range(3)])
    message = assert_package_refused(create_function, unique, untouched, bomb)
    assert message == TOO_BIG_UNZIPPED


def test_a_zip_bomb_as_a_layer(server, lam, unique):
    archives = archive_count(server)
    data, crc = deflated_zeros(300)
    layer = unique("bomb")
    with pytest.raises(ClientError) as raised:
        lam.publish_layer_version(LayerName=layer, Content={"ZipFile": zip_of([("zeros.bin", data, crc, 300 << 20)])})
    assert assert_client_refused(raised, 400, "InvalidParameterValueException") == TOO_BIG_UNZIPPED
    assert lam.list_layer_versions(LayerName=layer)["LayerVersions"] == []
    assert archive_count(server) == archives


def test_a_zip_whose_directory_lies_about_sizes(create_function, unique, untouched):
    """The directory says 1000 bytes; the data inflates to 300 MiB. Whatever the reader does, it is refused."""
    data, crc = deflated_zeros(300)
    liar = zip_of([("app.py", b"\x03\x00", 0, 0), ("zeros.bin", data, crc, 1000)])
    message = assert_package_refused(create_function, unique, untouched, liar)
    assert message.startswith(UNZIP_FAILED) or message == TOO_BIG_UNZIPPED


@pytest.mark.parametrize("entry", ["/etc/cron.d/evil", "/app2.py"])
def test_an_entry_with_an_absolute_path(create_function, unique, untouched, entry):
    message = assert_package_refused(create_function, unique, untouched, zip_with_entries([entry], ["x"]))
    assert message.startswith(UNZIP_FAILED)
    assert entry in message


@pytest.mark.parametrize("entry", ["../evil.py", "lib/../../evil.py", "lib/.."])
def test_an_entry_with_a_dotdot_component(create_function, unique, untouched, entry):
    message = assert_package_refused(create_function, unique, untouched, zip_with_entries([entry], ["x"]))
    assert message.startswith(UNZIP_FAILED)
    assert entry in message


@pytest.mark.parametrize(
    "name, target",
    [("passwd", "../../etc/passwd"), ("lib/up", "../.."), ("lib/abs", "/etc/passwd"), ("lib/sneaky", "x/../../../y")],
)
def test_a_symlink_pointing_outside_the_package(create_function, unique, untouched, name, target):
    entry, content = symlink(name, target)
    message = assert_package_refused(create_function, unique, untouched, zip_with_entries([entry], [content]))
    assert message.startswith(UNZIP_FAILED)
    assert name in message


def test_a_symlink_inside_the_package_is_accepted(lam, create_function):
    inside, target = symlink("lib/handler_link.py", "../app.py")
    sibling, sibling_target = symlink("same_dir.py", "app.py")
    code = zip_with_entries([inside, sibling], [target, sibling_target])

    created = create_function(Code={"ZipFile": code})

    configuration = lam.get_function_configuration(FunctionName=created["FunctionName"])
    assert configuration["State"] == "Active"
    assert configuration["CodeSize"] == len(code)


# -- requests no operation answers -----------------------------------------------------


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/2015-03-31/no-such-thing"),
        ("GET", "/1999-01-01/functions"),
        ("PATCH", FUNCTIONS),
        ("GET", "/"),
    ],
)
def test_unknown_path_is_an_unknown_operation(server, lam, method, path):
    assert_refused(send(server, method, path), 404, "UnknownOperationException")
    lam.list_functions(MaxItems=1)


def test_an_operation_lambdabox_does_not_implement(server, lam):
    with pytest.raises(ClientError) as raised:
        lam.list_code_signing_configs()
    response = raised.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert response["Error"]["Code"] == "NotImplementedException"

    answer = send(server, "GET", "/2020-04-22/code-signing-configs/")
    message = assert_refused(answer, 501, "NotImplementedException")
    assert "ListCodeSigningConfigs" in message
    lam.list_functions(MaxItems=1)
