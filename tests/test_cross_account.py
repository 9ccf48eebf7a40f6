"""Another account's function or layer is out of reach until its owner's resource policy says otherwise."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from support import ACCOUNT, REGION, error_of, lambda_role, make_zip

OTHER = "333333333333"


def denied(call, **arguments) -> str:
    with pytest.raises(ClientError) as raised:
        call(**arguments)
    status, code, message = error_of(raised)
    assert (status, code) == (403, "AccessDeniedException"), message
    return message


def test_invoke_is_denied_then_allowed_by_add_permission_then_denied_again(server, lam, create_function, unique):
    name = create_function()["FunctionName"]
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    other = server.client("lambda", account=OTHER)

    message = denied(other.invoke, FunctionName=arn, Payload=b'{"n": 1}')
    assert message == (
        f"User: arn:aws:iam::{OTHER}:root is not authorized to perform: lambda:InvokeFunction on resource: {arn} "
        "because no resource-based policy allows the lambda:InvokeFunction action"
    )

    lam.add_permission(FunctionName=name, StatementId="other-account", Action="lambda:InvokeFunction", Principal=OTHER)
    answer = other.invoke(FunctionName=arn, Payload=b'{"n": 1}')
    assert json.load(answer["Payload"]) == {"hello": {"n": 1}}
    # The grant is for invoking, nothing else.
    denied(other.get_function, FunctionName=arn)
    denied(other.delete_function, FunctionName=arn)
    denied(other.invoke, FunctionName=f"{arn}:$LATEST", Payload=b"{}")

    lam.remove_permission(FunctionName=name, StatementId="other-account")
    denied(other.invoke, FunctionName=arn, Payload=b"{}")
    assert lam.get_function(FunctionName=name)["Configuration"]["FunctionName"] == name


def test_a_grant_to_one_account_is_not_a_grant_to_another(server, lam, create_function):
    name = create_function()["FunctionName"]
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    lam.add_permission(FunctionName=name, StatementId="one", Action="lambda:InvokeFunction", Principal=OTHER)
    denied(server.client("lambda", account="444444444444").invoke, FunctionName=arn, Payload=b"{}")


def test_a_grant_on_an_alias_covers_the_alias_only(server, lam, create_function):
    name = create_function()["FunctionName"]
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    lam.add_permission(FunctionName=name, Qualifier="live", StatementId="alias", Action="lambda:InvokeFunction",
                       Principal=OTHER)
    other = server.client("lambda", account=OTHER)
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    assert other.invoke(FunctionName=f"{arn}:live", Payload=b"{}")["StatusCode"] == 200
    denied(other.invoke, FunctionName=arn, Payload=b"{}")
    denied(other.invoke, FunctionName=f"{arn}:1", Payload=b"{}")


def test_a_layer_is_private_until_shared(server, unique):
    owner_lam = server.client("lambda")
    layer = unique("layer")
    version = owner_lam.publish_layer_version(
        LayerName=layer, Content={"ZipFile": make_zip({"python/shared.py": "VALUE = 7\n"})},
        CompatibleRuntimes=["python3.12"],
    )
    arn = version["LayerVersionArn"]
    other = server.client("lambda", account=OTHER)
    other_role = lambda_role_in(server, OTHER, unique("role"))
    code = {"ZipFile": make_zip({"app.py": "import shared\ndef handler(event, context):\n    return shared.VALUE\n"})}

    message = denied(other.get_layer_version_by_arn, Arn=arn)
    assert "lambda:GetLayerVersion" in message and arn in message
    function = unique("fn")
    denied(other.create_function, FunctionName=function, Runtime="python3.12", Role=other_role, Handler="app.handler",
           Code=code, Layers=[arn])

    owner_lam.add_layer_version_permission(
        LayerName=layer, VersionNumber=version["Version"], StatementId="share", Action="lambda:GetLayerVersion",
        Principal=OTHER,
    )
    assert other.get_layer_version_by_arn(Arn=arn)["LayerVersionArn"] == arn
    other.create_function(FunctionName=function, Runtime="python3.12", Role=other_role, Handler="app.handler",
                          Code=code, Layers=[arn])
    other.get_waiter("function_active_v2").wait(FunctionName=function)
    assert json.load(other.invoke(FunctionName=function)["Payload"]) == 7
    # Shared with one account, not with a third.
    denied(server.client("lambda", account="444444444444").get_layer_version_by_arn, Arn=arn)

    owner_lam.remove_layer_version_permission(LayerName=layer, VersionNumber=version["Version"], StatementId="share")
    denied(other.get_layer_version_by_arn, Arn=arn)
    denied(other.update_function_configuration, FunctionName=function, Layers=[arn])


def test_a_layer_shared_with_everyone(server, unique):
    owner_lam = server.client("lambda")
    layer = unique("public")
    version = owner_lam.publish_layer_version(LayerName=layer, Content={"ZipFile": make_zip({"python/x.py": ""})})
    owner_lam.add_layer_version_permission(
        LayerName=layer, VersionNumber=version["Version"], StatementId="all", Action="lambda:GetLayerVersion",
        Principal="*",
    )
    reader = server.client("lambda", account="555555555555")
    assert reader.get_layer_version_by_arn(Arn=version["LayerVersionArn"])["Version"] == version["Version"]
    # Reading is all "*" was given: the layer can't be deleted or re-shared by others.
    denied(reader.delete_layer_version, LayerName=version["LayerArn"], VersionNumber=version["Version"])


def lambda_role_in(server, account: str, name: str) -> str:
    from support import TRUST

    return server.client("iam", account=account).create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
