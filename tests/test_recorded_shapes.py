"""Answers pinned to recordings of real AWS Lambda responses.

The expected texts are AWS's, as LocalStack's test suite recorded them from AWS
(tests/aws/services/lambda_/test_lambda_api.snapshot.json), with the recording's placeholders
replaced by this server's account, region and names. Each case names the recording it comes from.
"""

from __future__ import annotations

import json

import pytest

from support import arn, aws_error, make_zip

#: test_create_lambda_exceptions/invalid_runtime_exc: the runtimes a function may name, in AWS's order.
CREATABLE = (
    "[nodejs20.x, python3.14, provided.al2023, python3.12, python3.13, nodejs24.x, nodejs22.x, java25, python3.10, "
    "python3.11, java21, ruby3.3, ruby3.4, ruby3.2, python3.8, python3.9, java17, nodejs16.x, dotnet10, dotnet8, "
    "java11, dotnet6, nodejs18.x, provided.al2, java8.al2]"
)
#: test_layer_exceptions/list_layers_exc_compatibleruntime_invalid: every name ListLayers accepts.
LAYER_FILTER = (
    "[ruby3.5, ruby2.6, dotnetcore1.0, python3.7, nodejs8.10, nasa, ruby2.7, python2.7-greengrass, dotnetcore2.0, "
    "python3.8, java21, dotnet6, dotnetcore2.1, python3.9, java11, nodejs6.10, provided, dotnetcore3.1, dotnet8, "
    "java25, java17, nodejs, nodejs4.3, java8.al2, go1.x, dotnet10, nodejs20.x, go1.9, byol, nodejs10.x, "
    "provided.al2023, nodejs22.x, python3.10, java8, nodejs12.x, python3.11, nodejs24.x, nodejs8.x, python3.12, "
    "nodejs14.x, nodejs8.9, nodejs26.x, python3.13, python3.14, nodejs16.x, python3.15, provided.al2, "
    "nodejs4.3-edge, nodejs18.x, ruby3.2, python3.4, ruby3.3, ruby3.4, ruby2.5, python3.6, python2.7]"
)
ARCHITECTURES = "[Member must satisfy enum value set: [x86_64, arm64], Member must not be null]"


# -- runtimes --------------------------------------------------------------------------------


@pytest.mark.parametrize("runtime", ["non-existent-runtime", "PYTHON3.9"])
def test_an_unknown_runtime_lists_the_runtimes_aws_lists(raw_lam, role, unique, runtime):
    """test_create_lambda_exceptions/invalid_runtime_exc and uppercase_runtime_exc."""
    name = unique("fn")
    assert aws_error(
        raw_lam.create_function, FunctionName=name, Runtime=runtime, Role=role, Handler="app.handler",
        Code={"ZipFile": make_zip()},
    ) == (
        400, "InvalidParameterValueException",
        f"Value {runtime} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: "
        f"{CREATABLE} or be a valid ARN",
    )
    assert aws_error(raw_lam.get_function, FunctionName=name)[0] == 404


def test_list_layers_names_every_runtime_it_accepts(raw_lam):
    """test_layer_exceptions/list_layers_exc_compatibleruntime_invalid; a retired name is a valid filter."""
    assert aws_error(raw_lam.list_layers, CompatibleRuntime="runtimedoesnotexist") == (
        400, "ValidationException",
        "1 validation error detected: Value 'runtimedoesnotexist' at 'compatibleRuntime' failed to satisfy "
        f"constraint: Member must satisfy enum value set: {LAYER_FILTER}",
    )
    assert raw_lam.list_layers(CompatibleRuntime="python3.7")["Layers"] == []


