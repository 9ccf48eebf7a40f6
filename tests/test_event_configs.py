"""Event invoke configs and recursion config: the seven operations, and the lookups the async worker uses.

Expected shapes and messages come from AWS recordings (LocalStack's parity snapshots of
test_lambda_eventinvokeconfig_lifecycle / _exceptions and TestLambdaRecursion), unless a
test says it pins inferred behaviour.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from support import ACCOUNT, REGION, error_of

from lambdabox.control.event_configs import effective_config, recursion_allowed
from lambdabox.model.arns import Scope
from lambdabox.store.records import RecordStore

EMPTY_DESTINATIONS = {"OnSuccess": {}, "OnFailure": {}}
NOTHING_TO_SET = "You must specify at least one of error handling or destination setting."
NO_FUNCTION = "The function doesn't exist."
DESTINATION_PATTERN = (
    r"$|kafka://([^.]([a-zA-Z0-9\-_.]{0,248}))|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:"
    r"((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1})?:(\d{12})?:(.*)"
)


def arn_of(name: str, qualifier: str | None = None) -> str:
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def no_config(name: str, qualifier: str) -> str:
    return f"The function {arn_of(name, qualifier)} doesn't have an EventInvokeConfig"


def body_of(response: dict) -> dict:
    """A response without metadata, LastModified checked and dropped."""
    body = {key: value for key, value in response.items() if key != "ResponseMetadata"}
    assert isinstance(body.pop("LastModified"), datetime)
    return body


def publish_new_version(lam, name: str, timeout: int) -> str:
    """Change $LATEST (publishing an unchanged $LATEST returns the last version) and publish it."""
    lam.update_function_configuration(FunctionName=name, Timeout=timeout)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    return lam.publish_version(FunctionName=name)["Version"]


@pytest.fixture
def raw(server):
    """A client that sends what it is told, without boto3's own parameter checks."""
    return server.client("lambda", config=Config(parameter_validation=False))


@pytest.fixture
def versioned(lam, create_function):
    """A function with version 1 and alias 'live' pointing to it; returns the function name."""
    name = create_function()["FunctionName"]
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    return name


# -- lifecycle ----------------------------------------------------------------------------


def test_latest_lifecycle(lam, create_function):
    name = create_function()["FunctionName"]

    put = lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert body_of(put) == {
        "DestinationConfig": EMPTY_DESTINATIONS,
        "FunctionArn": arn_of(name, "$LATEST"),
        "MaximumRetryAttempts": 0,
    }

    updated = lam.update_function_event_invoke_config(FunctionName=name, MaximumEventAgeInSeconds=60)
    assert body_of(updated) == {
        "DestinationConfig": EMPTY_DESTINATIONS,
        "FunctionArn": arn_of(name, "$LATEST"),
        "MaximumRetryAttempts": 0,
        "MaximumEventAgeInSeconds": 60,
    }

    got = lam.get_function_event_invoke_config(FunctionName=name)
    assert body_of(got) == body_of(updated)
    assert body_of(lam.get_function_event_invoke_config(FunctionName=name, Qualifier="$LATEST")) == body_of(updated)
    assert body_of(lam.get_function_event_invoke_config(FunctionName=arn_of(name, "$LATEST"))) == body_of(updated)

    listed = lam.list_function_event_invoke_configs(FunctionName=name)
    assert [body_of(entry) for entry in listed["FunctionEventInvokeConfigs"]] == [body_of(updated)]
    assert "NextMarker" not in listed

    deleted = lam.delete_function_event_invoke_config(FunctionName=name)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"] == []
    with pytest.raises(ClientError) as raised:
        lam.get_function_event_invoke_config(FunctionName=name)
    assert error_of(raised) == (404, "ResourceNotFoundException", no_config(name, "$LATEST"))
    with pytest.raises(ClientError) as raised:
        lam.delete_function_event_invoke_config(FunctionName=name)
    assert error_of(raised) == (404, "ResourceNotFoundException", no_config(name, "$LATEST"))


