"""A model-driven fuzz test: bad input never gets a 5xx, never logs an internal error, never corrupts state.

Every Lambda, IAM and STS operation in botocore's service models, and every CloudWatch Logs operation
Lambdabox serves, is called with inputs that
hypothesis builds from the operation's input shape: structures with members missing, unknown
or of the wrong type; lists and maps; strings of odd Unicode (lone surrogates, controls,
private use), of the right names, and too long; numbers huge and negative; blobs. They go
through a botocore client with `parameter_validation=False`, so the server's checks are what
is tested. What botocore cannot express goes as raw HTTP: malformed and 1,000-deep JSON,
5,000-digit integers, bodies cut short, connections dropped mid-body, huge headers.

After each request: no 5xx (save 501 for unserved operations); at the end, no traceback or
internal error in the server's log, and everything stored still reads back whole.

The run is bounded (about a minute or two on two cores) and deterministic: hypothesis is
derandomized with no example database. The server is the fuzz test's own, with real sandboxes,
and a memory cap so that fuzzed provisioned-concurrency configs cannot start hundreds of them.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.session
from botocore import xform_name
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, HTTPClientError, ReadTimeoutError
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.model import OperationModel, Shape
from botocore.parsers import ResponseParserError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support import ACCOUNT, REGION, Server, make_zip
from wire import hang_up_mid_body, log_alarms

#: Multiplies every example count: LAMBDABOX_FUZZ_SCALE=10 for a long hunt by hand; CI runs 1.
SCALE = float(os.environ.get("LAMBDABOX_FUZZ_SCALE", "1"))
#: Examples per operation, by service: Lambda's are the ones that reach tenant code.
EXAMPLES = {service: int(count * SCALE) for service, count in {"lambda": 80, "iam": 20, "sts": 20, "logs": 30}.items()}
#: Examples of raw HTTP requests.
RAW_EXAMPLES = int(1500 * SCALE)
#: Nesting of generated structures past which optional members are left out (IAM's shapes do not recurse, but stay safe).
MAX_SHAPE_DEPTH = 5
#: Statuses a fuzzed request may get besides 2xx-4xx: 501 for operations Lambdabox does not serve.
ALLOWED_5XX = {501}

#: LAMBDABOX_FUZZ_RANDOM=1 draws fresh examples on each run (a hunt by hand); CI's runs are derandomized.
RANDOM = os.environ.get("LAMBDABOX_FUZZ_RANDOM") == "1"


def fuzz_settings(examples: int) -> settings:
    """Deterministic and bounded: derandomized, no example database, no per-example deadline."""
    return settings(
        max_examples=examples, derandomize=not RANDOM, database=None, deadline=None,
        suppress_health_check=list(HealthCheck), print_blob=False,
    )

MODELS = {name: botocore.session.get_session().get_service_model(name) for name in ("lambda", "iam", "sts", "logs")}

# -- the server and what is stored in it -----------------------------------------------------

FUNCTION, LAYER, ROLE, POLICY = "fuzz-fn", "fuzz-layer", "fuzz-role", "fuzz-policy"
TRUST = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},'
    '"Action":"sts:AssumeRole"}]}'
)
PERMISSIONS = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"logs:*","Resource":"*"}]}'
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{ROLE}"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTION}"
LAYER_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{LAYER}"
POLICY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/{POLICY}"
LOG_GROUP, LOG_STREAM = "/fuzz/group", "fuzz-stream"
LOG_GROUP_ARN = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{LOG_GROUP}"

#: Strings that name what is stored, so that fuzzed calls reach real resources, not only 404s.
KNOWN = [
    FUNCTION, FUNCTION_ARN, f"{FUNCTION_ARN}:1", f"{FUNCTION_ARN}:live", "live", "1", "2", "$LATEST",
    LAYER, LAYER_ARN, f"{LAYER_ARN}:1", ROLE, ROLE_ARN, POLICY, POLICY_ARN,
    LOG_GROUP, LOG_GROUP_ARN, f"{LOG_GROUP_ARN}:*", LOG_STREAM, '{ $.a = "*" }', "[a, ..., b=1*]", "?x -y",
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole", "python3.12", "nodejs20.x",
    "app.handler", TRUST, PERMISSIONS, "{}", "[]", "RequestResponse", "Event", "DryRun", "Tail",
]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The fuzz test's own server (real sandboxes, 1 GB memory cap), with one of each resource stored."""
    server = Server(tmp_path_factory.mktemp("fuzz") / "data", extra_args=["--memory-cap", "1024"]).start()
    iam = server.client("iam")
    iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=TRUST)
    iam.create_policy(PolicyName=POLICY, PolicyDocument=PERMISSIONS)
    iam.attach_role_policy(RoleName=ROLE, PolicyArn=POLICY_ARN)
    iam.put_role_policy(RoleName=ROLE, PolicyName="inline", PolicyDocument=PERMISSIONS)
    lam = server.client("lambda")
    lam.publish_layer_version(LayerName=LAYER, Content={"ZipFile": make_zip({"python/x.py": "X = 1\n"})})
    lam.create_function(
        FunctionName=FUNCTION, Runtime="python3.12", Role=ROLE_ARN, Handler="app.handler",
        Code={"ZipFile": make_zip()}, Layers=[f"{LAYER_ARN}:1"], Tags={"k": "v"},
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=FUNCTION, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    lam.publish_version(FunctionName=FUNCTION)
    lam.create_alias(FunctionName=FUNCTION, Name="live", FunctionVersion="1")
    logs = server.client("logs")
    logs.create_log_group(logGroupName=LOG_GROUP)
    logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=LOG_STREAM)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tally() -> Counter:
    """Requests sent, by kind; reported by the last test."""
    return Counter()


