"""Function URL configs: the five operations and their errors, as recorded from AWS (LocalStack's parity
snapshots of TestLambdaUrl: test_url_config_lifecycle, _list_paging, _exceptions, _deletion_without_qualifier)."""

from __future__ import annotations

import re

import pytest

from support import ACCOUNT, REGION, Server, error_of, lambda_role, make_zip

URL = re.compile(r"http://[a-z0-9]{32}\.lambda-url\.us-east-1\.localhost:\d+/")
NO_CONFIG = "The resource you requested does not exist."
QUALIFIER_RULE = r"Member must satisfy regular expression pattern: ((?!^\d+$)^[0-9a-zA-Z-_]+$)"


def arn_of(name: str, qualifier: str | None = None) -> str:
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def body(response: dict) -> dict:
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}


def test_lifecycle(lam, create_function):
    name = create_function()["FunctionName"]
    created = lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert set(body(created)) == {"AuthType", "CreationTime", "FunctionArn", "FunctionUrl"}
    assert created["FunctionArn"] == arn_of(name) and URL.fullmatch(created["FunctionUrl"])
    with pytest.raises(Exception) as raised:
        lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    assert error_of(raised) == (
        409, "ResourceConflictException",
        f"Failed to create function url config for [functionArn = {arn_of(name)}]. Error message:  "
        "FunctionUrlConfig exists for this Lambda function",
    )
    got = lam.get_function_url_config(FunctionName=name)
    assert set(body(got)) == {"AuthType", "CreationTime", "FunctionArn", "FunctionUrl", "InvokeMode", "LastModifiedTime"}
    assert got["InvokeMode"] == "BUFFERED" and got["FunctionUrl"] == created["FunctionUrl"]
    cors = {"AllowOrigins": ["https://a.example"], "AllowMethods": ["GET", "POST"], "AllowHeaders": ["x-a"],
            "ExposeHeaders": ["x-b"], "AllowCredentials": True, "MaxAge": 60}
    updated = lam.update_function_url_config(FunctionName=name, AuthType="AWS_IAM", Cors=cors)
    assert set(body(updated)) == {"AuthType", "CreationTime", "FunctionArn", "FunctionUrl", "LastModifiedTime", "Cors"}
    assert updated["AuthType"] == "AWS_IAM" and updated["Cors"] == cors
    assert updated["CreationTime"] == created["CreationTime"]
    assert lam.get_function_url_config(FunctionName=name)["Cors"] == cors
    streaming = lam.update_function_url_config(FunctionName=name, InvokeMode="RESPONSE_STREAM")
    assert streaming["InvokeMode"] == "RESPONSE_STREAM" and streaming["AuthType"] == "AWS_IAM"
    assert lam.delete_function_url_config(FunctionName=name)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(Exception) as raised:
        lam.get_function_url_config(FunctionName=name)
    assert error_of(raised) == (404, "ResourceNotFoundException", NO_CONFIG)


def test_aliases_and_listing(lam, create_function):
    name = create_function()["FunctionName"]
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="urlalias", FunctionVersion=version)
    assert lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"] == []
    plain = lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    aliased = lam.create_function_url_config(FunctionName=name, Qualifier="urlalias", AuthType="NONE")
    assert aliased["FunctionArn"] == arn_of(name, "urlalias") and aliased["FunctionUrl"] != plain["FunctionUrl"]
    listed = lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"]
    assert [config["FunctionArn"] for config in listed] == [arn_of(name), arn_of(name, "urlalias")]
    assert all(config["InvokeMode"] == "BUFFERED" for config in listed)
    first = lam.list_function_url_configs(FunctionName=name, MaxItems=1)
    assert len(first["FunctionUrlConfigs"]) == 1 and first["NextMarker"]
    rest = lam.list_function_url_configs(FunctionName=name, Marker=first["NextMarker"])
    assert [config["FunctionArn"] for config in rest["FunctionUrlConfigs"]] == [arn_of(name, "urlalias")]
    # Deleting the unqualified URL leaves the alias's (recorded: test_url_config_deletion_without_qualifier).
    lam.delete_function_url_config(FunctionName=name)
    assert lam.get_function_url_config(FunctionName=name, Qualifier="urlalias")["FunctionArn"] == arn_of(name, "urlalias")
    # Deleting the alias deletes its URL; a new alias of that name has none.
    lam.delete_alias(FunctionName=name, Name="urlalias")
    lam.create_alias(FunctionName=name, Name="urlalias", FunctionVersion=version)
    assert lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"] == []


