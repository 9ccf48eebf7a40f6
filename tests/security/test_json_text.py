"""Tenant JSON of hostile shape (model/json_text): nested 1,000 deep, numbers of 5,000 digits.

Each is answered as AWS answers it, never with a 5xx, and the server's log shows no
internal error. Payloads and ClientContexts are any JSON Lambda accepts, so deep ones reach
the function; request bodies and IAM policies are refused before anything recurses.
"""

from __future__ import annotations

import base64
import json

import pytest
from botocore.exceptions import ClientError

from support import error_of
from wire import send

DEEP = 1000
DEEP_ARRAYS = "[" * DEEP + "]" * DEEP
DEEP_OBJECTS = '{"a":' * DEEP + "1" + "}" * DEEP
HUGE_NUMBER = "9" * 5000

#: A Node.js handler that measures its event's depth without recursing, and echoes the client context.
DEPTH_PROBE = {
    "index.js": """
exports.handler = async (event, context) => {
  let deepest = 0;
  const stack = [[event, 0]];
  while (stack.length) {
    const [value, depth] = stack.pop();
    if (value !== null && typeof value === "object") {
      deepest = Math.max(deepest, depth + 1);
      for (const child of Object.values(value)) stack.push([child, depth + 1]);
    }
  }
  return { depth: deepest, clientContext: context.clientContext ? "present" : "absent" };
};
"""
}


@pytest.fixture
def depth_probe(deploy) -> str:
    return deploy(DEPTH_PROBE, runtime="nodejs20.x", handler="index.handler")


def trust_policy(condition_value: str) -> str:
    return (
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},'
        f'"Action":"sts:AssumeRole","Condition":{{"StringEquals":{{"aws:SourceAccount":{condition_value}}}}}}}]}}'
    )


# -- IAM policy documents -------------------------------------------------------------------


@pytest.mark.parametrize("value", [DEEP_ARRAYS, DEEP_OBJECTS], ids=["arrays", "objects"])
def test_a_trust_policy_nested_1000_deep_is_malformed(iam, unique, quiet_log, value):
    name = unique("role")
    with pytest.raises(ClientError) as raised:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_policy(value))
    assert error_of(raised) == (400, "MalformedPolicyDocument", "Syntax errors in policy.")
    with pytest.raises(ClientError) as missing:
        iam.get_role(RoleName=name)
    assert error_of(missing)[1] == "NoSuchEntity"