def fuzz_client(server: Server, service: str):
    return server.client(service, config=Config(parameter_validation=False))


# -- strategies built from the service models -----------------------------------------------------

#: Characters that break naive code: controls, lone surrogates, private use, bidi marks, non-ASCII digits.
ODD_CHARACTERS = st.characters(exclude_categories=())
ODD_TEXT = st.one_of(
    st.text(ODD_CHARACTERS, max_size=40),
    st.sampled_from(["", " ", "\x00", "../../etc/passwd", "a/b", "%2F", "\ud800", "\u202e", "٣", "²", "𝟘", "a" * 300]),
)
HUGE_INTEGERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([-1, 0, 2**31, -(2**31) - 1, 2**63, 10**18]),
)
#: A value of any JSON type, for wrong-type members.
ANY_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=8,
)


DEEP = 1000
HUGE_DIGITS = "9" * 5000
#: Text that is JSON of hostile shape, for string members that carry documents or payloads.
NASTY_TEXT = [
    "[" * DEEP + "]" * DEEP,
    '{"a":' * DEEP + "1" + "}" * DEEP,
    TRUST.replace('"sts:AssumeRole"', '"sts:AssumeRole","Condition":' + "[" * DEEP + "]" * DEEP),
    PERMISSIONS.replace('"*"}', '"*","Condition":{"x":' + HUGE_DIGITS + "}}"),
    HUGE_DIGITS,
    "-" + HUGE_DIGITS,
    "[" * DEEP,
    '{"Statement":' + '{"a":' * 70 + "1" + "}" * 71,
]
#: Names no earlier example used, that pass most name patterns: creates go through to the store.
FRESH_NAMES = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12).map(lambda text: "fz" + text)


def string_strategy(member: str, shape: Shape) -> st.SearchStrategy[str]:
    """Strings for a member: its enum, names of stored things, fresh names, odd text, hostile JSON."""
    choices = [st.sampled_from(KNOWN), ODD_TEXT, FRESH_NAMES, st.sampled_from(NASTY_TEXT)]
    if member.endswith(("Document", "Payload", "Policy")):
        choices = [st.sampled_from([TRUST, PERMISSIONS]), st.sampled_from(NASTY_TEXT), *choices]
    if "enum" in shape.metadata:
        choices.insert(0, st.sampled_from(shape.metadata["enum"]))
    return st.one_of(*choices)


