"""Reserved concurrency and account settings: Put/Get/DeleteFunctionConcurrency, GetAccountSettings."""

from __future__ import annotations

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from support import ACCOUNT, REGION, error_of, make_zip

UNQUALIFIED_ONLY = (
    "This operation is permitted on Lambda functions only. Aliases and versions do not support this operation. "
    "Please specify either a function name or an unqualified function ARN."
)
BELOW_MINIMUM = (
    "Specified ReservedConcurrentExecutions for function decreases account's "
    "UnreservedConcurrentExecution below its minimum value of [100]."
)
TRUST = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
    '"Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
)


def arn_of(name: str, qualifier: str | None = None) -> str:
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def body_of(response: dict) -> dict:
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}


# -- one function's setting ------------------------------------------------------------


def test_put_get_delete_function_concurrency(lam, create_function):
    name = create_function()["FunctionName"]

    unset = lam.get_function_concurrency(FunctionName=name)
    assert unset["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert body_of(unset) == {}
    assert "Concurrency" not in lam.get_function(FunctionName=name)

    put = lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=10)
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert body_of(put) == {"ReservedConcurrentExecutions": 10}
    assert body_of(lam.get_function_concurrency(FunctionName=name)) == {"ReservedConcurrentExecutions": 10}
    assert lam.get_function(FunctionName=name)["Concurrency"] == {"ReservedConcurrentExecutions": 10}

    lam.put_function_concurrency(FunctionName=arn_of(name), ReservedConcurrentExecutions=7)
    assert body_of(lam.get_function_concurrency(FunctionName=arn_of(name))) == {"ReservedConcurrentExecutions": 7}

    deleted = lam.delete_function_concurrency(FunctionName=name)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert body_of(lam.get_function_concurrency(FunctionName=name)) == {}
    assert "Concurrency" not in lam.get_function(FunctionName=name)
    # Deleting again is harmless.
    assert lam.delete_function_concurrency(FunctionName=name)["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_reserving_zero_is_allowed(lam, create_function):
    name = create_function()["FunctionName"]
    assert body_of(lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)) == {
        "ReservedConcurrentExecutions": 0
    }
    assert body_of(lam.get_function_concurrency(FunctionName=name)) == {"ReservedConcurrentExecutions": 0}
    assert lam.get_function(FunctionName=name)["Concurrency"] == {"ReservedConcurrentExecutions": 0}


def test_concurrency_does_not_change_the_configuration(lam, create_function):
    name = create_function()["FunctionName"]
    before = body_of(lam.get_function_configuration(FunctionName=name))
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=3)
    assert body_of(lam.get_function_configuration(FunctionName=name)) == before


def test_qualified_names_are_refused(lam, create_function):
    name = create_function()["FunctionName"]
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)

    for qualified in (f"{name}:{version}", f"{name}:$LATEST", f"{name}:live", arn_of(name, version)):
        for call in (
            lambda: lam.put_function_concurrency(FunctionName=qualified, ReservedConcurrentExecutions=1),
            lambda: lam.get_function_concurrency(FunctionName=qualified),
            lambda: lam.delete_function_concurrency(FunctionName=qualified),
        ):
            with pytest.raises(ClientError) as raised:
                call()
            assert error_of(raised) == (400, "InvalidParameterValueException", UNQUALIFIED_ONLY)
            assert raised.value.response["Type"] == "User"
    assert body_of(lam.get_function_concurrency(FunctionName=name)) == {}


def test_missing_function_is_not_found(lam, unique):
    name = unique("nofn")

    with pytest.raises(ClientError) as raised:
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    # AWS names $LATEST for Put only.
    assert error_of(raised) == (404, "ResourceNotFoundException", f"Function not found: {arn_of(name, '$LATEST')}")

    with pytest.raises(ClientError) as raised:
        lam.get_function_concurrency(FunctionName=name)
    assert error_of(raised) == (404, "ResourceNotFoundException", f"Function not found: {arn_of(name)}")

    with pytest.raises(ClientError) as raised:
        lam.delete_function_concurrency(FunctionName=name)
    status, code, message = error_of(raised)
    assert (status, code) == (404, "ResourceNotFoundException")
    assert message.startswith(f"Function not found: {arn_of(name)}")


def test_negative_reservation_is_invalid(lam, create_function, server):
    name = create_function()["FunctionName"]
    # botocore would refuse -1 itself; switch its check off to reach the server's.
    client = server.client("lambda", config=Config(parameter_validation=False))
    with pytest.raises(ClientError) as raised:
        client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=-1)
    assert error_of(raised) == (
        400,
        "ValidationException",
        "1 validation error detected: Value '-1' at 'reservedConcurrentExecutions' failed to satisfy constraint: "
        "Member must have value greater than or equal to 0",
    )
    assert body_of(lam.get_function_concurrency(FunctionName=name)) == {}


# -- the account as a whole (a server of the test's own, so the counts are exact) -------