@pytest.mark.parametrize(
    ("runtimes", "architectures"),
    [(["invalidruntime"], ["invalidarch"]), (["invalidruntime", "invalidruntime2", "nodejs20.x"], ["invalidarch", "x86_64"])],
    ids=["invalid", "partially-invalid"],
)
def test_publishing_a_layer_with_unknown_runtimes_and_architectures(raw_lam, unique, runtimes, architectures):
    """test_layer_exceptions/publish_layer_version_exc_invalid_runtime_arch and ..._partially_invalid_values:
    the runtimes' rule is the bare enum set, the architectures' is wrapped as a list member's."""
    layer = unique("layer")
    assert aws_error(
        raw_lam.publish_layer_version, LayerName=layer, Content={"ZipFile": make_zip()},
        CompatibleRuntimes=runtimes, CompatibleArchitectures=architectures,
    ) == (
        400, "ValidationException",
        f"2 validation errors detected: Value '[{', '.join(runtimes)}]' at 'compatibleRuntimes' failed to satisfy "
        f"constraint: Member must satisfy enum value set: {CREATABLE}; Value '[{', '.join(architectures)}]' at "
        f"'compatibleArchitectures' failed to satisfy constraint: Member must satisfy constraint: {ARCHITECTURES}",
    )
    assert raw_lam.list_layer_versions(LayerName=layer)["LayerVersions"] == []


# -- function policies -----------------------------------------------------------------------

NO_POLICY = "The resource you requested does not exist."
ALLOW_S3 = {"Action": "lambda:InvokeFunction", "StatementId": "s3", "Principal": "s3.amazonaws.com"}


@pytest.fixture
def versioned(lam, create_function):
    """A function with version 1 and no policy."""
    name = create_function()["FunctionName"]
    lam.publish_version(FunctionName=name)
    return name


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        # test_permission_exceptions/get_policy_fn_doesnotexist and get_policy_fn_version_doesnotexist
        ("get-policy-no-function", (404, "ResourceNotFoundException", NO_POLICY)),
        ("get-policy-no-version", (404, "ResourceNotFoundException", NO_POLICY)),
        # .../remove_permission_fn_doesnotexist
        ("remove-no-function", (404, "ResourceNotFoundException", "No policy found for: {arn_missing}")),
        # .../add_permission_fn_alias_doesnotexist and remove_permission_fn_alias_doesnotexist
        ("add-no-alias", (404, "ResourceNotFoundException", "Cannot find alias arn: {arn}:alias-doesnotexist")),
        ("remove-no-alias", (404, "ResourceNotFoundException", "Cannot find alias arn: {arn}:alias-doesnotexist")),
        # .../add_permission_fn_version_doesnotexist and add_permission_fn_qualifier_valid_doesnotexist
        ("add-no-version", (404, "ResourceNotFoundException", "Function not found: {arn}:42")),
        ("add-no-dollar-qualifier", (
            404, "ResourceNotFoundException", "Function not found: {arn}:valid-with-$-but-doesnotexist",
        )),
        # .../remove_permission_policy_doesnotexist
        ("remove-no-policy", (404, "ResourceNotFoundException", "No policy is associated with the given resource.")),
        # .../add_permission_principal_invalid
        ("add-non-aws-service", (
            400, "InvalidParameterValueException",
            "The provided principal was invalid. Please check the principal and try again.",
        )),
    ],
)
def test_policy_refusals_as_recorded(lam, raw_lam, versioned, unique, case, expected):
    name, missing = versioned, unique("nofn")
    calls = {
        "get-policy-no-function": lambda: aws_error(lam.get_policy, FunctionName=missing),
        "get-policy-no-version": lambda: aws_error(lam.get_policy, FunctionName=name, Qualifier="77"),
        "remove-no-function": lambda: aws_error(lam.remove_permission, FunctionName=missing, StatementId="s3"),
        "add-no-alias": lambda: aws_error(lam.add_permission, FunctionName=name, Qualifier="alias-doesnotexist", **ALLOW_S3),
        "remove-no-alias": lambda: aws_error(
            lam.remove_permission, FunctionName=name, Qualifier="alias-doesnotexist", StatementId="s3",
        ),
        "add-no-version": lambda: aws_error(lam.add_permission, FunctionName=name, Qualifier="42", **ALLOW_S3),
        "add-no-dollar-qualifier": lambda: aws_error(
            raw_lam.add_permission, FunctionName=name, Qualifier="valid-with-$-but-doesnotexist", **ALLOW_S3,
        ),
        "remove-no-policy": lambda: aws_error(lam.remove_permission, FunctionName=name, StatementId="s3"),
        "add-non-aws-service": lambda: aws_error(
            lam.add_permission, FunctionName=name, **{**ALLOW_S3, "StatementId": "lambda", "Principal": "invalid.nonaws.com"},
        ),
    }
    status, code, message = expected
    assert calls[case]() == (status, code, message.format(arn=arn(name), arn_missing=arn(missing)))
    # Nothing was written: the function still has no policy.
    assert aws_error(lam.get_policy, FunctionName=name) == (404, "ResourceNotFoundException", NO_POLICY)