def scalar_strategy(shape: Shape, member: str = "") -> st.SearchStrategy[Any]:
    kind, meta = shape.type_name, shape.metadata
    if kind == "string":
        return string_strategy(member, shape)
    if kind in ("integer", "long"):
        low, high = meta.get("min"), meta.get("max")
        fair = st.integers(min_value=int(low) if low is not None else None, max_value=int(high) if high is not None else None)
        return st.one_of(fair, HUGE_INTEGERS)
    if kind in ("float", "double"):
        return st.one_of(st.floats(allow_nan=False, allow_infinity=False), HUGE_INTEGERS)
    if kind == "boolean":
        return st.booleans()
    if kind == "blob":
        nasty = st.sampled_from(NASTY_TEXT).map(str.encode)
        return st.one_of(st.binary(max_size=64), st.just(make_zip()), nasty, st.sampled_from([b"{}", b'{"k": "v"}']))
    if kind == "timestamp":
        return st.one_of(st.datetimes(), st.integers(min_value=-(2**40), max_value=2**40))
    return ANY_JSON


def shape_strategy(shape: Shape, depth: int = 0, member: str = "") -> st.SearchStrategy[Any]:
    """Values for `shape` (the type of `member`): mostly of its type, sometimes of another (one in eight)."""
    kind = shape.type_name
    if kind == "structure":
        members = shape.members
        required = set(shape.metadata.get("required", []))
        optional = {} if depth >= MAX_SHAPE_DEPTH else {
            name: shape_strategy(item, depth + 1, name) for name, item in members.items() if name not in required
        }
        typed = st.fixed_dictionaries(
            {name: shape_strategy(members[name], depth + 1, name) for name in required if name in members},
            optional=optional,
        )
    elif kind == "list":
        typed = st.lists(shape_strategy(shape.member, depth + 1, member), max_size=3)
    elif kind == "map":
        typed = st.dictionaries(scalar_strategy(shape.key), shape_strategy(shape.value, depth + 1, member), max_size=3)
    else:
        typed = scalar_strategy(shape, member)
    return st.one_of(typed, typed, typed, typed, typed, typed, typed, ANY_JSON)


def operation_input(operation: OperationModel) -> st.SearchStrategy[dict[str, Any]]:
    if operation.input_shape is None:
        return st.just({})
    return shape_strategy(operation.input_shape).filter(lambda value: isinstance(value, dict))


def call_model_operation(client, operation: OperationModel, arguments: dict[str, Any]) -> int | None:
    """Send one call; its HTTP status, or None when botocore itself could not serialize the input."""
    method = getattr(client, xform_name(operation.name))
    try:
        response = method(**arguments)
    except ClientError as error:
        return error.response["ResponseMetadata"]["HTTPStatusCode"]
    except (BotoConnectionError, ConnectionClosedError, ReadTimeoutError, ResponseParserError):
        raise  # the server hung up, hung, or answered what botocore cannot read: a finding
    except HTTPClientError as error:
        # http.client refused a header value (a newline, say) or a body before sending: not the server's doing.
        if isinstance(error.kwargs.get("error"), (ValueError, TypeError)):
            return None
        raise
    except Exception:  # noqa: BLE001 - botocore's serializer could not express this input (a surrogate in a header...)
        return None
    body = response.get("Payload")
    if body is not None:
        body.read()
    return response["ResponseMetadata"]["HTTPStatusCode"]


def check_status(status: int | None, what: str) -> None:
    if status is None:
        return
    assert status < 500 or status in ALLOWED_5XX, f"{what} answered {status}"


# -- model-driven fuzzing ---------------------------------------------------------------------------


