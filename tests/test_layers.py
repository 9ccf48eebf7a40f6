"""Layers: PublishLayerVersion, Get/List/Delete, and functions that reference layer versions."""

from __future__ import annotations

import base64
import hashlib
import re
import urllib.request

import pytest
from botocore.exceptions import ClientError

from support import ACCOUNT, REGION, error_of, make_zip

MISSING = "The resource you requested does not exist."

#: CreatedDate, as Lambda writes it: milliseconds and a literal +0000.
LAMBDA_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000")


def layer_zip(marker: str) -> bytes:
    return make_zip({f"python/{marker}.py": f"VALUE = {marker!r}\n"})


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def all_layers(lam, **filters) -> dict[str, dict]:
    found = {}
    for page in lam.get_paginator("list_layers").paginate(**filters):
        for layer in page["Layers"]:
            found[layer["LayerName"]] = layer
    return found


@pytest.fixture
def publish(lam, unique):
    """Publish a version of a layer (a fresh one unless `name` is given); returns the response."""

    def publish_version(name: str | None = None, data: bytes | None = None, **arguments):
        name = name or unique("layer")
        return lam.publish_layer_version(LayerName=name, Content={"ZipFile": data or layer_zip(name)}, **arguments)

    return publish_version


# -- publish and read ------------------------------------------------------------------


def test_publish_numbers_versions_from_one_and_describes_them(lam, unique):
    name = unique("layer")
    layer_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{name}"
    archives = [layer_zip(f"v{i}") for i in (1, 2, 3)]

    published = [
        lam.publish_layer_version(LayerName=name, Content={"ZipFile": data}, Description=f"version {i}")
        for i, data in enumerate(archives, start=1)
    ]

    for number, (response, data) in enumerate(zip(published, archives), start=1):
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 201
        assert response["Version"] == number
        assert response["LayerArn"] == layer_arn
        assert response["LayerVersionArn"] == f"{layer_arn}:{number}"
        assert response["Description"] == f"version {number}"
        assert LAMBDA_TIME.fullmatch(response["CreatedDate"])
        assert response["CompatibleRuntimes"] == []
        assert response["CompatibleArchitectures"] == []
        content = response["Content"]
        assert content["CodeSha256"] == sha256_b64(data)
        assert content["CodeSize"] == len(data)
        assert download(content["Location"]) == data


def test_publish_keeps_compatibility_and_license(publish):
    response = publish(
        CompatibleRuntimes=["python3.12", "python3.13"], CompatibleArchitectures=["x86_64"], LicenseInfo="MIT"
    )
    assert response["CompatibleRuntimes"] == ["python3.12", "python3.13"]
    assert response["CompatibleArchitectures"] == ["x86_64"]
    assert response["LicenseInfo"] == "MIT"


def test_get_layer_version_by_name_arn_and_version_arn(lam, publish):
    data = layer_zip("got")
    first = publish(data=data, CompatibleRuntimes=["python3.12"])
    name = first["LayerArn"].rsplit(":", 1)[1]
    publish(name)

    by_name = lam.get_layer_version(LayerName=name, VersionNumber=1)
    by_layer_arn = lam.get_layer_version(LayerName=first["LayerArn"], VersionNumber=1)
    by_arn = lam.get_layer_version_by_arn(Arn=first["LayerVersionArn"])

    for got in (by_name, by_layer_arn, by_arn):
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert got["Version"] == 1
        assert got["LayerArn"] == first["LayerArn"]
        assert got["LayerVersionArn"] == first["LayerVersionArn"]
        assert got["CreatedDate"] == first["CreatedDate"]
        assert got["CompatibleRuntimes"] == ["python3.12"]
        assert got["Content"]["CodeSha256"] == sha256_b64(data)
        assert got["Content"]["CodeSize"] == len(data)
        assert download(got["Content"]["Location"]) == data
    assert lam.get_layer_version(LayerName=name, VersionNumber=2)["Version"] == 2


# -- list ------------------------------------------------------------------------------