def test_aws_service_principals_are_still_accepted(lam, create_function):
    name = create_function()["FunctionName"]
    for sid, principal in (("s3", "s3.amazonaws.com"), ("alexa", "alexa-appkit.amazon.com"), ("cn", "s3.amazonaws.com.cn")):
        added = lam.add_permission(FunctionName=name, StatementId=sid, Action="lambda:InvokeFunction", Principal=principal)
        assert json.loads(added["Statement"])["Principal"] == {"Service": principal}


# -- layer version policies -------------------------------------------------------------------


def test_a_stale_revision_on_a_layer_policy_names_get_layer_policy(lam, unique):
    """test_layer_policy_exceptions/layer_permission_wrong_revision and ..._wrong_revision_remove."""
    layer = unique("layer")
    lam.publish_layer_version(LayerName=layer, Content={"ZipFile": make_zip()})
    statement = {"LayerName": layer, "VersionNumber": 1, "Action": "lambda:GetLayerVersion", "Principal": "*"}
    lam.add_layer_version_permission(StatementId="s1", **statement)
    before = lam.get_layer_version_policy(LayerName=layer, VersionNumber=1)
    stale = (
        412, "PreconditionFailedException",
        "The Revision Id provided does not match the latest Revision Id. "
        "Call the GetLayerPolicy API to retrieve the latest Revision Id",
    )
    assert aws_error(lam.add_layer_version_permission, StatementId="s2", RevisionId="wrong", **statement) == stale
    assert aws_error(
        lam.remove_layer_version_permission, LayerName=layer, VersionNumber=1, StatementId="s1", RevisionId="wrong",
    ) == stale
    after = lam.get_layer_version_policy(LayerName=layer, VersionNumber=1)
    assert (after["Policy"], after["RevisionId"]) == (before["Policy"], before["RevisionId"])


# -- function names in lookups ------------------------------------------------------------------
# test_function_name_and_qualifier_validation: Get, Delete and Invoke check a FunctionName's pattern but not its
# length. A malformed name is a ValidationException quoting the lookup pattern; a well-formed name no function can
# have is not found.

LOOKUP_PATTERN = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?"
    r"([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?"
)
QUALIFIER_TOO_LONG = (
    f"Value '{'a' * 129}' at 'qualifier' failed to satisfy constraint: Member must have length less than or equal to 128"
)
FULL_ARN = "arn:aws:lambda:us-east-1:000000000000:function"


def _malformed(name: str) -> str:
    return f"Value '{name}' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: {LOOKUP_PATTERN}"


@pytest.mark.parametrize("operation", ["get_function", "get_function_configuration", "delete_function", "invoke"])
@pytest.mark.parametrize(
    "name",
    [
        "my-function!",
        "*",
        "invalid-account:function:my-function",
        "arn:aws:lambda:invalid-region:000000000000:function:my-function",
        "arn:aws:ec2:us-east-1:000000000000:instance:i-1234567890abcdef0",
        f"{FULL_ARN}:my-function:1:2",
        "function:my-function:$LATEST:extra",
        "arn:aws:lambda::000000000000:function:my-function",
        "arn:aws:lambda:us-east-1::function:my-function",
        f"{FULL_ARN}:my-function:$LATES",
        "arn:aws:lambda:invalid-region:000000000000:function:my-function" + "a" * 170,
    ],
    ids=[
        "bang", "star", "bad-account", "bad-region", "ec2-arn", "two-qualifiers", "extra-qualifier", "no-region",
        "no-account", "latest-misspelled", "long-and-bad-region",
    ],
)
def test_a_malformed_name_is_invalid_whatever_its_length(raw_lam, operation, name):
    assert aws_error(getattr(raw_lam, operation), FunctionName=name) == (
        400, "ValidationException", f"1 validation error detected: {_malformed(name)}",
    )