def test_version_and_alias_configs_are_separate(lam, versioned):
    name = versioned
    with pytest.raises(ClientError) as raised:
        lam.get_function_event_invoke_config(FunctionName=name, Qualifier="1")
    assert error_of(raised) == (404, "ResourceNotFoundException", no_config(name, "1"))

    on_version = lam.put_function_event_invoke_config(FunctionName=name, Qualifier="1", MaximumEventAgeInSeconds=120)
    assert body_of(on_version) == {
        "DestinationConfig": EMPTY_DESTINATIONS,
        "FunctionArn": arn_of(name, "1"),
        "MaximumEventAgeInSeconds": 120,
    }
    on_alias = lam.put_function_event_invoke_config(FunctionName=name, Qualifier="live", MaximumRetryAttempts=1)
    assert body_of(on_alias) == {
        "DestinationConfig": EMPTY_DESTINATIONS,
        "FunctionArn": arn_of(name, "live"),
        "MaximumRetryAttempts": 1,
    }
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)

    assert lam.get_function_event_invoke_config(FunctionName=name, Qualifier="1")["MaximumEventAgeInSeconds"] == 120
    assert lam.get_function_event_invoke_config(FunctionName=f"{name}:live")["MaximumRetryAttempts"] == 1
    assert lam.get_function_event_invoke_config(FunctionName=name)["MaximumRetryAttempts"] == 0

    listed = lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]
    assert [entry["FunctionArn"] for entry in listed] == [arn_of(name, "$LATEST"), arn_of(name, "1"), arn_of(name, "live")]

    lam.delete_function_event_invoke_config(FunctionName=name, Qualifier="$LATEST")
    lam.delete_function_event_invoke_config(FunctionName=name, Qualifier="1")
    lam.delete_function_event_invoke_config(FunctionName=arn_of(name, "live"))
    assert lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"] == []


def test_every_way_of_naming_the_qualifier(lam, versioned):
    name = versioned
    cases = [
        ({"FunctionName": name, "Qualifier": "live"}, "live"),
        ({"FunctionName": arn_of(name, "live")}, "live"),
        ({"FunctionName": arn_of(name, "live"), "Qualifier": "live"}, "live"),
        ({"FunctionName": f"{name}:live"}, "live"),
        ({"FunctionName": f"{name}:live", "Qualifier": "live"}, "live"),
        ({"FunctionName": f"{name}:1"}, "1"),
        ({"FunctionName": name, "Qualifier": "$LATEST"}, "$LATEST"),
        ({"FunctionName": f"{name}:$LATEST", "Qualifier": "$LATEST"}, "$LATEST"),
        ({"FunctionName": arn_of(name)}, "$LATEST"),
    ]
    for arguments, qualifier in cases:
        put = lam.put_function_event_invoke_config(**arguments, MaximumRetryAttempts=1)
        assert put["FunctionArn"] == arn_of(name, qualifier), arguments


@pytest.mark.parametrize(
    "function_name, qualifier",
    [("{name}:live", "livedoesnotexist"), ("{arn}:live", "livedoesnotexist"), ("{name}:1", "$LATEST"),
     ("{name}:$LATEST", "1"), ("{name}:1", "live")],
)
def test_qualifier_conflicts(lam, versioned, function_name, qualifier):
    name = function_name.format(name=versioned, arn=arn_of(versioned))
    with pytest.raises(ClientError) as raised:
        lam.put_function_event_invoke_config(FunctionName=name, Qualifier=qualifier, MaximumRetryAttempts=1)
    assert error_of(raised) == (
        400,
        "InvalidParameterValueException",
        "The derived qualifier from the function name does not match the specified qualifier.",
    )


# -- Put replaces, Update merges ----------------------------------------------------------


def test_put_replaces_the_whole_config(lam, create_function):
    name = create_function()["FunctionName"]
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=2, MaximumEventAgeInSeconds=60)
    replaced = lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    assert "MaximumEventAgeInSeconds" not in replaced
    got = lam.get_function_event_invoke_config(FunctionName=name)
    assert got["MaximumRetryAttempts"] == 0
    assert "MaximumEventAgeInSeconds" not in got


def test_update_changes_only_what_it_names(lam, create_function):
    name = create_function()["FunctionName"]
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=2, MaximumEventAgeInSeconds=60)
    updated = lam.update_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    assert (updated["MaximumRetryAttempts"], updated["MaximumEventAgeInSeconds"]) == (0, 60)
    again = lam.update_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    assert (again["MaximumRetryAttempts"], again["MaximumEventAgeInSeconds"]) == (0, 60)
    got = lam.get_function_event_invoke_config(FunctionName=name)
    assert (got["MaximumRetryAttempts"], got["MaximumEventAgeInSeconds"]) == (0, 60)


