"""Each region of an account is a world of its own, as on AWS: functions, layers, aliases, tags, concurrency and
account settings are kept apart per region, and one region's resources can't be reached from another."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from support import ACCOUNT, make_zip

EAST, WEST = "us-east-1", "eu-west-1"


@pytest.fixture
def regional(server):
    return {region: server.client("lambda", region=region) for region in (EAST, WEST)}


def error_of(raised) -> tuple[int, str, str]:
    response = raised.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


def test_the_same_name_in_two_regions_is_two_functions(regional, role, unique):
    name = unique("twin")
    for region, lam in regional.items():
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                            Code={"ZipFile": make_zip({"app.py": f"def handler(e, c):\n    return '{region}'\n"})},
                            Tags={"home": region})
        lam.get_waiter("function_active_v2").wait(FunctionName=name)
    for region, lam in regional.items():
        config = lam.get_function(FunctionName=name)
        assert config["Configuration"]["FunctionArn"] == f"arn:aws:lambda:{region}:{ACCOUNT}:function:{name}"
        assert config["Tags"] == {"home": region}
        assert lam.invoke(FunctionName=name)["Payload"].read() == f'"{region}"'.encode()

    # Deleting one leaves the other; each region lists only its own.
    regional[WEST].delete_function(FunctionName=name)
    assert name not in [f["FunctionName"] for f in regional[WEST].list_functions()["Functions"]]
    assert name in [f["FunctionName"] for f in regional[EAST].list_functions()["Functions"]]
    assert regional[EAST].invoke(FunctionName=name)["Payload"].read() == f'"{EAST}"'.encode()


def test_another_regions_function_is_not_reachable_by_arn(regional, create_function, unique):
    created = create_function()
    with pytest.raises(ClientError) as raised:
        regional[WEST].get_function(FunctionName=created["FunctionArn"])
    assert error_of(raised) == (404, "ResourceNotFoundException",
                                f"Functions from '{EAST}' are not reachable in this region ('{WEST}')")
    with pytest.raises(ClientError) as raised:
        regional[WEST].invoke(FunctionName=created["FunctionArn"])
    assert error_of(raised)[:2] == (404, "ResourceNotFoundException")


def test_layers_stay_in_their_region(regional, role, unique):
    layer_name = unique("regional-layer")
    east_layer = regional[EAST].publish_layer_version(
        LayerName=layer_name, Content={"ZipFile": make_zip({"python/x.py": "X = 1\n"})}
    )["LayerVersionArn"]
    assert layer_name not in [layer["LayerName"] for layer in regional[WEST].list_layers()["Layers"]]
    assert regional[WEST].list_layer_versions(LayerName=layer_name)["LayerVersions"] == []
    with pytest.raises(ClientError) as raised:
        regional[WEST].create_function(FunctionName=unique("west"), Runtime="python3.12", Role=role,
                                       Handler="app.handler", Code={"ZipFile": make_zip()}, Layers=[east_layer])
    assert error_of(raised) == (
        400, "InvalidParameterValueException",
        f"Layers are not in the same region as the function. Layers are expected to be in region {WEST}.",
    )
    # The same layer name in the other region starts at version 1.
    west_layer = regional[WEST].publish_layer_version(
        LayerName=layer_name, Content={"ZipFile": make_zip({"python/x.py": "X = 2\n"})}
    )
    assert west_layer["Version"] == 1


def test_concurrency_is_counted_per_region(regional, role, unique):
    name = unique("reserved")
    for lam in regional.values():
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                            Code={"ZipFile": make_zip()})
    def unreserved() -> list[int]:
        return [lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] for lam in regional.values()]

    east_before, west_before = unreserved()
    regional[EAST].put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=50)
    assert regional[WEST].get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions") is None
    assert unreserved() == [east_before - 50, west_before]