@pytest.mark.parametrize("operation", ["get_function", "delete_function", "invoke"])
def test_a_long_qualifier_and_a_malformed_name_are_both_reported(raw_lam, operation):
    name = "arn:aws:lambda:invalid-region:000000000000:function:my-function-" + "a" * 170
    status, code, message = aws_error(getattr(raw_lam, operation), FunctionName=name, Qualifier="a" * 129)
    prefix = "2 validation errors detected: "
    assert (status, code, message[: len(prefix)]) == (400, "ValidationException", prefix)
    # The recording sorts the two problems; either order is AWS's.
    assert sorted(message[len(prefix):].split("; ")) == sorted([QUALIFIER_TOO_LONG, _malformed(name)])


@pytest.mark.parametrize(
    ("operation", "name", "qualifier", "shown"),
    [
        ("get_function", "a" * 65, None, f"{FULL_ARN}:{'a' * 65}"),
        ("delete_function", "a" * 65, None, f"{FULL_ARN}:{'a' * 65}"),
        ("invoke", "a" * 65, None, f"{FULL_ARN}:{'a' * 65}:$LATEST"),
        # "arn:...:ACCOUNT:function" reads as the function named "function".
        ("get_function", FULL_ARN, None, f"{FULL_ARN}:function"),
        ("delete_function", FULL_ARN, None, f"{FULL_ARN}:function"),
        ("invoke", FULL_ARN, None, f"{FULL_ARN}:function:$LATEST"),
        # test_function_name_and_qualifier_validation[lowercase_latest_qualifier]: $latest is an unknown qualifier.
        ("get_function", f"{FULL_ARN}:my-function", "$latest", f"{FULL_ARN}:my-function:$latest"),
        ("delete_function", f"{FULL_ARN}:my-function", "$latest", f"{FULL_ARN}:my-function"),
        ("invoke", f"{FULL_ARN}:my-function", "$latest", f"{FULL_ARN}:my-function:$latest"),
    ],
    ids=["get-65", "delete-65", "invoke-65", "get-incomplete", "delete-incomplete", "invoke-incomplete",
         "get-lowercase-latest", "delete-lowercase-latest", "invoke-lowercase-latest"],
)
def test_a_well_formed_name_no_function_has_is_not_found(raw_lam, operation, name, qualifier, shown):
    arguments = {"FunctionName": name, **({"Qualifier": qualifier} if qualifier else {})}
    assert aws_error(getattr(raw_lam, operation), **arguments) == (
        404, "ResourceNotFoundException", f"Function not found: {shown}",
    )


def test_a_huge_malformed_name_is_refused_and_changes_nothing(raw_lam, create_function):
    """Hostile input: a name of thousands of characters, malformed, in a lookup and a deletion."""
    kept = create_function()["FunctionName"]
    name = kept + "!" * 4000
    for operation in ("get_function", "delete_function", "invoke"):
        status, code, message = aws_error(getattr(raw_lam, operation), FunctionName=name)
        assert (status, code) == (400, "ValidationException")
        assert message.startswith(f"1 validation error detected: Value '{name}' at 'functionName'")
    assert raw_lam.get_function(FunctionName=kept)["Configuration"]["FunctionName"] == kept


# -- Invoke -----------------------------------------------------------------------------------


