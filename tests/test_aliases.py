"""Aliases through boto3: lifecycle, weighted routing, and AWS's errors."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from support import REVISION_MISMATCH, arn, aws_error

WEIGHTS = "routingConfig.additionalVersionWeights"


def without_metadata(response: dict) -> dict:
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}


@pytest.fixture
def versioned(lam, create_function, unique):
    """A function with published versions 1, 2 and 3 (Timeouts 3, 4 and 5; $LATEST has 6)."""
    name = unique("fn")
    create_function(FunctionName=name)
    for timeout in (4, 5, 6):
        lam.publish_version(FunctionName=name)
        lam.update_function_configuration(FunctionName=name, Timeout=timeout)
        deadline = time.monotonic() + 10
        while lam.get_function_configuration(FunctionName=name)["LastUpdateStatus"] == "InProgress":
            assert time.monotonic() < deadline
            time.sleep(0.02)
    return name


def test_alias_lifecycle(lam, versioned):
    name = versioned
    created = lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1", Description="production")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    created = without_metadata(created)
    assert set(created) == {"AliasArn", "Description", "FunctionVersion", "Name", "RevisionId"}
    assert created["AliasArn"] == arn(name, "live")
    assert (created["Name"], created["FunctionVersion"], created["Description"]) == ("live", "1", "production")

    assert without_metadata(lam.get_alias(FunctionName=name, Name="live")) == created
    assert without_metadata(lam.get_alias(FunctionName=arn(name), Name="live")) == created

    updated = without_metadata(lam.update_alias(FunctionName=name, Name="live", FunctionVersion="2"))
    assert updated["FunctionVersion"] == "2"
    assert updated["Description"] == "production", "what the update does not name stays"
    assert updated["RevisionId"] != created["RevisionId"]
    assert without_metadata(lam.get_alias(FunctionName=name, Name="live")) == updated

    updated = without_metadata(lam.update_alias(FunctionName=name, Name="live", Description="new words"))
    assert (updated["FunctionVersion"], updated["Description"]) == ("2", "new words")

    deleted = lam.delete_alias(FunctionName=name, Name="live")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert aws_error(lam.get_alias, FunctionName=name, Name="live") == (
        404,
        "ResourceNotFoundException",
        f"Cannot find alias arn: {arn(name, 'live')}",
    )
    assert lam.list_aliases(FunctionName=name)["Aliases"] == []


def test_alias_to_latest(lam, versioned):
    created = lam.create_alias(FunctionName=versioned, Name="head", FunctionVersion="$LATEST")
    assert created["FunctionVersion"] == "$LATEST"
    assert lam.get_function_configuration(FunctionName=versioned, Qualifier="head")["Timeout"] == 6


def test_weighted_routing(lam, versioned):
    name = versioned
    created = lam.create_alias(
        FunctionName=name, Name="canary", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}}
    )
    assert created["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.5}}
    assert lam.get_alias(FunctionName=name, Name="canary")["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.5}}

    shifted = lam.update_alias(FunctionName=name, Name="canary", RoutingConfig={"AdditionalVersionWeights": {"3": 0.25}})
    assert (shifted["FunctionVersion"], shifted["RoutingConfig"]) == ("1", {"AdditionalVersionWeights": {"3": 0.25}})

    # Updating only the version keeps the routing.
    moved = lam.update_alias(FunctionName=name, Name="canary", FunctionVersion="2")
    assert moved["RoutingConfig"] == {"AdditionalVersionWeights": {"3": 0.25}}

    # An empty RoutingConfig removes the routing, and is then left out of the alias.
    cleared = lam.update_alias(FunctionName=name, Name="canary", RoutingConfig={"AdditionalVersionWeights": {}})
    assert "RoutingConfig" not in cleared
    assert "RoutingConfig" not in lam.get_alias(FunctionName=name, Name="canary")

    plain = lam.create_alias(
        FunctionName=name, Name="plain", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {}}
    )
    assert "RoutingConfig" not in plain


def test_list_aliases(lam, versioned):
    name = versioned
    lam.create_alias(FunctionName=name, Name="a-one", FunctionVersion="1")
    lam.create_alias(FunctionName=name, Name="b-two", FunctionVersion="2")
    lam.create_alias(FunctionName=name, Name="c-one", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"3": 0.1}})
    lam.create_alias(FunctionName=name, Name="d-latest", FunctionVersion="$LATEST")

    everything = lam.list_aliases(FunctionName=name)
    assert "NextMarker" not in everything
    assert [a["Name"] for a in everything["Aliases"]] == ["a-one", "b-two", "c-one", "d-latest"]
    by_name = {a["Name"]: a for a in everything["Aliases"]}
    assert by_name["c-one"] == without_metadata(lam.get_alias(FunctionName=name, Name="c-one"))
    assert by_name["a-one"]["AliasArn"] == arn(name, "a-one")

    pages, marker = [], None
    while True:
        page = lam.list_aliases(FunctionName=name, MaxItems=3, **({"Marker": marker} if marker else {}))
        pages.append([a["Name"] for a in page["Aliases"]])
        marker = page.get("NextMarker")
        if not marker:
            break
    assert pages == [["a-one", "b-two", "c-one"], ["d-latest"]]

    assert [a["Name"] for a in lam.list_aliases(FunctionName=name, FunctionVersion="1")["Aliases"]] == ["a-one", "c-one"]
    assert [a["Name"] for a in lam.list_aliases(FunctionName=name, FunctionVersion="$LATEST")["Aliases"]] == ["d-latest"]
    assert lam.list_aliases(FunctionName=name, FunctionVersion="3")["Aliases"] == []


def test_get_function_through_an_alias(lam, versioned):
    name = versioned
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="2")
    version = lam.get_function_configuration(FunctionName=name, Qualifier="2")

    for arguments in ({"FunctionName": name, "Qualifier": "live"}, {"FunctionName": arn(name, "live")}, {"FunctionName": f"{name}:live"}):
        config = lam.get_function(**arguments)["Configuration"]
        assert config["FunctionArn"] == arn(name, "live"), arguments
        assert config["Version"] == "2"
        assert config["Timeout"] == 4
        assert {k: v for k, v in config.items() if k != "FunctionArn"} == {
            k: v for k, v in version.items() if k not in ("FunctionArn", "ResponseMetadata")
        }
    config = lam.get_function_configuration(FunctionName=name, Qualifier="live")
    assert (config["FunctionArn"], config["Version"]) == (arn(name, "live"), "2")

    lam.update_alias(FunctionName=name, Name="live", FunctionVersion="3")
    assert lam.get_function_configuration(FunctionName=name, Qualifier="live")["Timeout"] == 5


# -- errors ----------------------------------------------------------------------------


def test_alias_already_exists(lam, versioned):
    lam.create_alias(FunctionName=versioned, Name="live", FunctionVersion="1")
    assert aws_error(lam.create_alias, FunctionName=versioned, Name="live", FunctionVersion="2") == (
        409,
        "ResourceConflictException",
        f"Alias already exists: {arn(versioned, 'live')}",
    )
    assert lam.get_alias(FunctionName=versioned, Name="live")["FunctionVersion"] == "1"


def test_alias_target_must_exist(lam, versioned, unique):
    name = versioned
    missing = (404, "ResourceNotFoundException", f"Function not found: {arn(name, '10')}")
    assert aws_error(lam.create_alias, FunctionName=name, Name="live", FunctionVersion="10") == missing
    assert aws_error(
        lam.create_alias, FunctionName=name, Name="live", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"10": 0.5}}
    ) == missing
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    assert aws_error(lam.update_alias, FunctionName=name, Name="live", FunctionVersion="10") == missing
    assert lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "1"

    absent = unique("missing")
    assert aws_error(lam.create_alias, FunctionName=absent, Name="live", FunctionVersion="1") == (
        404,
        "ResourceNotFoundException",
        f"Function not found: {arn(absent, '1')}",
    )


ROUTING_ERRORS = {
    "weight-above-one": (
        "1",
        {"2": 2.0},
        (
            400,
            "ValidationException",
            f"1 validation error detected: Value '{{2=2.0}}' at '{WEIGHTS}' failed to satisfy constraint: "
            "Map value must satisfy constraint: [Member must have value less than or equal to 1.0, "
            "Member must have value greater than or equal to 0.0, Member must not be null]",
        ),
    ),
    "weight-below-zero": (
        "1",
        # An integer, as a CLI user writes it: AWS still prints the double.
        {"2": -1},
        (
            400,
            "ValidationException",
            f"1 validation error detected: Value '{{2=-1.0}}' at '{WEIGHTS}' failed to satisfy constraint: "
            "Map value must satisfy constraint: [Member must have value less than or equal to 1.0, "
            "Member must have value greater than or equal to 0.0, Member must not be null]",
        ),
    ),
    "latest-as-additional-version": (
        "1",
        {"$LATEST": 0.5},
        (
            400,
            "ValidationException",
            f"1 validation error detected: Value '{{$LATEST=0.5}}' at '{WEIGHTS}' failed to satisfy constraint: "
            "Map keys must satisfy constraint: [Member must have length less than or equal to 1024, "
            "Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: [0-9]+]",
        ),
    ),
    "two-additional-versions": (
        "1",
        {"2": 0.25, "3": 0.25},
        (400, "InvalidParameterValueException", "Number of items in AdditionalVersionWeights cannot be greater than 1"),
    ),
    "additional-is-primary": (
        "1",
        {"1": 0.5},
        (
            400,
            "InvalidParameterValueException",
            "Invalid function version 1. Function version 1 is already included in routing configuration.",
        ),
    ),
    "latest-with-weights": (
        "$LATEST",
        {"2": 0.5},
        (400, "InvalidParameterValueException", "$LATEST is not supported for an alias pointing to more than 1 version"),
    ),
}


@pytest.mark.parametrize("primary, weights, expected", ROUTING_ERRORS.values(), ids=ROUTING_ERRORS.keys())
def test_invalid_routing(lam, raw_lam, versioned, primary, weights, expected):
    name = versioned
    routing = {"AdditionalVersionWeights": weights}
    assert aws_error(raw_lam.create_alias, FunctionName=name, Name="bad", FunctionVersion=primary, RoutingConfig=routing) == expected
    assert lam.list_aliases(FunctionName=name)["Aliases"] == []

    lam.create_alias(FunctionName=name, Name="good", FunctionVersion="3")
    before = lam.get_alias(FunctionName=name, Name="good")
    assert aws_error(raw_lam.update_alias, FunctionName=name, Name="good", FunctionVersion=primary, RoutingConfig=routing) == expected
    assert lam.get_alias(FunctionName=name, Name="good") | {"ResponseMetadata": None} == before | {"ResponseMetadata": None}


def test_error_bodies_carry_type_as_aws_sends_it(lam, versioned):
    with pytest.raises(ClientError) as caught:
        lam.create_alias(FunctionName=versioned, Name="x", FunctionVersion="$LATEST", RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
    assert "Type" not in caught.value.response, "AWS sends this error with no Type"
    with pytest.raises(ClientError) as caught:
        lam.create_alias(FunctionName=versioned, Name="x", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}})
    assert caught.value.response["Type"] == "User"


def test_alias_name_may_not_be_all_digits(lam, versioned):
    assert aws_error(lam.create_alias, FunctionName=versioned, Name="2024", FunctionVersion="1") == (
        400,
        "ValidationException",
        "1 validation error detected: Value '2024' at 'name' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)",
    )
    assert lam.create_alias(FunctionName=versioned, Name="v2024", FunctionVersion="1")["Name"] == "v2024"


def test_missing_alias(lam, versioned):
    name = versioned
    assert aws_error(lam.get_alias, FunctionName=name, Name="nope") == (
        404,
        "ResourceNotFoundException",
        f"Cannot find alias arn: {arn(name, 'nope')}",
    )
    assert aws_error(lam.update_alias, FunctionName=name, Name="nope", FunctionVersion="1") == (
        404,
        "ResourceNotFoundException",
        f"Alias not found: {arn(name, 'nope')}",
    )
    assert aws_error(lam.get_function, FunctionName=name, Qualifier="nope") == (
        404,
        "ResourceNotFoundException",
        f"Function not found: {arn(name, 'nope')}",
    )


def test_update_alias_revision_precondition(lam, versioned):
    name = versioned
    created = lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    lam.update_alias(FunctionName=name, Name="live", Description="moved on")
    assert aws_error(
        lam.update_alias, FunctionName=name, Name="live", FunctionVersion="2", RevisionId=created["RevisionId"]
    ) == (412, "PreconditionFailedException", REVISION_MISMATCH)
    current = lam.get_alias(FunctionName=name, Name="live")
    assert current["FunctionVersion"] == "1"
    assert lam.update_alias(FunctionName=name, Name="live", FunctionVersion="2", RevisionId=current["RevisionId"])[
        "FunctionVersion"
    ] == "2"


def test_deleting_an_alias_frees_its_versions(lam, versioned):
    name = versioned
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"2": 0.3}})
    assert aws_error(lam.delete_function, FunctionName=name, Qualifier="2")[:2] == (409, "ResourceConflictException")
    lam.delete_alias(FunctionName=name, Name="live")
    lam.delete_function(FunctionName=name, Qualifier="2")
    lam.delete_function(FunctionName=name, Qualifier="1")
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]] == ["$LATEST", "3"]
