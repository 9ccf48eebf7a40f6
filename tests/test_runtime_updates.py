"""Runtime management controls: GetRuntimeManagementConfig and PutRuntimeManagementConfig, through boto3.

Shapes from AWS's API reference: UpdateRuntimeOn (Auto by default), FunctionArn, and RuntimeVersionArn in
mode Manual only.
"""

from __future__ import annotations

import pytest

from support import arn, aws_error

RUNTIME_VERSION = "arn:aws:lambda:us-east-1::runtime:8eeff65f6809a3ce81507fe733fe09b835899b99481ba22fd75b5a7338290ec1"


def test_every_version_starts_in_auto(lam, create_function):
    name = create_function()["FunctionName"]
    lam.publish_version(FunctionName=name)
    for qualifier, shown in ((None, arn(name)), ("$LATEST", arn(name)), ("1", arn(name, "1"))):
        answer = lam.get_runtime_management_config(FunctionName=name, **({"Qualifier": qualifier} if qualifier else {}))
        answer.pop("ResponseMetadata")
        assert answer == {"UpdateRuntimeOn": "Auto", "FunctionArn": shown}


def test_modes_are_kept_per_version(lam, create_function):
    name = create_function()["FunctionName"]
    lam.publish_version(FunctionName=name)

    put = lam.put_runtime_management_config(FunctionName=name, UpdateRuntimeOn="Manual", RuntimeVersionArn=RUNTIME_VERSION)
    put.pop("ResponseMetadata")
    manual = {"UpdateRuntimeOn": "Manual", "FunctionArn": arn(name), "RuntimeVersionArn": RUNTIME_VERSION}
    assert put == manual
    got = lam.get_runtime_management_config(FunctionName=name)
    got.pop("ResponseMetadata")
    assert got == manual

    assert lam.put_runtime_management_config(FunctionName=name, Qualifier="1", UpdateRuntimeOn="FunctionUpdate")[
        "UpdateRuntimeOn"
    ] == "FunctionUpdate"
    version = lam.get_runtime_management_config(FunctionName=name, Qualifier="1")
    assert (version["UpdateRuntimeOn"], version["FunctionArn"], "RuntimeVersionArn" in version) == (
        "FunctionUpdate", arn(name, "1"), False,
    )
    # Back to Auto: the pinned runtime version is no longer shown.
    lam.put_runtime_management_config(FunctionName=name, UpdateRuntimeOn="Auto")
    assert "RuntimeVersionArn" not in lam.get_runtime_management_config(FunctionName=name)
    assert lam.get_runtime_management_config(FunctionName=name, Qualifier="1")["UpdateRuntimeOn"] == "FunctionUpdate"


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"UpdateRuntimeOn": "Manual"}, (400, "InvalidParameterValueException")),
        ({"UpdateRuntimeOn": "Auto", "RuntimeVersionArn": RUNTIME_VERSION}, (400, "InvalidParameterValueException")),
        ({"UpdateRuntimeOn": "Sometimes"}, (400, "ValidationException")),
        ({"UpdateRuntimeOn": "Manual", "RuntimeVersionArn": "not-an-arn"}, (400, "ValidationException")),
        ({"UpdateRuntimeOn": "Auto", "Qualifier": "7"}, (404, "ResourceNotFoundException")),
    ],
    ids=["manual-without-arn", "arn-without-manual", "unknown-mode", "bad-arn", "missing-version"],
)
def test_bad_requests_are_refused_and_change_nothing(lam, raw_lam, create_function, arguments, expected):
    name = create_function()["FunctionName"]
    lam.put_runtime_management_config(FunctionName=name, UpdateRuntimeOn="FunctionUpdate")
    assert aws_error(raw_lam.put_runtime_management_config, FunctionName=name, **arguments)[:2] == expected
    assert lam.get_runtime_management_config(FunctionName=name)["UpdateRuntimeOn"] == "FunctionUpdate"


def test_a_missing_function_or_version_is_not_found(lam, create_function, unique):
    missing = unique("nofn")
    for call in (
        lambda: aws_error(lam.get_runtime_management_config, FunctionName=missing),
        lambda: aws_error(lam.put_runtime_management_config, FunctionName=missing, UpdateRuntimeOn="Auto"),
    ):
        assert call() == (404, "ResourceNotFoundException", f"Function not found: {arn(missing)}")
    name = create_function()["FunctionName"]
    assert aws_error(lam.get_runtime_management_config, FunctionName=name, Qualifier="3") == (
        404, "ResourceNotFoundException", f"Function not found: {arn(name, '3')}",
    )


def test_the_settings_go_with_the_function(lam, create_function):
    name = create_function()["FunctionName"]
    lam.put_runtime_management_config(FunctionName=name, UpdateRuntimeOn="FunctionUpdate")
    lam.delete_function(FunctionName=name)
    create_function(FunctionName=name)
    assert lam.get_runtime_management_config(FunctionName=name)["UpdateRuntimeOn"] == "Auto"


def test_another_account_can_neither_read_nor_set_them(server, lam, create_function):
    """Hostile tenant: another account names this account's function by ARN."""
    name = create_function()["FunctionName"]
    other = server.client("lambda", account="222233334444")
    for call in (
        lambda: aws_error(other.get_runtime_management_config, FunctionName=arn(name)),
        lambda: aws_error(
            other.put_runtime_management_config, FunctionName=arn(name), UpdateRuntimeOn="Manual",
            RuntimeVersionArn=RUNTIME_VERSION,
        ),
    ):
        assert call()[:2] == (403, "AccessDeniedException")
    assert lam.get_runtime_management_config(FunctionName=name)["UpdateRuntimeOn"] == "Auto"