def test_update_merges_destination_sides(lam, create_function):
    """Inferred: Update replaces only the DestinationConfig sides it names."""
    name = create_function()["FunctionName"]
    queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:failures"
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:successes"
    lam.put_function_event_invoke_config(FunctionName=name, DestinationConfig={"OnFailure": {"Destination": queue}})
    updated = lam.update_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": topic}}
    )
    assert updated["DestinationConfig"] == {"OnSuccess": {"Destination": topic}, "OnFailure": {"Destination": queue}}
    cleared = lam.update_function_event_invoke_config(FunctionName=name, DestinationConfig={"OnFailure": {}})
    assert cleared["DestinationConfig"] == {"OnSuccess": {"Destination": topic}, "OnFailure": {}}


# -- List paging -------------------------------------------------------------------------


def test_list_pages_with_marker(lam, create_function):
    name = create_function()["FunctionName"]
    assert [publish_new_version(lam, name, timeout) for timeout in (4, 5)] == ["1", "2"]
    for alias, version in (("a", "1"), ("b", "2")):
        lam.create_alias(FunctionName=name, Name=alias, FunctionVersion=version)
    for qualifier in ("$LATEST", "1", "2", "a", "b"):
        lam.put_function_event_invoke_config(FunctionName=name, Qualifier=qualifier, MaximumRetryAttempts=1)

    seen, marker, pages = [], None, 0
    while True:
        arguments = {"FunctionName": name, "MaxItems": 2, **({"Marker": marker} if marker else {})}
        listed = lam.list_function_event_invoke_configs(**arguments)
        pages += 1
        assert len(listed["FunctionEventInvokeConfigs"]) <= 2
        seen += [entry["FunctionArn"] for entry in listed["FunctionEventInvokeConfigs"]]
        marker = listed.get("NextMarker")
        if not marker:
            break
    assert pages == 3
    assert seen == [arn_of(name, qualifier) for qualifier in ("$LATEST", "1", "2", "a", "b")]

    every = lam.list_function_event_invoke_configs(FunctionName=name)
    assert len(every["FunctionEventInvokeConfigs"]) == 5
    assert "NextMarker" not in every


def test_list_max_items_range(raw, create_function):
    name = create_function()["FunctionName"]
    for value, rule in ((0, "greater than or equal to 1"), (51, "less than or equal to 50")):
        with pytest.raises(ClientError) as raised:
            raw.list_function_event_invoke_configs(FunctionName=name, MaxItems=value)
        assert error_of(raised) == (
            400,
            "ValidationException",
            f"1 validation error detected: Value '{value}' at 'maxItems' failed to satisfy constraint: "
            f"Member must have value {rule}",
        )


# -- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "member, value, rule",
    [
        ("MaximumRetryAttempts", 3, "less than or equal to 2"),
        ("MaximumRetryAttempts", -1, "greater than or equal to 0"),
        ("MaximumEventAgeInSeconds", 59, "greater than or equal to 60"),
        ("MaximumEventAgeInSeconds", 21601, "less than or equal to 21600"),
    ],
)
@pytest.mark.parametrize("operation", ["put_function_event_invoke_config", "update_function_event_invoke_config"])
def test_ranges(raw, lam, create_function, operation, member, value, rule):
    name = create_function()["FunctionName"]
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1)
    with pytest.raises(ClientError) as raised:
        getattr(raw, operation)(FunctionName=name, **{member: value})
    path = member[0].lower() + member[1:]
    assert error_of(raised) == (
        400,
        "ValidationException",
        f"1 validation error detected: Value '{value}' at '{path}' failed to satisfy constraint: Member must have value {rule}",
    )
    assert lam.get_function_event_invoke_config(FunctionName=name)["MaximumRetryAttempts"] == 1


def test_range_limits_are_accepted(lam, create_function):
    name = create_function()["FunctionName"]
    top = lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=2, MaximumEventAgeInSeconds=21600)
    assert (top["MaximumRetryAttempts"], top["MaximumEventAgeInSeconds"]) == (2, 21600)
    bottom = lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0, MaximumEventAgeInSeconds=60)
    assert (bottom["MaximumRetryAttempts"], bottom["MaximumEventAgeInSeconds"]) == (0, 60)