@pytest.mark.parametrize("qualifier", ["1", "2", "$LATEST"])
def test_versions_are_refused(raw_lam, create_function, qualifier):
    name = create_function()["FunctionName"]
    raw_lam.publish_version(FunctionName=name)
    message = f"1 validation error detected: Value '{qualifier}' at 'qualifier' failed to satisfy constraint: {QUALIFIER_RULE}"
    for call, extra in ((raw_lam.create_function_url_config, {"AuthType": "NONE"}), (raw_lam.get_function_url_config, {}),
                        (raw_lam.delete_function_url_config, {})):
        with pytest.raises(Exception) as raised:
            call(FunctionName=name, Qualifier=qualifier, **extra)
        assert error_of(raised) == (400, "ValidationException", message)
    assert raw_lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"] == []


def test_missing_things(lam, create_function, unique):
    missing = unique("gone")
    for call in (lambda: lam.create_function_url_config(FunctionName=missing, AuthType="NONE"),
                 lambda: lam.create_function_url_config(FunctionName=arn_of(missing), AuthType="NONE"),
                 lambda: lam.list_function_url_configs(FunctionName=missing)):
        with pytest.raises(Exception) as raised:
            call()
        assert error_of(raised) == (404, "ResourceNotFoundException", "Function does not exist")
    name = create_function()["FunctionName"]
    with pytest.raises(Exception) as raised:
        lam.create_function_url_config(FunctionName=name, Qualifier="nosuchalias", AuthType="NONE")
    assert error_of(raised) == (404, "ResourceNotFoundException", "Function does not exist")
    for call in (lambda: lam.get_function_url_config(FunctionName=missing),
                 lambda: lam.get_function_url_config(FunctionName=name, Qualifier="nosuchalias"),
                 lambda: lam.get_function_url_config(FunctionName=name),
                 lambda: lam.delete_function_url_config(FunctionName=missing),
                 lambda: lam.update_function_url_config(FunctionName=name, AuthType="NONE")):
        with pytest.raises(Exception) as raised:
            call()
        assert error_of(raised) == (404, "ResourceNotFoundException", NO_CONFIG)
    with pytest.raises(Exception) as raised:
        lam.create_function_url_config(FunctionName=f"{name}:other", Qualifier="urlalias", AuthType="NONE")
    assert error_of(raised) == (
        400, "InvalidParameterValueException",
        "The derived qualifier from the function name does not match the specified qualifier.",
    )


def test_bad_settings_change_nothing(raw_lam, create_function):
    name = create_function()["FunctionName"]
    with pytest.raises(Exception) as raised:
        raw_lam.create_function_url_config(FunctionName=name, AuthType="SOMETIMES")
    assert error_of(raised)[:2] == (400, "ValidationException")
    with pytest.raises(Exception) as raised:
        raw_lam.create_function_url_config(FunctionName=name, AuthType="NONE", Cors={"AllowMethods": ["TOOLONGMETHOD"]})
    assert error_of(raised)[:2] == (400, "ValidationException")
    assert raw_lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"] == []


def test_another_accounts_url_config_is_out_of_reach(server: Server, create_function):
    name = create_function()["FunctionName"]
    server.client("lambda").create_function_url_config(FunctionName=name, AuthType="NONE")
    other = server.client("lambda", account="222233334444")
    for call in (lambda: other.get_function_url_config(FunctionName=arn_of(name)),
                 lambda: other.delete_function_url_config(FunctionName=arn_of(name)),
                 lambda: other.update_function_url_config(FunctionName=arn_of(name), AuthType="AWS_IAM")):
        with pytest.raises(Exception) as raised:
            call()
        assert error_of(raised)[0] == 403
    assert server.client("lambda").get_function_url_config(FunctionName=name)["AuthType"] == "NONE"


def test_deleted_with_the_function_and_kept_across_restarts(fresh_server: Server):
    lam = fresh_server.client("lambda")
    role = lambda_role(fresh_server, "url-role")
    for name in ("kept", "dropped"):
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                            Code={"ZipFile": make_zip()})
        lam.get_waiter("function_active_v2").wait(FunctionName=name)
        lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")
    before = lam.get_function_url_config(FunctionName="kept")
    lam.delete_function(FunctionName="dropped")
    fresh_server.stop()
    fresh_server.start()
    lam = fresh_server.client("lambda")
    assert body(lam.get_function_url_config(FunctionName="kept")) == body(before)
    lam.create_function(FunctionName="dropped", Runtime="python3.12", Role=role, Handler="app.handler",
                        Code={"ZipFile": make_zip()})
    with pytest.raises(Exception) as raised:
        lam.get_function_url_config(FunctionName="dropped")
    assert error_of(raised) == (404, "ResourceNotFoundException", NO_CONFIG)