def operations(service: str) -> list[str]:
    if service == "logs":
        from lambdabox.access.logs_actions import SERVED

        return sorted(SERVED)  # the others answer UnknownOperationException alike
    return list(MODELS[service].operation_names)


@pytest.mark.parametrize(
    "service, name", [(service, name) for service in ("lambda", "iam", "sts", "logs") for name in operations(service)]
)
def test_every_operation_with_model_driven_input(fuzzed, tally, service, name):
    operation = MODELS[service].operation_model(name)
    client = fuzz_client(fuzzed, service)

    @fuzz_settings(EXAMPLES[service])
    @given(arguments=operation_input(operation))
    def run(arguments: dict[str, Any]) -> None:
        status = call_model_operation(client, operation, arguments)
        tally[service] += status is not None
        check_status(status, f"{service} {name}({_short(arguments)})")

    run()


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 2000 else text[:2000] + "..."


# -- raw HTTP: what a client library cannot express ----------------------------------------------------

#: Bodies no botocore client sends.
RAW_BODIES = st.one_of(
    st.sampled_from([
        b"", b"{", b"}", b"[", b"null", b"[]", b'"x"', b"{\"FunctionName\":", b"\xff\xfe\x00", b"\xef\xbb\xbf{}",
        b"[" * DEEP + b"]" * DEEP, b'{"a":' * DEEP + b"1" + b"}" * DEEP, b"[" * DEEP, b"{" * DEEP,
        ("{\"MemorySize\":" + HUGE_DIGITS + "}").encode(), ("[" + HUGE_DIGITS + "]").encode(),
        ("{\"Timeout\":1e" + HUGE_DIGITS + "}").encode(), b'{"FunctionName":"\\ud800"}', b'{"Tags":{"\\u0000":"\\udfff"}}',
        b"NaN", b"-Infinity", b'{"MemorySize":NaN}', b'{"Description":"' + b"x" * 70_000 + b'"}',
        b'{"Name":"n","FunctionVersion":"1","RoutingConfig":{"AdditionalVersionWeights":{"1":NaN}}}',
    ]),
    st.binary(max_size=64),
    ANY_JSON.map(lambda value: json.dumps(value).encode()),
    st.builds(
        lambda key, value: json.dumps({key: value}).encode(),
        st.sampled_from(["FunctionName", "Role", "Runtime", "Code", "Environment", "MemorySize", "Layers", "Tags"]),
        ANY_JSON,
    ),
)
#: Paths of Lambda's routes with labels filled in, and Lambdabox's own routes with odd query parameters.
RAW_PATHS = st.one_of(
    st.sampled_from(MODELS["lambda"].operation_names).flatmap(
        lambda name: st.builds(
            lambda text: MODELS["lambda"].operation_model(name).http["requestUri"].replace("{", "").replace("}", "")
            .replace("FunctionName", text).replace("Qualifier", "1").replace("Resource", FUNCTION_ARN),
            st.sampled_from([FUNCTION, "missing", "%ff", "%00", "a%2Fb", "x" * 300]),
        )
    ),
    st.builds(
        lambda route, value: route + value,
        st.sampled_from([
            "/_lambdabox/invocations?function=fuzz-fn&limit=", "/_lambdabox/logs/fuzz-fn?since=",
            "/_lambdabox/logs/" + "g" * 300 + "?since=", "/_lambdabox/invocations?function=" + "f" * 300 + "&limit=",
            "/_lambdabox/archives/abc?signature=%C3%A9&expires=", "/_lambdabox/invocations/",
            "/2015-03-31/functions/?MaxItems=", "/2018-10-31/layers/fuzz-layer/versions/",
            "/2015-03-31/functions/fuzz-fn/invocations?Qualifier=",
        ]),
        st.sampled_from([HUGE_DIGITS, "-1", "%C2%B2", "1_0", "%00", "1e9", "99999999999999999999"]),
    ),
)
RAW_HEADERS = st.fixed_dictionaries({}, optional={
    "X-Amz-Client-Context": st.sampled_from(["%%%", "e30=", "W10=", "x" * 8000]),
    "X-Amz-Invocation-Type": st.sampled_from(["Event", "DryRun", "Nope", ""]),
    "X-Amz-Log-Type": st.sampled_from(["Tail", "None", "\x7f"]),
    "Content-Type": st.sampled_from(["application/json", "text/plain", "multipart/form-data; boundary=x"]),
    "X-Huge": st.sampled_from(["y" * 4000, "y" * 100_000]),
    "X-Amzn-Trace-Id": st.sampled_from(["Root=1-2-3;Lineage=" + HUGE_DIGITS[:50] + ":x", "Lineage=" + HUGE_DIGITS, "x"]),
})