@pytest.mark.parametrize("operation", ["put_function_event_invoke_config", "update_function_event_invoke_config"])
def test_nothing_to_set(raw, operation):
    # Checked before the function is looked up: AWS answers this for a function that does not exist.
    with pytest.raises(ClientError) as raised:
        getattr(raw, operation)(FunctionName="doesnotexist")
    assert error_of(raised) == (400, "InvalidParameterValueException", NOTHING_TO_SET)


def test_destination_to_another_function(lam, create_function):
    name = create_function()["FunctionName"]
    other = create_function()["FunctionName"]
    put = lam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": arn_of(other)}}
    )
    assert body_of(put) == {
        "DestinationConfig": {"OnFailure": {}, "OnSuccess": {"Destination": arn_of(other)}},
        "FunctionArn": arn_of(name, "$LATEST"),
    }


def test_destination_sides_without_an_arn(lam, create_function):
    name = create_function()["FunctionName"]
    for destinations in ({"OnSuccess": {}}, {"OnFailure": {}}):
        put = lam.put_function_event_invoke_config(FunctionName=name, DestinationConfig=destinations)
        assert body_of(put) == {"DestinationConfig": EMPTY_DESTINATIONS, "FunctionArn": arn_of(name, "$LATEST")}


def test_destination_function_must_exist(lam, create_function):
    name = create_function()["FunctionName"]
    missing = arn_of("doesnotexist")
    with pytest.raises(ClientError) as raised:
        lam.put_function_event_invoke_config(FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": missing}})
    assert error_of(raised) == (400, "InvalidParameterValueException", f"The destination ARN {missing} is invalid.")


def test_destination_may_not_be_the_function_itself(lam, create_function):
    name = create_function()["FunctionName"]
    with pytest.raises(ClientError) as raised:
        lam.put_function_event_invoke_config(FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": arn_of(name)}})
    assert error_of(raised) == (
        400,
        "InvalidParameterValueException",
        "You can't specify the function as a destination for itself.",
    )


def test_destination_of_an_unsupported_service(lam, create_function):
    name = create_function()["FunctionName"]
    iam_arn = arn_of(name).replace(":lambda:", ":iam:")
    with pytest.raises(ClientError) as raised:
        lam.put_function_event_invoke_config(FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": iam_arn}})
    assert error_of(raised) == (
        400,
        "InvalidParameterValueException",
        f"The provided destination config DestinationConfig(onSuccess=OnSuccess(destination={iam_arn}), onFailure=null) "
        "is invalid.",
    )


def test_s3_takes_failures_only(lam, create_function):
    """S3 as OnFailure is documented; the wording of the OnSuccess refusal is inferred."""
    name = create_function()["FunctionName"]
    bucket = "arn:aws:s3:::failed-events"
    put = lam.put_function_event_invoke_config(FunctionName=name, DestinationConfig={"OnFailure": {"Destination": bucket}})
    assert put["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {"Destination": bucket}}
    with pytest.raises(ClientError) as raised:
        lam.put_function_event_invoke_config(FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": bucket}})
    assert error_of(raised) == (
        400,
        "InvalidParameterValueException",
        f"The provided destination config DestinationConfig(onSuccess=OnSuccess(destination={bucket}), onFailure=null) "
        "is invalid.",
    )


@pytest.mark.parametrize(
    "destination",
    [
        f"arn:aws:sqs:{REGION}:{ACCOUNT}:queue",
        f"arn:aws:sns:{REGION}:{ACCOUNT}:topic",
        f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default",
    ],
)
def test_supported_destination_services(lam, create_function, destination):
    name = create_function()["FunctionName"]
    put = lam.put_function_event_invoke_config(
        FunctionName=name,
        DestinationConfig={"OnSuccess": {"Destination": destination}, "OnFailure": {"Destination": destination}},
    )
    assert put["DestinationConfig"] == {"OnSuccess": {"Destination": destination}, "OnFailure": {"Destination": destination}}


def test_destination_arn_pattern(raw, create_function):
    name = create_function()["FunctionName"]
    bad = arn_of(name).replace(":lambda:", ":_-/!lambda:")
    with pytest.raises(ClientError) as raised:
        raw.put_function_event_invoke_config(FunctionName=name, DestinationConfig={"OnFailure": {"Destination": bad}})
    assert error_of(raised) == (
        400,
        "ValidationException",
        f"1 validation error detected: Value '{bad}' at 'destinationConfig.onFailure.destination' failed to satisfy "
        f"constraint: Member must satisfy regular expression pattern: {DESTINATION_PATTERN}",
    )


# -- missing function, version, alias or config -------------------------------------------


def test_missing_function(lam):
    for call in (
        lambda: lam.put_function_event_invoke_config(FunctionName="doesnotexist", MaximumRetryAttempts=1),
        lambda: lam.put_function_event_invoke_config(FunctionName=arn_of("doesnotexist"), MaximumRetryAttempts=1),
        lambda: lam.update_function_event_invoke_config(FunctionName="doesnotexist", MaximumRetryAttempts=0),
        lambda: lam.list_function_event_invoke_configs(FunctionName="doesnotexist"),
    ):
        with pytest.raises(ClientError) as raised:
            call()
        assert error_of(raised) == (404, "ResourceNotFoundException", NO_FUNCTION)
    for call in (
        lambda: lam.get_function_event_invoke_config(FunctionName="doesnotexist"),
        lambda: lam.delete_function_event_invoke_config(FunctionName="doesnotexist"),
    ):
        with pytest.raises(ClientError) as raised:
            call()
        assert error_of(raised) == (404, "ResourceNotFoundException", no_config("doesnotexist", "$LATEST"))


def test_missing_version_or_alias(lam, versioned):
    name = versioned
    for qualifier in ("livedoesnotexist", "7"):  # the version case is inferred from the alias one
        with pytest.raises(ClientError) as raised:
            lam.put_function_event_invoke_config(FunctionName=name, Qualifier=qualifier, MaximumRetryAttempts=1)
        assert error_of(raised) == (404, "ResourceNotFoundException", NO_FUNCTION)
        with pytest.raises(ClientError) as raised:
            lam.get_function_event_invoke_config(FunctionName=name, Qualifier=qualifier)
        assert error_of(raised) == (404, "ResourceNotFoundException", no_config(name, qualifier))


def test_update_without_a_config(lam, versioned):
    name = versioned
    with pytest.raises(ClientError) as raised:
        lam.update_function_event_invoke_config(FunctionName=arn_of(name, "live"), MaximumRetryAttempts=0)
    assert error_of(raised) == (404, "ResourceNotFoundException", no_config(name, "live"))
    with pytest.raises(ClientError) as raised:
        lam.update_function_event_invoke_config(FunctionName=arn_of(name), MaximumRetryAttempts=0)
    assert error_of(raised) == (404, "ResourceNotFoundException", no_config(name, "$LATEST"))


def test_deleting_the_function_deletes_its_configs(lam, versioned, create_function):
    name = versioned
    for qualifier in ("$LATEST", "1", "live"):
        lam.put_function_event_invoke_config(FunctionName=name, Qualifier=qualifier, MaximumRetryAttempts=0)
    lam.delete_function(FunctionName=name)

    create_function(FunctionName=name)
    assert lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"] == []
    with pytest.raises(ClientError) as raised:
        lam.get_function_event_invoke_config(FunctionName=name)
    assert error_of(raised) == (404, "ResourceNotFoundException", no_config(name, "$LATEST"))


# -- recursion config ---------------------------------------------------------------------


def test_recursion_config(lam, create_function):
    name = create_function()["FunctionName"]
    default = lam.get_function_recursion_config(FunctionName=name)
    assert default["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert default["RecursiveLoop"] == "Terminate"

    put = lam.put_function_recursion_config(FunctionName=name, RecursiveLoop="Allow")
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert {k: v for k, v in put.items() if k != "ResponseMetadata"} == {"RecursiveLoop": "Allow"}
    assert lam.get_function_recursion_config(FunctionName=arn_of(name))["RecursiveLoop"] == "Allow"

    lam.put_function_recursion_config(FunctionName=name, RecursiveLoop="Terminate")
    assert lam.get_function_recursion_config(FunctionName=name)["RecursiveLoop"] == "Terminate"


def test_recursion_config_keeps_other_function_settings(lam, create_function):
    name = create_function()["FunctionName"]
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=3)
    lam.tag_resource(Resource=arn_of(name), Tags={"team": "a"})
    lam.put_function_recursion_config(FunctionName=name, RecursiveLoop="Allow")
    got = lam.get_function(FunctionName=name)
    assert got["Concurrency"] == {"ReservedConcurrentExecutions": 3}
    assert got["Tags"] == {"team": "a"}


def test_recursion_config_bad_value(raw, lam, create_function):
    name = create_function()["FunctionName"]
    with pytest.raises(ClientError) as raised:
        raw.put_function_recursion_config(FunctionName=name, RecursiveLoop="InvalidValue")
    status, code, message = error_of(raised)
    assert (status, code) == (400, "ValidationException")
    assert message.startswith(
        "1 validation error detected: Value 'InvalidValue' at 'recursiveLoop' failed to satisfy constraint: "
        "Member must satisfy enum value set: ["
    )
    assert lam.get_function_recursion_config(FunctionName=name)["RecursiveLoop"] == "Terminate"


def test_recursion_config_bad_value_wording(raw, create_function):
    name = create_function()["FunctionName"]
    with pytest.raises(ClientError) as raised:
        raw.put_function_recursion_config(FunctionName=name, RecursiveLoop="InvalidValue")
    assert error_of(raised)[2] == (
        "1 validation error detected: Value 'InvalidValue' at 'recursiveLoop' failed to satisfy constraint: "
        "Member must satisfy enum value set: [Terminate, Allow]"
    )


def test_recursion_config_missing_function(lam):
    """Inferred: the usual 'Function not found' of function-level operations."""
    for call in (
        lambda: lam.get_function_recursion_config(FunctionName="doesnotexist"),
        lambda: lam.put_function_recursion_config(FunctionName="doesnotexist", RecursiveLoop="Allow"),
    ):
        with pytest.raises(ClientError) as raised:
            call()
        assert error_of(raised) == (404, "ResourceNotFoundException", f"Function not found: {arn_of('doesnotexist')}")


# -- the lookups the async worker uses ----------------------------------------------------


def test_effective_config_and_recursion_allowed(server, lam, versioned):
    name = versioned
    assert publish_new_version(lam, name, 9) == "2"
    lam.create_alias(FunctionName=name, Name="bare", FunctionVersion="1")
    queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:failures"
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    lam.put_function_event_invoke_config(
        FunctionName=name, Qualifier="1", MaximumEventAgeInSeconds=120, DestinationConfig={"OnFailure": {"Destination": queue}}
    )
    lam.put_function_event_invoke_config(FunctionName=name, Qualifier="live", MaximumRetryAttempts=1)
    defaults = {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 21600, "DestinationConfig": EMPTY_DESTINATIONS}
    version_one = {
        "MaximumRetryAttempts": 2,
        "MaximumEventAgeInSeconds": 120,
        "DestinationConfig": {"OnSuccess": {}, "OnFailure": {"Destination": queue}},
    }

    # The server's own database, read as the async worker reads it.
    store = RecordStore(f"sqlite:///{server.data_dir / 'lambdabox.db'}")
    scope = Scope(ACCOUNT, REGION)
    try:
        with store.reading() as records:
            assert effective_config(records, scope, name, "$LATEST", None) == {**defaults, "MaximumRetryAttempts": 0}
            assert effective_config(records, scope, name, "1", None) == version_one
            # Through an alias with a config of its own: that one, whole.
            assert effective_config(records, scope, name, "1", "live") == {**defaults, "MaximumRetryAttempts": 1}
            # Through an alias without one: the version's.
            assert effective_config(records, scope, name, "1", "bare") == version_one
            # No config anywhere: the defaults.
            assert effective_config(records, scope, name, "2", None) == defaults
            assert recursion_allowed(records, scope, name) is False
            assert recursion_allowed(records, scope, "doesnotexist") is False
        lam.put_function_recursion_config(FunctionName=name, RecursiveLoop="Allow")
        with store.reading() as records:
            assert recursion_allowed(records, scope, name) is True
    finally:
        store.close()