def test_list_layers_shows_the_latest_matching_version(lam, publish):
    first = publish(CompatibleRuntimes=["python3.11"], CompatibleArchitectures=["x86_64"])
    name = first["LayerArn"].rsplit(":", 1)[1]
    second = publish(name, CompatibleRuntimes=["python3.12"], CompatibleArchitectures=["x86_64"])
    third = publish(name, CompatibleRuntimes=["nodejs20.x"], CompatibleArchitectures=["arm64"])

    layer = all_layers(lam)[name]
    assert layer["LayerArn"] == first["LayerArn"]
    latest = layer["LatestMatchingVersion"]
    assert latest["Version"] == 3
    assert latest["LayerVersionArn"] == third["LayerVersionArn"]
    assert latest["CreatedDate"] == third["CreatedDate"]
    assert latest["CompatibleRuntimes"] == ["nodejs20.x"]
    assert "Content" not in latest

    assert all_layers(lam, CompatibleRuntime="python3.12")[name]["LatestMatchingVersion"]["LayerVersionArn"] == (
        second["LayerVersionArn"]
    )
    assert all_layers(lam, CompatibleRuntime="python3.11")[name]["LatestMatchingVersion"]["Version"] == 1
    assert name not in all_layers(lam, CompatibleRuntime="python3.9")
    assert all_layers(lam, CompatibleArchitecture="x86_64")[name]["LatestMatchingVersion"]["Version"] == 2


def test_list_layer_versions_newest_first_with_pagination(lam, publish):
    first = publish()
    name = first["LayerArn"].rsplit(":", 1)[1]
    for _ in range(3):
        publish(name)

    everything = lam.list_layer_versions(LayerName=name)
    assert [item["Version"] for item in everything["LayerVersions"]] == [4, 3, 2, 1]
    assert "NextMarker" not in everything
    assert everything["LayerVersions"][-1]["LayerVersionArn"] == first["LayerVersionArn"]
    assert "Content" not in everything["LayerVersions"][0]

    page1 = lam.list_layer_versions(LayerName=name, MaxItems=3)
    assert [item["Version"] for item in page1["LayerVersions"]] == [4, 3, 2]
    assert page1["NextMarker"]
    page2 = lam.list_layer_versions(LayerName=name, MaxItems=3, Marker=page1["NextMarker"])
    assert [item["Version"] for item in page2["LayerVersions"]] == [1]
    assert "NextMarker" not in page2

    paged = [
        item["Version"]
        for page in lam.get_paginator("list_layer_versions").paginate(LayerName=name, PaginationConfig={"PageSize": 1})
        for item in page["LayerVersions"]
    ]
    assert paged == [4, 3, 2, 1]


def test_list_layer_versions_filters_by_runtime(lam, publish):
    first = publish(CompatibleRuntimes=["python3.12"])
    name = first["LayerArn"].rsplit(":", 1)[1]
    publish(name, CompatibleRuntimes=["nodejs20.x"])
    publish(name, CompatibleRuntimes=["python3.12", "python3.13"])

    listed = lam.list_layer_versions(LayerName=name, CompatibleRuntime="python3.12")["LayerVersions"]
    assert [item["Version"] for item in listed] == [3, 1]