def raw_request(server: Server, method: str, path: str, body: bytes, headers: dict[str, str], service: str) -> int | None:
    """One request over a fresh connection, signed; its status, or None when the HTTP layer refused it and hung up."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        signed = server.signed(method, path, body, {**headers, "Content-Length": str(len(body))}, service)
        for key, value in signed.items():
            connection.putheader(key, value)
        connection.endheaders(body)
        return connection.getresponse().status
    except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
        return None
    finally:
        connection.close()


@fuzz_settings(RAW_EXAMPLES)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    path=RAW_PATHS,
    body=RAW_BODIES,
    headers=RAW_HEADERS,
)
def test_raw_lambda_requests(fuzzed, tally, method, path, body, headers):
    status = raw_request(fuzzed, method, path, body, headers, "lambda")
    tally["raw"] += 1
    check_status(status, f"{method} {path[:200]} {body[:200]!r} {sorted(headers)}")


QUERY_FORMS = st.builds(
    lambda action, version, pairs: "&".join([f"Action={action}", f"Version={version}", *pairs]).encode(),
    st.sampled_from(MODELS["iam"].operation_names + MODELS["sts"].operation_names + ["", "Nope"]),
    st.sampled_from(["2010-05-08", "2011-06-15", "", "1"]),
    st.lists(
        st.sampled_from([
            f"RoleName={ROLE}", "RoleName=%ED%A0%80", f"PolicyArn={POLICY_ARN}", "MaxItems=" + HUGE_DIGITS, "MaxItems=%C2%B2",
            "PolicyDocument=" + "%5B" * DEEP + "%5D" * DEEP, "AssumeRolePolicyDocument=" + "%7B%22a%22%3A" * DEEP + "1" + "%7D" * DEEP,
            f"Tags.member.{HUGE_DIGITS}.Key=k", "Tags.member.1.Key=k", "PolicyName=inline", "Marker=%00", "Path=/%FF/",
            "DurationSeconds=" + HUGE_DIGITS, "AssumeRolePolicyDocument=%FF%FE", "PolicyDocument=" + "9" * 5000,
        ]),
        max_size=4,
    ),
)


@fuzz_settings(RAW_EXAMPLES // 2)
@given(service=st.sampled_from(["iam", "sts"]), form=QUERY_FORMS)
def test_raw_query_requests(fuzzed, tally, service, form):
    status = raw_request(fuzzed, "POST", "/", form, {"Content-Type": "application/x-www-form-urlencoded"}, service)
    tally["raw"] += 1
    check_status(status, f"{service} {form[:300]!r}")


def test_truncated_bodies_and_hang_ups(fuzzed, tally):
    """Bodies that end before their Content-Length, on every kind of route, then a hang-up."""
    for path, service in [
        ("/2015-03-31/functions", "lambda"),
        (f"/2015-03-31/functions/{FUNCTION}/invocations", "lambda"),
        (f"/2015-03-31/functions/{FUNCTION}/code", "lambda"),
        ("/2018-10-31/layers/fuzz-layer/versions", "lambda"),
        ("/", "iam"),
        ("/", "sts"),
    ]:
        for sent in (b"", b"{", b'{"ZipFile":"UEsDB', b"Action=CreateRole&RoleName=cut"):
            hang_up_mid_body(fuzzed, "PUT" if path.endswith("/code") else "POST", path, 1_000_000, sent, service)
            tally["raw"] += 1
    # Headers past what the HTTP layer takes, and a request line of 100 KB: refused without a 5xx, or hung up on.
    for head in (b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\n\r\n", b"GET / HTTP/1.1\r\nX: " + b"b" * 200_000 + b"\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", fuzzed.port), timeout=30) as sock:
            try:
                sock.sendall(head)
                answer = sock.recv(100)
            except (ConnectionResetError, BrokenPipeError):
                answer = b""
        tally["raw"] += 1
        if answer:
            assert int(answer.split()[1]) < 500, answer


# -- valid requests with one hostile member, then an invoke on the sandboxed path ------------------------

#: Characters that survive most patterns yet break what runs processes or writes files and logs.
SPLICED = ["\x00", "\ud800", "\n", "\u0085", "\u2028", "\u202e", "/", "..", "%", "=", "$", "\\", "\x7f", "é", "𝟘"]


def create_template(name: str) -> dict[str, Any]:
    return {
        "FunctionName": name, "Runtime": "python3.12", "Role": ROLE_ARN, "Handler": "app.handler",
        "Code": {"ZipFile": make_zip()}, "Environment": {"Variables": {"AB": "value"}}, "Description": "fuzzed",
        "Timeout": 3, "MemorySize": 128, "Tags": {"key": "value"}, "Layers": [f"{LAYER_ARN}:1"],
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"}, "EphemeralStorage": {"Size": 512},
    }


#: Where a hostile value goes in a CreateFunction request.
CREATE_PATHS = [
    ("FunctionName",), ("Handler",), ("Description",), ("Runtime",), ("Role",), ("Timeout",), ("MemorySize",),
    ("Environment", "Variables", "AB"), ("Environment", "Variables"), ("Tags", "key"), ("Tags",), ("Layers", 0),
    ("LoggingConfig", "LogGroup"), ("LoggingConfig", "LogFormat"), ("EphemeralStorage", "Size"), ("Code", "ZipFile"),
]


def hostile_value(original: Any) -> st.SearchStrategy[Any]:
    """A value to put where `original` was: it with an odd character spliced in, or something else entirely."""
    choices: list[st.SearchStrategy[Any]] = [ODD_TEXT, st.sampled_from(NASTY_TEXT), HUGE_INTEGERS, ANY_JSON]
    if isinstance(original, str):
        spliced = st.builds(
            lambda at, odd: original[: at % (len(original) + 1)] + odd + original[at % (len(original) + 1):],
            st.integers(min_value=0, max_value=200), st.sampled_from(SPLICED),
        )
        longer = st.integers(min_value=1, max_value=600).map(lambda extra: original + "x" * extra)
        choices = [spliced, spliced, longer, *choices]
    if isinstance(original, bytes):
        choices = [st.sampled_from([b"", b"PK", make_zip({"app.py": "def handler(e, c):\n    return e\n"})]), *choices]
    return st.one_of(*choices)


def replaced(request: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """`request` with the value at `path` replaced (a deep copy, so the template is untouched)."""
    import copy

    out = copy.deepcopy(request)
    holder = out
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = value
    return out


@fuzz_settings(int(200 * SCALE))
@given(data=st.data(), path=st.sampled_from(CREATE_PATHS), number=st.integers(min_value=0, max_value=10**9))
def test_create_with_one_hostile_member_then_invoke(fuzzed, tally, data, path, number):
    lam = fuzz_client(fuzzed, "lambda")
    name = f"fz-create-{number}"
    template = create_template(name)
    original: Any = template
    for step in path:
        original = original[step]
    request = data.draw(hostile_value(original).map(lambda value: replaced(template, path, value)), label="request")
    status = call_model_operation(lam, MODELS["lambda"].operation_model("CreateFunction"), request)
    tally["lambda"] += status is not None
    check_status(status, f"CreateFunction({_short(request)})")
    if status != 201:
        return
    created = request["FunctionName"]
    try:
        lam.get_waiter("function_active_v2").wait(FunctionName=created, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
        for invocation_type in ("RequestResponse", "Event"):
            status = call_model_operation(
                lam, MODELS["lambda"].operation_model("Invoke"),
                {"FunctionName": created, "Payload": b"{}", "InvocationType": invocation_type},
            )
            tally["sandboxed"] += 1
            check_status(status, f"Invoke of a function created with {_short(request)}")
    finally:
        lam.delete_function(FunctionName=created)


@fuzz_settings(int(120 * SCALE))
@given(data=st.data(), path=st.sampled_from([p for p in CREATE_PATHS if p[0] not in ("FunctionName", "Code", "Tags")]))
def test_update_configuration_with_one_hostile_member_then_invoke(fuzzed, tally, data, path):
    lam = fuzz_client(fuzzed, "lambda")
    name = "fz-update-target"
    if call_model_operation(lam, MODELS["lambda"].operation_model("GetFunction"), {"FunctionName": name}) == 404:
        lam.create_function(**create_template(name))
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    template = {key: value for key, value in create_template(name).items() if key not in ("Code", "Tags")}
    original: Any = template
    for step in path:
        original = original[step]
    request = data.draw(hostile_value(original).map(lambda value: replaced(template, path, value)), label="request")
    status = call_model_operation(lam, MODELS["lambda"].operation_model("UpdateFunctionConfiguration"), request)
    tally["lambda"] += status is not None
    check_status(status, f"UpdateFunctionConfiguration({_short(request)})")
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100})
    status = call_model_operation(lam, MODELS["lambda"].operation_model("Invoke"), {"FunctionName": name, "Payload": b"{}"})
    tally["sandboxed"] += 1
    check_status(status, f"Invoke after UpdateFunctionConfiguration({_short(request)})")


#: Valid IAM requests (by operation), each made hostile in one member at a time.
IAM_TEMPLATES: dict[str, dict[str, Any]] = {
    "CreateRole": {
        "RoleName": "fz-role", "AssumeRolePolicyDocument": TRUST, "Path": "/fuzz/", "Description": "fuzzed",
        "MaxSessionDuration": 3600, "Tags": [{"Key": "key", "Value": "value"}],
    },
    "CreatePolicy": {"PolicyName": "fz-policy", "PolicyDocument": PERMISSIONS, "Path": "/fuzz/", "Description": "d"},
    "PutRolePolicy": {"RoleName": ROLE, "PolicyName": "fz-inline", "PolicyDocument": PERMISSIONS},
    "UpdateAssumeRolePolicy": {"RoleName": ROLE, "PolicyDocument": TRUST},
    "UpdateRole": {"RoleName": ROLE, "Description": "d", "MaxSessionDuration": 3600},
    "ListRoles": {"PathPrefix": "/", "MaxItems": 10},
}


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a leaf, and to each container, in a request."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


IAM_MUTATIONS = [(operation, path) for operation, template in IAM_TEMPLATES.items() for path in _paths(template)]


@fuzz_settings(int(150 * SCALE))
@given(data=st.data(), mutation=st.sampled_from(IAM_MUTATIONS))
def test_iam_requests_with_one_hostile_member(fuzzed, tally, data, mutation):
    operation, path = mutation
    template = IAM_TEMPLATES[operation]
    original: Any = template
    for step in path:
        original = original[step]
    request = data.draw(hostile_value(original).map(lambda value: replaced(template, path, value)), label="request")
    iam = fuzz_client(fuzzed, "iam")
    status = call_model_operation(iam, MODELS["iam"].operation_model(operation), request)
    tally["iam"] += status is not None
    check_status(status, f"{operation}({_short(request)})")
    if operation == "CreateRole" and status == 200:
        check_status(call_model_operation(iam, MODELS["iam"].operation_model("GetRole"), {"RoleName": request["RoleName"]}), "GetRole")
        iam.delete_role(RoleName=request["RoleName"])
    if operation == "CreatePolicy" and status == 200:
        check_status(call_model_operation(iam, MODELS["iam"].operation_model("ListPolicies"), {"Scope": "Local"}), "ListPolicies")


def test_invokes_on_the_sandboxed_path(fuzzed, tally):
    """Hostile payloads to a function in a real sandbox: each answered, none a 5xx."""
    lam = fuzzed.client("lambda")
    name = "fuzz-sandboxed"
    lam.create_function(
        FunctionName=name, Runtime="python3.12", Role=ROLE_ARN, Handler="app.handler", Code={"ZipFile": make_zip()},
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    answers = []
    for payload in [b'{"x": 1}', *(text.encode() for text in NASTY_TEXT if not text.startswith("[" * 2) or text.endswith("]")),
                    ('"' + "\\ud800" * 10 + '"').encode(), b'"' + "é".encode() * 1000 + b'"']:
        try:
            response = lam.invoke(FunctionName=name, Payload=payload)
            answers.append(response["StatusCode"])
            response["Payload"].read()
        except ClientError as error:
            answers.append(error.response["ResponseMetadata"]["HTTPStatusCode"])
        tally["sandboxed"] += 1
    assert answers[0] == 200
    assert all(status < 500 for status in answers), answers


# -- afterwards -------------------------------------------------------------------------------------


def test_everything_stored_reads_back_whole(fuzzed, tally):
    """Runs last: whatever the fuzzing left stored lists and reads back without error."""
    lam, iam = fuzzed.client("lambda"), fuzzed.client("iam")
    functions = [f for page in lam.get_paginator("list_functions").paginate() for f in page["Functions"]]
    for function in functions:
        name = function["FunctionName"]
        lam.get_function(FunctionName=name)
        for version in [v for page in lam.get_paginator("list_versions_by_function").paginate(FunctionName=name) for v in page["Versions"]]:
            lam.get_function_configuration(FunctionName=name, Qualifier=version["Version"])
        for alias in [a for page in lam.get_paginator("list_aliases").paginate(FunctionName=name) for a in page["Aliases"]]:
            lam.get_alias(FunctionName=name, Name=alias["Name"])
        lam.list_tags(Resource=function["FunctionArn"])
    layers = [layer for page in lam.get_paginator("list_layers").paginate() for layer in page["Layers"]]
    for layer in layers:
        for version in [v for page in lam.get_paginator("list_layer_versions").paginate(LayerName=layer["LayerName"]) for v in page["LayerVersions"]]:
            lam.get_layer_version_by_arn(Arn=version["LayerVersionArn"])
    roles = [role for page in iam.get_paginator("list_roles").paginate() for role in page["Roles"]]
    for role in roles:
        iam.get_role(RoleName=role["RoleName"])
        for policy in [p for page in iam.get_paginator("list_role_policies").paginate(RoleName=role["RoleName"]) for p in page["PolicyNames"]]:
            iam.get_role_policy(RoleName=role["RoleName"], PolicyName=policy)
        iam.list_attached_role_policies(RoleName=role["RoleName"])
    for policy in [p for page in iam.get_paginator("list_policies").paginate(Scope="Local") for p in page["Policies"]]:
        iam.get_policy(PolicyArn=policy["Arn"])
    # At least the sandboxed path still works, if the fuzzing left the function alone.
    if any(function["FunctionName"] == FUNCTION for function in functions):
        status = lam.invoke(FunctionName=FUNCTION, Payload=b'{"still": "here"}')["StatusCode"]
        assert status in (200, 429) or status < 500
    assert fuzzed.log is not None
    alarms = log_alarms(Path(fuzzed.log).read_text(errors="replace"))
    assert alarms == [], "\n".join(alarms[:40])
    print(f"\nfuzz requests sent: {sum(tally.values())} ({dict(tally)}); "
          f"{len(functions)} functions, {len(layers)} layers, {len(roles)} roles read back")