class Account:
    """A fresh server's Lambda client, with a role to create functions under."""

    def __init__(self, server) -> None:
        self.lam = server.client("lambda")
        self.role = server.client("iam").create_role(RoleName="exec", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]

    def create(self, name: str, code: bytes) -> dict:
        created = self.lam.create_function(
            FunctionName=name, Runtime="python3.12", Role=self.role, Handler="app.handler", Code={"ZipFile": code}
        )
        self.lam.get_waiter("function_active_v2").wait(FunctionName=name)
        return created

    def settings(self) -> dict:
        return body_of(self.lam.get_account_settings())


def test_account_settings_of_an_empty_account(fresh_server):
    settings = Account(fresh_server).settings()
    assert settings == {
        "AccountLimit": {
            "TotalCodeSize": 80530636800,
            "CodeSizeUnzipped": 262144000,
            "CodeSizeZipped": 52428800,
            "ConcurrentExecutions": 1000,
            "UnreservedConcurrentExecutions": 1000,
        },
        "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": 0},
    }


def test_account_usage_counts_functions_and_code(fresh_server):
    account = Account(fresh_server)
    lam = account.lam
    code_a = make_zip({"app.py": "def handler(e, c):\n    return 'a'\n"})
    code_b = make_zip({"app.py": "def handler(e, c):\n    return 'bb'\n", "extra.txt": "x" * 100})

    account.create("fn-a", code_a)
    assert account.settings()["AccountUsage"] == {"TotalCodeSize": len(code_a), "FunctionCount": 1}

    account.create("fn-b", code_b)
    assert account.settings()["AccountUsage"] == {"TotalCodeSize": len(code_a) + len(code_b), "FunctionCount": 2}

    # Every function's package counts, even when two functions hold identical bytes.
    account.create("fn-c", code_b)
    usage = account.settings()["AccountUsage"]
    assert usage == {"TotalCodeSize": len(code_a) + 2 * len(code_b), "FunctionCount": 3}

    # So does every layer version, even of identical bytes (recorded on AWS: two publishes, two increments).
    layer = make_zip({"python/lib.py": "X = 1\n"})
    lam.publish_layer_version(LayerName="lib", Content={"ZipFile": layer})
    lam.publish_layer_version(LayerName="lib", Content={"ZipFile": layer})
    assert account.settings()["AccountUsage"]["TotalCodeSize"] == usage["TotalCodeSize"] + 2 * len(layer)
    lam.delete_layer_version(LayerName="lib", VersionNumber=1)
    lam.delete_layer_version(LayerName="lib", VersionNumber=2)

    # A configuration change stores no new code; publishing it as a version counts the package again.
    lam.update_function_configuration(FunctionName="fn-a", Description="changed")
    lam.get_waiter("function_updated_v2").wait(FunctionName="fn-a")
    assert account.settings()["AccountUsage"] == usage
    lam.publish_version(FunctionName="fn-a")
    usage = {**usage, "TotalCodeSize": usage["TotalCodeSize"] + len(code_a)}
    assert account.settings()["AccountUsage"] == usage

    lam.delete_function(FunctionName="fn-b")
    assert account.settings()["AccountUsage"] == {"TotalCodeSize": 2 * len(code_a) + len(code_b), "FunctionCount": 2}
    lam.delete_function(FunctionName="fn-a")
    assert account.settings()["AccountUsage"] == {"TotalCodeSize": len(code_b), "FunctionCount": 1}


def test_unreserved_concurrency_may_not_fall_below_one_hundred(fresh_server):
    account = Account(fresh_server)
    lam = account.lam
    account.create("big", make_zip())
    account.create("small", make_zip())

    with pytest.raises(ClientError) as raised:
        lam.put_function_concurrency(FunctionName="big", ReservedConcurrentExecutions=901)
    assert error_of(raised) == (400, "InvalidParameterValueException", BELOW_MINIMUM)
    # Lambda sends this error without the body's Type field.
    assert "Type" not in raised.value.response
    assert body_of(lam.get_function_concurrency(FunctionName="big")) == {}
    assert account.settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 1000

    lam.put_function_concurrency(FunctionName="big", ReservedConcurrentExecutions=900)
    assert account.settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 100

    for name in ("small", "big"):
        target = 1 if name == "small" else 901
        with pytest.raises(ClientError) as raised:
            lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=target)
        assert error_of(raised) == (400, "InvalidParameterValueException", BELOW_MINIMUM)
    assert body_of(lam.get_function_concurrency(FunctionName="small")) == {}
    assert body_of(lam.get_function_concurrency(FunctionName="big")) == {"ReservedConcurrentExecutions": 900}

    # Reserving 0 takes nothing from the pool; re-putting a function's own reservation is fine.
    lam.put_function_concurrency(FunctionName="small", ReservedConcurrentExecutions=0)
    lam.put_function_concurrency(FunctionName="big", ReservedConcurrentExecutions=900)
    assert account.settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 100

    # Lowering one reservation frees room for another.
    lam.put_function_concurrency(FunctionName="big", ReservedConcurrentExecutions=850)
    lam.put_function_concurrency(FunctionName="small", ReservedConcurrentExecutions=50)
    assert account.settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 100

    lam.delete_function_concurrency(FunctionName="big")
    assert account.settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 950
    lam.delete_function(FunctionName="small")
    assert account.settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 1000