@pytest.mark.parametrize("invocation_type", ["RequestResponse", "Event", "DryRun"])
def test_invoking_a_missing_function_names_latest(lam, unique, invocation_type):
    """lambda.snapshot.json, test_invoke_exceptions (recorded 2025): Function not found: ARN:$LATEST."""
    name = unique("nofn")
    assert aws_error(lam.invoke, FunctionName=name, InvocationType=invocation_type) == (
        404, "ResourceNotFoundException", f"Function not found: {arn(name)}:$LATEST",
    )
    # With a qualifier, the qualifier (test_lambda_alias_moving/invocation_exc_not_existent).
    assert aws_error(lam.invoke, FunctionName=name, Qualifier="live")[2] == f"Function not found: {arn(name)}:live"


# -- LoggingConfig ----------------------------------------------------------------------------


def test_switching_back_to_text_logs_drops_the_json_levels(lam, create_function):
    """test_advanced_logging_configuration_format_switch: JSON fills in INFO levels, Text shows none again."""
    name = create_function()["FunctionName"]
    group = f"/aws/lambda/{name}"
    steps = [
        ({"LogFormat": "JSON"}, {"ApplicationLogLevel": "INFO", "LogFormat": "JSON", "LogGroup": group, "SystemLogLevel": "INFO"}),
        ({"LogFormat": "Text"}, {"LogFormat": "Text", "LogGroup": group}),
        # test_function_advanced_logging_configuration: the levels and a custom group, then Text again.
        ({"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG", "LogGroup": "cool_lambda"},
         {"ApplicationLogLevel": "DEBUG", "LogFormat": "JSON", "LogGroup": "cool_lambda", "SystemLogLevel": "INFO"}),
        ({"LogFormat": "Text"}, {"LogFormat": "Text", "LogGroup": "cool_lambda"}),
    ]
    for requested, shown in steps:
        assert lam.update_function_configuration(FunctionName=name, LoggingConfig=requested)["LoggingConfig"] == shown
        lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
        assert lam.get_function_configuration(FunctionName=name)["LoggingConfig"] == shown


def test_a_statement_with_every_optional_field_is_written_in_awss_order(lam, create_function):
    """test_add_lambda_permission_fields/add_permission_optional_fields: the Statement text, key for key."""
    name = create_function()["FunctionName"]
    added = lam.add_permission(
        FunctionName=name, StatementId="urlPermission", Action="lambda:InvokeFunctionUrl", Principal="*",
        SourceArn="arn:aws:s3:::test-bucket", SourceAccount="000000000000", PrincipalOrgID="o-1234567890",
        FunctionUrlAuthType="NONE",
    )
    assert added["Statement"] == (
        '{"Sid":"urlPermission","Effect":"Allow","Principal":"*","Action":"lambda:InvokeFunctionUrl",'
        f'"Resource":"{arn(name)}","Condition":{{"StringEquals":{{"AWS:SourceAccount":"000000000000",'
        '"lambda:FunctionUrlAuthType":"NONE","aws:PrincipalOrgID":"o-1234567890"},'
        '"ArnLike":{"AWS:SourceArn":"arn:aws:s3:::test-bucket"}}}'
    )
    assert json.loads(lam.get_policy(FunctionName=name)["Policy"])["Statement"] == [json.loads(added["Statement"])]