def test_list_layer_versions_of_a_missing_layer_is_empty(lam, unique):
    listed = lam.list_layer_versions(LayerName=unique("nolayer"))
    assert listed["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert listed["LayerVersions"] == []


# -- delete ----------------------------------------------------------------------------


def test_delete_layer_version_is_idempotent_and_numbers_are_not_reused(lam, publish):
    first = publish()
    name = first["LayerArn"].rsplit(":", 1)[1]
    publish(name)
    third = publish(name)

    deleted = lam.delete_layer_version(LayerName=name, VersionNumber=3)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    again = lam.delete_layer_version(LayerName=name, VersionNumber=3)
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 204

    with pytest.raises(ClientError) as raised:
        lam.get_layer_version_by_arn(Arn=third["LayerVersionArn"])
    assert error_of(raised) == (404, "ResourceNotFoundException", MISSING)
    assert [item["Version"] for item in lam.list_layer_versions(LayerName=name)["LayerVersions"]] == [2, 1]
    assert all_layers(lam)[name]["LatestMatchingVersion"]["Version"] == 2

    assert publish(name)["Version"] == 4

    for number in (1, 2, 4):
        lam.delete_layer_version(LayerName=name, VersionNumber=number)
    assert lam.list_layer_versions(LayerName=name)["LayerVersions"] == []
    assert name not in all_layers(lam)
    assert publish(name)["Version"] == 5


def test_delete_of_a_missing_layer_succeeds(lam, unique):
    response = lam.delete_layer_version(LayerName=unique("nolayer"), VersionNumber=1)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204


# -- read errors -----------------------------------------------------------------------


def test_get_missing_layer_or_version_is_not_found(lam, publish, unique):
    first = publish()
    name = first["LayerArn"].rsplit(":", 1)[1]

    for call in (
        lambda: lam.get_layer_version(LayerName=unique("nolayer"), VersionNumber=1),
        lambda: lam.get_layer_version(LayerName=name, VersionNumber=2),
        lambda: lam.get_layer_version_by_arn(Arn=f"{first['LayerArn']}:7"),
    ):
        with pytest.raises(ClientError) as raised:
            call()
        assert error_of(raised) == (404, "ResourceNotFoundException", MISSING)


@pytest.mark.parametrize("number", [0, -1])
def test_version_below_one_is_invalid(lam, publish, number):
    name = publish()["LayerArn"].rsplit(":", 1)[1]
    for call in (lam.get_layer_version, lam.delete_layer_version):
        with pytest.raises(ClientError) as raised:
            call(LayerName=name, VersionNumber=number)
        assert error_of(raised) == (400, "InvalidParameterValueException", "Layer Version Cannot be less than 1")
    assert lam.get_layer_version(LayerName=name, VersionNumber=1)["Version"] == 1


# -- functions with layers -------------------------------------------------------------


def test_function_references_up_to_five_layers(lam, publish, create_function):
    layers = [publish() for _ in range(5)]
    arns = [layer["LayerVersionArn"] for layer in layers]
    expected = [{"Arn": layer["LayerVersionArn"], "CodeSize": layer["Content"]["CodeSize"]} for layer in layers]

    created = create_function(Layers=arns)
    name = created["FunctionName"]

    assert created["Layers"] == expected
    assert lam.get_function_configuration(FunctionName=name)["Layers"] == expected
    assert lam.get_function(FunctionName=name)["Configuration"]["Layers"] == expected

    lam.update_function_configuration(FunctionName=name, Layers=arns[:2])
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    assert lam.get_function_configuration(FunctionName=name)["Layers"] == expected[:2]

    lam.update_function_configuration(FunctionName=name, Layers=[])
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    assert "Layers" not in lam.get_function_configuration(FunctionName=name)


def test_function_without_layers_has_no_layers_key(create_function):
    assert "Layers" not in create_function()


def assert_create_refused(lam, create_function, unique, layers: list[str], message: str) -> None:
    name = unique("fn")
    with pytest.raises(ClientError) as raised:
        create_function(FunctionName=name, Layers=layers)
    assert error_of(raised) == (400, "InvalidParameterValueException", message)
    with pytest.raises(ClientError) as missing:
        lam.get_function(FunctionName=name)
    assert error_of(missing)[:2] == (404, "ResourceNotFoundException")


def test_six_layers_are_refused(lam, publish, create_function, unique):
    arns = [publish()["LayerVersionArn"] for _ in range(6)]
    assert_create_refused(lam, create_function, unique, arns, "Cannot reference more than 5 layers.")


def test_missing_layer_version_is_refused(lam, publish, create_function, unique):
    layer = publish()
    missing_version = f"{layer['LayerArn']}:9"
    assert_create_refused(
        lam, create_function, unique, [missing_version], f"Layer version {missing_version} does not exist."
    )
    missing_layer = f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{unique('nolayer')}:1"
    assert_create_refused(
        lam, create_function, unique, [layer["LayerVersionArn"], missing_layer],
        f"Layer version {missing_layer} does not exist.",
    )


def test_two_versions_of_the_same_layer_are_refused(lam, publish, create_function, unique):
    first = publish()
    second = publish(first["LayerArn"].rsplit(":", 1)[1])
    one, two = first["LayerVersionArn"], second["LayerVersionArn"]
    prefix = "Two different versions of the same layer are not allowed to be referenced in the same function."

    assert_create_refused(
        lam, create_function, unique, [one, two], f"{prefix} {one} and {two} are versions of the same layer."
    )
    assert_create_refused(
        lam, create_function, unique, [two, two], f"{prefix} {two} and {two} are versions of the same layer."
    )


def test_update_with_too_many_layers_changes_nothing(lam, publish, create_function):
    kept = publish()
    name = create_function(Layers=[kept["LayerVersionArn"]])["FunctionName"]
    before = lam.get_function_configuration(FunctionName=name)

    arns = [publish()["LayerVersionArn"] for _ in range(6)]
    with pytest.raises(ClientError) as raised:
        lam.update_function_configuration(FunctionName=name, Layers=arns)
    assert error_of(raised) == (400, "InvalidParameterValueException", "Cannot reference more than 5 layers.")

    after = lam.get_function_configuration(FunctionName=name)
    assert after["Layers"] == before["Layers"]
    assert after["RevisionId"] == before["RevisionId"]


def test_function_keeps_a_layer_version_deleted_after_it(lam, publish, create_function, unique):
    layer = publish()
    name = layer["LayerArn"].rsplit(":", 1)[1]
    expected = [{"Arn": layer["LayerVersionArn"], "CodeSize": layer["Content"]["CodeSize"]}]
    function = create_function(Layers=[layer["LayerVersionArn"]])["FunctionName"]
    published = lam.publish_version(FunctionName=function)["Version"]

    lam.delete_layer_version(LayerName=name, VersionNumber=1)

    assert lam.get_function_configuration(FunctionName=function)["Layers"] == expected
    assert lam.get_function(FunctionName=function)["Configuration"]["Layers"] == expected
    assert lam.get_function_configuration(FunctionName=function, Qualifier=published)["Layers"] == expected
    lam.update_function_configuration(FunctionName=function, Description="still layered")
    lam.get_waiter("function_updated_v2").wait(FunctionName=function)
    updated = lam.get_function_configuration(FunctionName=function)
    assert updated["Description"] == "still layered"
    assert updated["Layers"] == expected

    # A new reference to the deleted version is refused.
    arn = layer["LayerVersionArn"]
    assert_create_refused(lam, create_function, unique, [arn], f"Layer version {arn} does not exist.")


def test_malformed_layer_arns_are_validation_errors(lam, publish, create_function, unique):
    layer = publish()
    unversioned = layer["LayerArn"]

    with pytest.raises(ClientError) as raised:
        lam.get_layer_version_by_arn(Arn=unversioned)
    status, code, message = error_of(raised)
    assert (status, code) == (400, "ValidationException")
    assert message.startswith(
        f"1 validation error detected: Value '{unversioned}' at 'arn' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: "
    )

    name = unique("fn")
    with pytest.raises(ClientError) as raised:
        create_function(FunctionName=name, Layers=[unversioned])
    status, code, message = error_of(raised)
    assert (status, code) == (400, "ValidationException")
    # AWS's text, as recorded from Lambda (its pattern has one group fewer than botocore's model).
    assert message == (
        f"1 validation error detected: Value '[{unversioned}]' at 'layers' failed to satisfy constraint: "
        "Member must satisfy constraint: [Member must have length less than or equal to 2048, "
        "Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: "
        r"(arn:(aws[a-zA-Z-]*)?:lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:layer:"
        r"[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+), Member must not be null]"
    )
    with pytest.raises(ClientError) as missing:
        lam.get_function(FunctionName=name)
    assert error_of(missing)[:2] == (404, "ResourceNotFoundException")


def test_list_layers_with_an_unknown_runtime_is_a_validation_error(lam):
    with pytest.raises(ClientError) as raised:
        lam.list_layers(CompatibleRuntime="runtimedoesnotexist")
    status, code, message = error_of(raised)
    assert (status, code) == (400, "ValidationException")
    assert message.startswith(
        "1 validation error detected: Value 'runtimedoesnotexist' at 'compatibleRuntime' failed to satisfy "
        "constraint: Member must satisfy enum value set: ["
    )