def test_every_policy_operation_refuses_deep_documents(iam, role, unique, quiet_log):
    role_name = role.rsplit("/", 1)[1]
    deep_permissions = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":' + DEEP_ARRAYS + "}]}"
    calls = [
        (iam.create_policy, {"PolicyName": unique("policy"), "PolicyDocument": deep_permissions}),
        (iam.put_role_policy, {"RoleName": role_name, "PolicyName": "deep", "PolicyDocument": deep_permissions}),
        (iam.update_assume_role_policy, {"RoleName": role_name, "PolicyDocument": trust_policy(DEEP_ARRAYS)}),
    ]
    for call, arguments in calls:
        with pytest.raises(ClientError) as raised:
            call(**arguments)
        assert error_of(raised) == (400, "MalformedPolicyDocument", "Syntax errors in policy.")
    assert iam.list_role_policies(RoleName=role_name)["PolicyNames"] == []
    assert "Condition" not in json.dumps(iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"])


def test_a_policy_with_a_5000_digit_number_is_refused(iam, unique, quiet_log):
    with pytest.raises(ClientError) as raised:
        iam.create_role(RoleName=unique("role"), AssumeRolePolicyDocument=trust_policy(HUGE_NUMBER))
    status, code, _ = error_of(raised)
    assert (status, code) == (400, "MalformedPolicyDocument")


# -- Lambda request bodies --------------------------------------------------------------------


@pytest.mark.parametrize("value", [DEEP_ARRAYS, DEEP_OBJECTS], ids=["arrays", "objects"])
def test_a_request_body_nested_1000_deep_is_invalid_content(server, quiet_log, value):
    answer = send(server, "POST", "/2015-03-31/functions", f'{{"FunctionName":"deep","Environment":{value}}}'.encode())
    assert answer.status == 400
    assert answer.headers["x-amzn-ErrorType"] == "InvalidRequestContentException"
    assert answer.json()["message"].startswith("Could not parse request body into json")


def test_a_request_body_with_a_5000_digit_number_is_invalid_content(server, quiet_log):
    answer = send(server, "POST", "/2015-03-31/functions", f'{{"FunctionName":"big","MemorySize":{HUGE_NUMBER}}}'.encode())
    assert answer.status == 400
    assert answer.headers["x-amzn-ErrorType"] == "InvalidRequestContentException"


# -- Invoke payloads and client contexts ----------------------------------------------------------


@pytest.mark.parametrize("payload", [DEEP_ARRAYS, DEEP_OBJECTS], ids=["arrays", "objects"])
def test_a_payload_nested_1000_deep_reaches_the_function(lam, depth_probe, quiet_log, payload):
    response = lam.invoke(FunctionName=depth_probe, Payload=payload.encode())
    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert json.loads(response["Payload"].read()) == {"depth": DEEP, "clientContext": "absent"}


def test_a_payload_with_a_5000_digit_number_is_accepted(lam, depth_probe, create_function, quiet_log):
    response = lam.invoke(FunctionName=depth_probe, Payload=f'{{"n":{HUGE_NUMBER}}}'.encode())
    assert response["StatusCode"] == 200
    assert json.loads(response["Payload"].read())["depth"] == 1
    # The Python runtime cannot read it (a function error, as on AWS); the server answers all the same.
    name = create_function()["FunctionName"]
    python = lam.invoke(FunctionName=name, Payload=f"[{HUGE_NUMBER}]".encode())
    assert python["StatusCode"] == 200


def test_a_python_function_given_a_deep_payload_is_answered(lam, create_function, quiet_log):
    name = create_function()["FunctionName"]
    response = lam.invoke(FunctionName=name, Payload=DEEP_ARRAYS.encode())
    assert response["StatusCode"] == 200


@pytest.mark.parametrize(
    "payload", ["[" * DEEP + "]" * (DEEP - 1), "[" * DEEP + "}" * DEEP, '{"a":' * DEEP + "}" * DEEP],
    ids=["unbalanced", "mismatched", "no-value"],
)
def test_a_deep_payload_that_is_not_json_is_refused(raw_lam, depth_probe, quiet_log, payload):
    with pytest.raises(ClientError) as raised:
        raw_lam.invoke(FunctionName=depth_probe, Payload=payload.encode())
    status, code, message = error_of(raised)
    assert (status, code) == (400, "InvalidRequestContentException")
    assert message.startswith("Could not parse request body into json: Could not parse payload into json")


def test_a_client_context_nested_1000_deep_is_accepted(lam, depth_probe, quiet_log):
    context = base64.b64encode(f'{{"custom":{{"deep":{DEEP_ARRAYS}}}}}'.encode()).decode()
    response = lam.invoke(FunctionName=depth_probe, ClientContext=context, Payload=b"{}")
    assert response["StatusCode"] == 200


@pytest.mark.parametrize(
    "text", [b"[" * DEEP + b"]" * (DEEP - 1), b"\xff\xfe[\x00]\x00", b'"\xed\xa0\x80"'],
    ids=["unbalanced", "utf-16", "lone-surrogate"],
)
def test_a_client_context_that_is_not_utf8_json_is_refused(raw_lam, depth_probe, quiet_log, text):
    with pytest.raises(ClientError) as raised:
        raw_lam.invoke(FunctionName=depth_probe, ClientContext=base64.b64encode(text).decode(), Payload=b"{}")
    assert error_of(raised) == (400, "InvalidRequestContentException", "Client context must be a valid Base64-encoded JSON object.")


# -- NaN and Infinity are not JSON -----------------------------------------------------------------


def test_a_nan_weight_is_not_stored(server, lam, create_function, quiet_log):
    """Python's json reads NaN; stored as an alias weight it came back as a body boto3 cannot parse."""
    name = create_function(Publish=True)["FunctionName"]
    body = b'{"Name":"nan","FunctionVersion":"1","RoutingConfig":{"AdditionalVersionWeights":{"1":NaN}}}'
    answer = send(server, "POST", f"/2015-03-31/functions/{name}/aliases", body)
    assert answer.status == 400
    assert answer.headers["x-amzn-ErrorType"] == "InvalidRequestContentException"
    assert lam.list_aliases(FunctionName=name)["Aliases"] == []


@pytest.mark.parametrize("payload", [b"NaN", b"[Infinity]", b'{"a":-Infinity}', b"[" * DEEP + b"NaN" + b"]" * DEEP])
def test_nan_and_infinity_payloads_are_not_json(raw_lam, depth_probe, quiet_log, payload):
    with pytest.raises(ClientError) as raised:
        raw_lam.invoke(FunctionName=depth_probe, Payload=payload)
    assert error_of(raised)[:2] == (400, "InvalidRequestContentException")