def test_a_policy_keeps_its_revision_when_a_version_is_published(lam, create_function):
    """test_lambda_permission_fn_versioning: publishing renews $LATEST's RevisionId but not its policy's, and
    AddPermission checks the policy's (the one GetPolicy returned) and accepts it."""
    name = create_function()["FunctionName"]
    lam.add_permission(FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction", Principal="s3.amazonaws.com")
    policy_revision = lam.get_policy(FunctionName=name)["RevisionId"]
    assert lam.get_function(FunctionName=name)["Configuration"]["RevisionId"] == policy_revision

    lam.publish_version(FunctionName=name)
    function_revision = lam.get_function(FunctionName=name)["Configuration"]["RevisionId"]
    assert function_revision != policy_revision
    assert lam.get_policy(FunctionName=name)["RevisionId"] == policy_revision
    assert aws_error(
        lam.add_permission, FunctionName=name, StatementId="s3_2", Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com", RevisionId="wrong",
    )[:2] == (412, "PreconditionFailedException")
    lam.add_permission(
        FunctionName=name, StatementId="s3_2", Action="lambda:InvokeFunction", Principal="s3.amazonaws.com",
        RevisionId=policy_revision,
    )
    after = lam.get_policy(FunctionName=name)
    assert after["RevisionId"] not in (policy_revision, function_revision)
    assert [statement["Sid"] for statement in json.loads(after["Policy"])["Statement"]] == ["s3", "s3_2"]
    lam.remove_permission(FunctionName=name, StatementId="s3", RevisionId=after["RevisionId"])


# -- DeleteFunction ---------------------------------------------------------------------------


@pytest.mark.parametrize("exists", [False, True], ids=["missing-function", "existing-function"])
@pytest.mark.parametrize("qualifier", ["live", "a" * 65], ids=["alias-name", "long-alias-name"])
def test_deleting_by_an_alias_name_is_refused_first(lam, create_function, unique, exists, qualifier):
    """test_function_name_and_qualifier_validation[function_name_and_qualifier_too_long-delete_function] (recorded
    2024): a qualifier that is not a version number is refused before the function is looked up."""
    name = create_function()["FunctionName"] if exists else unique("nofn")
    if exists:
        lam.publish_version(FunctionName=name)
        lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    assert aws_error(lam.delete_function, FunctionName=name, Qualifier=qualifier) == (
        400, "InvalidParameterValueException", "Deletion of aliases is not currently supported.",
    )
    if exists:
        assert lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "1"


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("import sys\n\ndef handler(event, context):\n    sys.exit(0)\n", "Runtime exited without providing a reason"),
        ("import sys\n\nsys.exit(0)\n", "Runtime exited without providing a reason"),
        # test_lambda_runtime_wrapper_not_found: an exit status during INIT, reported with the invoke's request id.
        ("import sys\n\nsys.exit(3)\n", "Runtime exited with error: exit status 3"),
    ],
    ids=["in-handler", "at-import", "status-at-import"],
)
def test_a_runtime_that_exits_is_reported_as_aws_words_it(deploy, invoke, source, reason):
    """lambda.snapshot.json, test_lambda_handler_exit and test_lambda_runtime_exit: sys.exit(0)."""
    name = deploy({"app.py": source})
    result = invoke(name, {})
    assert (result.status, result.error) == (200, "Unhandled")
    request_id = result.headers["x-amzn-requestid"]
    assert result.body == {"errorType": "Runtime.ExitError", "errorMessage": f"RequestId: {request_id} Error: {reason}"}


def test_a_synchronous_invoke_answers_with_the_invocations_request_id(deploy, invoke):
    """AWS's x-amzn-RequestId of an Invoke is the invocation's: context.aws_request_id, the REPORT line's."""
    name = deploy({"app.py": "def handler(event, context):\n    return context.aws_request_id\n"})
    result = invoke(name, {}, LogType="Tail")
    request_id = result.headers["x-amzn-requestid"]
    assert result.body == request_id
    assert f"REPORT RequestId: {request_id}\t" in result.log


@pytest.mark.parametrize("runtime", ["non-existent-runtime", "PYTHON3.9"])
def test_updating_to_an_unknown_runtime_lists_the_runtimes_aws_lists(raw_lam, create_function, runtime):
    """test_update_lambda_exceptions/invalid_runtime_exc and uppercase_runtime_exc; nothing changes."""
    name = create_function()["FunctionName"]
    assert aws_error(raw_lam.update_function_configuration, FunctionName=name, Runtime=runtime) == (
        400, "InvalidParameterValueException",
        f"Value {runtime} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: "
        f"{CREATABLE} or be a valid ARN",
    )
    assert raw_lam.get_function_configuration(FunctionName=name)["Runtime"] == "python3.12"
