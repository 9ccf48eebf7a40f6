"""Resource-based policies: AddPermission, RemovePermission, GetPolicy, and the layer version ones.

Expected statements follow the examples in AWS's Lambda developer guide ("Viewing resource-based
IAM policies", "Granting function access to other accounts", "... to an organization", the
layer permission examples), with this server's account, region and names.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from support import ACCOUNT, REGION, Server, arn, error_of, lambda_role, make_zip

NO_POLICY = "The resource you requested does not exist."
NO_ASSOCIATED_POLICY = "No policy is associated with the given resource."
STALE = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetPolicy API to retrieve the latest Revision Id"
)
LAYER_STALE = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetLayerPolicy API to retrieve the latest Revision Id"
)
BAD_PRINCIPAL = "The provided principal was invalid. Please check the principal and try again."


def conflict(sid: str) -> str:
    return (
        f"The statement id ({sid}) provided already exists. Please provide a new statement id, "
        "or remove the existing statement."
    )


def fails(call, **arguments) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as raised:
        call(**arguments)
    return error_of(raised)


def policy_of(lam, name: str, **qualifier) -> tuple[dict, str]:
    got = lam.get_policy(FunctionName=name, **qualifier)
    return json.loads(got["Policy"]), got["RevisionId"]


def revision_of(lam, name: str, qualifier: str | None = None) -> str:
    if qualifier and not qualifier.isdigit():
        return lam.get_alias(FunctionName=name, Name=qualifier)["RevisionId"]
    extra = {"Qualifier": qualifier} if qualifier else {}
    return lam.get_function_configuration(FunctionName=name, **extra)["RevisionId"]


def layer_arn(name: str, version: int) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{name}:{version}"


# -- statements as AWS writes them ---------------------------------------------------------


def test_a_service_with_source_arn_and_account(lam, create_function):
    name = create_function()["FunctionName"]
    added = lam.add_permission(
        FunctionName=name,
        StatementId="lambda-allow-s3-my-function",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
        SourceArn="arn:aws:s3:::amzn-s3-demo-bucket",
        SourceAccount="123456789012",
    )
    assert added["ResponseMetadata"]["HTTPStatusCode"] == 201
    expected = {
        "Sid": "lambda-allow-s3-my-function",
        "Effect": "Allow",
        "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "lambda:InvokeFunction",
        "Resource": arn(name),
        "Condition": {
            "StringEquals": {"AWS:SourceAccount": "123456789012"},
            "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::amzn-s3-demo-bucket"},
        },
    }
    assert json.loads(added["Statement"]) == expected
    # Compact JSON with the keys in AWS's order, as the CLI example prints it.
    assert added["Statement"].startswith('{"Sid":"lambda-allow-s3-my-function","Effect":"Allow","Principal":')

    policy, _ = policy_of(lam, name)
    assert policy == {"Version": "2012-10-17", "Id": "default", "Statement": [expected]}


def test_an_account_principal_becomes_its_root_arn(lam, create_function):
    name = create_function()["FunctionName"]
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="prod", FunctionVersion=version)

    added = lam.add_permission(
        FunctionName=f"{name}:prod", StatementId="xaccount", Action="lambda:InvokeFunction", Principal="111122223333"
    )
    assert json.loads(added["Statement"]) == {
        "Sid": "xaccount",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
        "Action": "lambda:InvokeFunction",
        "Resource": arn(name, "prod"),
    }


def test_iam_arn_and_wildcard_principals(lam, create_function):
    name = create_function()["FunctionName"]
    for sid, principal, element in (
        ("user", "arn:aws:iam::123456789012:user/developer", {"AWS": "arn:aws:iam::123456789012:user/developer"}),
        ("role", "arn:aws:iam::444455556666:role/example", {"AWS": "arn:aws:iam::444455556666:role/example"}),
        ("root", "arn:aws:iam::444455556666:root", {"AWS": "arn:aws:iam::444455556666:root"}),
        ("anyone", "*", "*"),
    ):
        added = lam.add_permission(FunctionName=name, StatementId=sid, Action="lambda:GetFunction", Principal=principal)
        assert json.loads(added["Statement"])["Principal"] == element
    policy, _ = policy_of(lam, name)
    assert [statement["Sid"] for statement in policy["Statement"]] == ["user", "role", "root", "anyone"]


def test_an_organization(lam, create_function):
    name = create_function()["FunctionName"]
    added = lam.add_permission(
        FunctionName=name,
        StatementId="PrincipalOrgIDExample",
        Action="lambda:InvokeFunction",
        Principal="*",
        PrincipalOrgID="o-a1b2c3d4e5f",
    )
    assert json.loads(added["Statement"]) == {
        "Sid": "PrincipalOrgIDExample",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "lambda:InvokeFunction",
        "Resource": arn(name),
        "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5f"}},
    }


def test_function_url_and_event_source_token_conditions(lam, create_function):
    name = create_function()["FunctionName"]
    url = lam.add_permission(
        FunctionName=name,
        StatementId="FunctionURLAllowPublicAccess",
        Action="lambda:InvokeFunctionUrl",
        Principal="*",
        FunctionUrlAuthType="NONE",
    )
    assert json.loads(url["Statement"])["Condition"] == {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}

    via_url = lam.add_permission(
        FunctionName=name,
        StatementId="FunctionURLInvokeAllowPublicAccess",
        Action="lambda:InvokeFunction",
        Principal="*",
        InvokedViaFunctionUrl=True,
    )
    assert json.loads(via_url["Statement"])["Condition"] == {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}}

    alexa = lam.add_permission(
        FunctionName=name,
        StatementId="alexa",
        Action="lambda:InvokeFunction",
        Principal="alexa-connectedhome.amazon.com",
        EventSourceToken="amzn1.ask.skill.1234-abcd",
    )
    assert json.loads(alexa["Statement"]) == {
        "Sid": "alexa",
        "Effect": "Allow",
        "Principal": {"Service": "alexa-connectedhome.amazon.com"},
        "Action": "lambda:InvokeFunction",
        "Resource": arn(name),
        "Condition": {"StringEquals": {"lambda:EventSourceToken": "amzn1.ask.skill.1234-abcd"}},
    }


# -- GetPolicy, RemovePermission, conflicts ------------------------------------------------


def test_a_function_without_a_policy(lam, create_function):
    name = create_function()["FunctionName"]
    assert fails(lam.get_policy, FunctionName=name) == (404, "ResourceNotFoundException", NO_POLICY)
    assert fails(lam.remove_permission, FunctionName=name, StatementId="s") == (
        404,
        "ResourceNotFoundException",
        NO_ASSOCIATED_POLICY,
    )


def test_statement_ids_are_unique_per_policy(lam, create_function):
    name = create_function()["FunctionName"]
    lam.add_permission(FunctionName=name, StatementId="one", Action="lambda:InvokeFunction", Principal="sns.amazonaws.com")
    before = policy_of(lam, name)

    status = fails(
        lam.add_permission, FunctionName=name, StatementId="one", Action="lambda:GetFunction", Principal="111122223333"
    )
    assert status == (409, "ResourceConflictException", conflict("one"))
    assert policy_of(lam, name) == before


def test_remove_permission(lam, create_function):
    name = create_function()["FunctionName"]
    for sid in ("a", "b"):
        lam.add_permission(FunctionName=name, StatementId=sid, Action="lambda:InvokeFunction", Principal="111122223333")

    removed = lam.remove_permission(FunctionName=name, StatementId="a")
    assert removed["ResponseMetadata"]["HTTPStatusCode"] == 204
    policy, _ = policy_of(lam, name)
    assert [statement["Sid"] for statement in policy["Statement"]] == ["b"]

    assert fails(lam.remove_permission, FunctionName=name, StatementId="a") == (
        404,
        "ResourceNotFoundException",
        "Statement a is not found in resource policy.",
    )
    lam.remove_permission(FunctionName=name, StatementId="b")
    assert fails(lam.get_policy, FunctionName=name) == (404, "ResourceNotFoundException", NO_POLICY)

    # A removed statement id may be used again.
    lam.add_permission(FunctionName=name, StatementId="a", Action="lambda:InvokeFunction", Principal="*")
    assert [s["Sid"] for s in policy_of(lam, name)[0]["Statement"]] == ["a"]


def test_missing_function(lam, unique):
    """Each operation words a missing function its own way, as recorded from AWS."""
    name = unique("nofn")
    assert fails(lam.get_policy, FunctionName=name) == (404, "ResourceNotFoundException", NO_POLICY)
    assert fails(lam.add_permission, FunctionName=name, StatementId="s", Action="lambda:InvokeFunction", Principal="*") == (
        404, "ResourceNotFoundException", f"Function not found: {arn(name)}",
    )
    assert fails(lam.remove_permission, FunctionName=name, StatementId="s") == (
        404, "ResourceNotFoundException", f"No policy found for: {arn(name)}",
    )


# -- RevisionId ------------------------------------------------------------------------------


def test_policy_changes_give_the_function_a_new_revision(lam, create_function):
    name = create_function()["FunctionName"]
    first = revision_of(lam, name)

    lam.add_permission(FunctionName=name, StatementId="s1", Action="lambda:InvokeFunction", Principal="*")
    second = revision_of(lam, name)
    assert second != first
    assert policy_of(lam, name)[1] == second

    assert fails(
        lam.add_permission, FunctionName=name, StatementId="s2", Action="lambda:InvokeFunction", Principal="*",
        RevisionId=first,
    ) == (412, "PreconditionFailedException", STALE)
    assert fails(lam.remove_permission, FunctionName=name, StatementId="s1", RevisionId=first) == (
        412,
        "PreconditionFailedException",
        STALE,
    )
    assert revision_of(lam, name) == second
    assert [s["Sid"] for s in policy_of(lam, name)[0]["Statement"]] == ["s1"]

    lam.add_permission(FunctionName=name, StatementId="s2", Action="lambda:InvokeFunction", Principal="*", RevisionId=second)
    third = revision_of(lam, name)
    lam.remove_permission(FunctionName=name, StatementId="s1", RevisionId=third)
    assert revision_of(lam, name) not in (first, second, third)
    # The function's other clients see the change too: an update with the old RevisionId fails.
    with pytest.raises(ClientError) as raised:
        lam.update_function_configuration(FunctionName=name, Description="x", RevisionId=third)
    assert error_of(raised)[:2] == (412, "PreconditionFailedException")


def test_alias_and_version_revisions(lam, create_function):
    name = create_function()["FunctionName"]
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    latest, published, alias = revision_of(lam, name), revision_of(lam, name, version), revision_of(lam, name, "live")

    lam.add_permission(FunctionName=name, Qualifier="live", StatementId="s", Action="lambda:InvokeFunction", Principal="*")
    assert revision_of(lam, name, "live") != alias
    assert policy_of(lam, name, Qualifier="live")[1] == revision_of(lam, name, "live")
    assert (revision_of(lam, name), revision_of(lam, name, version)) == (latest, published)

    lam.add_permission(FunctionName=name, Qualifier=version, StatementId="s", Action="lambda:InvokeFunction", Principal="*")
    assert revision_of(lam, name, version) != published
    assert policy_of(lam, name, Qualifier=version)[1] == revision_of(lam, name, version)
    assert revision_of(lam, name) == latest


# -- qualifiers ------------------------------------------------------------------------------


def test_each_qualifier_has_its_own_policy(lam, create_function):
    name = create_function()["FunctionName"]
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)

    lam.add_permission(FunctionName=name, StatementId="fn", Action="lambda:InvokeFunction", Principal="*")
    lam.add_permission(FunctionName=f"{name}:{version}", StatementId="ver", Action="lambda:InvokeFunction", Principal="*")
    lam.add_permission(FunctionName=name, Qualifier="live", StatementId="ali", Action="lambda:InvokeFunction", Principal="*")

    def resources(**qualifier) -> list[tuple[str, str]]:
        return [(s["Sid"], s["Resource"]) for s in policy_of(lam, name, **qualifier)[0]["Statement"]]

    assert resources() == [("fn", arn(name))]
    assert resources(Qualifier=version) == [("ver", arn(name, version))]
    assert resources(Qualifier="live") == [("ali", arn(name, "live"))]
    # $LATEST reads (and removes from) the function's own policy.
    assert resources(Qualifier="$LATEST") == [("fn", arn(name))]

    # The same statement id in another qualifier's policy is no conflict; removal is per qualifier.
    lam.add_permission(FunctionName=name, Qualifier="live", StatementId="fn", Action="lambda:InvokeFunction", Principal="*")
    lam.remove_permission(FunctionName=name, Qualifier="live", StatementId="fn")
    assert resources() == [("fn", arn(name))]


def test_latest_and_unknown_qualifiers(lam, create_function):
    name = create_function()["FunctionName"]
    assert fails(
        lam.add_permission, FunctionName=name, Qualifier="$LATEST", StatementId="s", Action="lambda:InvokeFunction",
        Principal="*",
    ) == (400, "InvalidParameterValueException", "We currently do not support adding policies for $LATEST.")
    assert fails(
        lam.add_permission, FunctionName=f"{name}:$LATEST", StatementId="s", Action="lambda:InvokeFunction", Principal="*"
    )[:2] == (400, "InvalidParameterValueException")

    for qualifier, words in (("99", "Function not found"), ("nope", "Cannot find alias arn")):
        missing = (404, "ResourceNotFoundException", f"{words}: {arn(name, qualifier)}")
        assert fails(lam.get_policy, FunctionName=name, Qualifier=qualifier) == (404, "ResourceNotFoundException", NO_POLICY)
        assert fails(
            lam.add_permission, FunctionName=name, Qualifier=qualifier, StatementId="s", Action="lambda:InvokeFunction",
            Principal="*",
        ) == missing
        assert fails(lam.remove_permission, FunctionName=name, Qualifier=qualifier, StatementId="s") == missing
    assert fails(lam.get_policy, FunctionName=name) == (404, "ResourceNotFoundException", NO_POLICY)


# -- deletion and restart --------------------------------------------------------------------


def test_deleting_removes_policies(lam, create_function, role):
    name = create_function()["FunctionName"]
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    lam.add_permission(FunctionName=name, Qualifier="live", StatementId="s", Action="lambda:InvokeFunction", Principal="*")
    lam.add_permission(FunctionName=name, StatementId="s", Action="lambda:InvokeFunction", Principal="*")

    # An alias made again under the same name starts without the old one's policy.
    lam.delete_alias(FunctionName=name, Name="live")
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    assert fails(lam.get_policy, FunctionName=name, Qualifier="live") == (404, "ResourceNotFoundException", NO_POLICY)

    # So does a function made again under the same name.
    lam.delete_function(FunctionName=name)
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler", Code={"ZipFile": make_zip()})
    assert fails(lam.get_policy, FunctionName=name) == (404, "ResourceNotFoundException", NO_POLICY)


def policy_rows(data_dir: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(data_dir / "lambdabox.db") as db:
        return sorted(db.execute("SELECT kind, key FROM records WHERE kind IN ('policy', 'layer_policy')").fetchall())


def test_deletes_leave_no_policy_records(fresh_server: Server):
    lam = fresh_server.client("lambda")
    role = lambda_role(fresh_server, "policy-role")
    lam.create_function(FunctionName="f", Runtime="python3.12", Role=role, Handler="app.handler", Code={"ZipFile": make_zip()})
    lam.get_waiter("function_active_v2").wait(FunctionName="f")
    for _ in range(2):
        lam.publish_version(FunctionName="f")
        lam.update_function_configuration(FunctionName="f", Description=str(_))
        lam.get_waiter("function_updated_v2").wait(FunctionName="f")
    lam.create_alias(FunctionName="f", Name="live", FunctionVersion="1")
    for qualifier in ("1", "2", "live", None):
        extra = {"Qualifier": qualifier} if qualifier else {}
        lam.add_permission(FunctionName="f", StatementId="s", Action="lambda:InvokeFunction", Principal="*", **extra)
    lam.publish_layer_version(LayerName="lib", Content={"ZipFile": make_zip({"python/x.py": "X = 1\n"})})
    lam.add_layer_version_permission(LayerName="lib", VersionNumber=1, StatementId="s", Action="lambda:GetLayerVersion", Principal="*")
    assert policy_rows(fresh_server.data_dir) == [
        ("layer_policy", "lib/0000000001"), ("policy", "f/"), ("policy", "f/1"), ("policy", "f/2"), ("policy", "f/live"),
    ]

    lam.delete_function(FunctionName="f", Qualifier="2")
    lam.delete_alias(FunctionName="f", Name="live")
    lam.delete_layer_version(LayerName="lib", VersionNumber=1)
    assert policy_rows(fresh_server.data_dir) == [("policy", "f/"), ("policy", "f/1")]
    lam.delete_function(FunctionName="f")
    assert policy_rows(fresh_server.data_dir) == []


def test_policies_survive_a_restart(tmp_path: Path):
    data_dir = tmp_path / "data"
    first = Server(data_dir).start()
    try:
        lam = first.client("lambda")
        role = lambda_role(first, "restart-role")
        lam.create_function(FunctionName="g", Runtime="python3.12", Role=role, Handler="app.handler", Code={"ZipFile": make_zip()})
        lam.get_waiter("function_active_v2").wait(FunctionName="g")
        lam.add_permission(
            FunctionName="g", StatementId="s3", Action="lambda:InvokeFunction", Principal="s3.amazonaws.com",
            SourceArn='arn:aws:s3:::bucket"}', SourceAccount="123456789012",
        )
        lam.publish_layer_version(LayerName="lib", Content={"ZipFile": make_zip({"python/x.py": "X = 1\n"})})
        lam.add_layer_version_permission(
            LayerName="lib", VersionNumber=1, StatementId="all", Action="lambda:GetLayerVersion", Principal="*"
        )
        before = (lam.get_policy(FunctionName="g"), lam.get_layer_version_policy(LayerName="lib", VersionNumber=1))
    finally:
        first.stop()

    second = Server(data_dir).start()
    try:
        lam = second.client("lambda")
        after = (lam.get_policy(FunctionName="g"), lam.get_layer_version_policy(LayerName="lib", VersionNumber=1))
        for got in before + after:
            got.pop("ResponseMetadata")
        assert after == before
        assert fails(lam.add_permission, FunctionName="g", StatementId="s3", Action="lambda:InvokeFunction", Principal="*")[1] == (
            "ResourceConflictException"
        )
    finally:
        second.stop()

    # The lookups enforcement uses read the same documents, parsed.
    from lambdabox.control.permissions import Permissions
    from lambdabox.model.arns import Scope
    from lambdabox.store.records import RecordStore

    store = RecordStore(f"sqlite:///{data_dir / 'lambdabox.db'}")
    try:
        policies, scope = Permissions(store), Scope(ACCOUNT, REGION)
        assert policies.function_policy(scope, "g", None) == json.loads(after[0]["Policy"])
        assert policies.function_policy(scope, "g", "$LATEST") == json.loads(after[0]["Policy"])
        assert policies.function_policy(scope, "g", "1") is None
        assert policies.function_policy(scope, "nothing", None) is None
        assert policies.function_policy(Scope("111111111111", REGION), "g", None) is None
        assert policies.layer_policy(scope, "lib", 1) == json.loads(after[1]["Policy"])
        assert policies.layer_policy(scope, "lib", 2) is None
    finally:
        store.close()


# -- layers ----------------------------------------------------------------------------------


@pytest.fixture
def layer(lam, unique) -> str:
    name = unique("layer")
    lam.publish_layer_version(LayerName=name, Content={"ZipFile": make_zip({"python/x.py": "X = 1\n"})})
    return name


def test_layer_permission_shapes(lam, layer):
    added = lam.add_layer_version_permission(
        LayerName=layer, VersionNumber=1, StatementId="xaccount", Action="lambda:GetLayerVersion", Principal="210987654321"
    )
    assert added["ResponseMetadata"]["HTTPStatusCode"] == 201
    statement = {
        "Sid": "xaccount",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
        "Action": "lambda:GetLayerVersion",
        "Resource": layer_arn(layer, 1),
    }
    assert json.loads(added["Statement"]) == statement

    org = lam.add_layer_version_permission(
        LayerName=layer_arn(layer, 1).rsplit(":", 1)[0], VersionNumber=1, StatementId="engineering-org",
        Action="lambda:GetLayerVersion", Principal="*", OrganizationId="o-t194hfs8cz", RevisionId=added["RevisionId"],
    )
    assert json.loads(org["Statement"]) == {
        "Sid": "engineering-org",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "lambda:GetLayerVersion",
        "Resource": layer_arn(layer, 1),
        "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-t194hfs8cz"}},
    }
    assert org["RevisionId"] != added["RevisionId"]

    got = lam.get_layer_version_policy(LayerName=layer, VersionNumber=1)
    assert got["RevisionId"] == org["RevisionId"]
    assert json.loads(got["Policy"]) == {
        "Version": "2012-10-17",
        "Id": "default",
        "Statement": [statement, json.loads(org["Statement"])],
    }


def test_layer_policy_errors(lam, layer):
    assert fails(lam.get_layer_version_policy, LayerName=layer, VersionNumber=1) == (
        404,
        "ResourceNotFoundException",
        NO_ASSOCIATED_POLICY,
    )
    first = lam.add_layer_version_permission(
        LayerName=layer, VersionNumber=1, StatementId="s", Action="lambda:GetLayerVersion", Principal="*"
    )
    assert fails(
        lam.add_layer_version_permission, LayerName=layer, VersionNumber=1, StatementId="s",
        Action="lambda:GetLayerVersion", Principal="111122223333",
    ) == (409, "ResourceConflictException", conflict("s"))
    assert fails(
        lam.add_layer_version_permission, LayerName=layer, VersionNumber=1, StatementId="t",
        Action="lambda:GetLayerVersion", Principal="*", RevisionId="stale",
    ) == (412, "PreconditionFailedException", LAYER_STALE)
    assert fails(lam.remove_layer_version_permission, LayerName=layer, VersionNumber=1, StatementId="s", RevisionId="stale") == (
        412, "PreconditionFailedException", LAYER_STALE,
    )
    assert lam.get_layer_version_policy(LayerName=layer, VersionNumber=1)["RevisionId"] == first["RevisionId"]

    assert fails(lam.remove_layer_version_permission, LayerName=layer, VersionNumber=1, StatementId="t") == (
        404,
        "ResourceNotFoundException",
        "Statement t is not found in resource policy.",
    )
    removed = lam.remove_layer_version_permission(
        LayerName=layer, VersionNumber=1, StatementId="s", RevisionId=first["RevisionId"]
    )
    assert removed["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert fails(lam.get_layer_version_policy, LayerName=layer, VersionNumber=1)[:2] == (404, "ResourceNotFoundException")

    missing = (404, "ResourceNotFoundException", f"Layer version {layer_arn(layer, 2)} does not exist.")
    assert fails(lam.get_layer_version_policy, LayerName=layer, VersionNumber=2) == missing
    assert fails(
        lam.add_layer_version_permission, LayerName=layer, VersionNumber=2, StatementId="s",
        Action="lambda:GetLayerVersion", Principal="*",
    ) == missing
    assert fails(lam.remove_layer_version_permission, LayerName=layer, VersionNumber=2, StatementId="s") == missing


def test_layer_permission_input_is_checked(raw_lam, layer):
    for field, value in (
        ("Action", "lambda:InvokeFunction"),
        ("Action", "lambda:GetLayerVersion}"),
        ("Principal", "s3.amazonaws.com"),
        ("Principal", "arn:aws:iam::123456789012:user/x"),
        ("Principal", '"*"'),
        ("StatementId", "a.b"),
        ("OrganizationId", "o-\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"),
    ):
        arguments = {"StatementId": "s", "Action": "lambda:GetLayerVersion", "Principal": "*", field: value}
        status, code, _ = fails(raw_lam.add_layer_version_permission, LayerName=layer, VersionNumber=1, **arguments)
        assert (status, code) == (400, "ValidationException"), (field, value)
    assert fails(raw_lam.get_layer_version_policy, LayerName=layer, VersionNumber=1)[2] == NO_ASSOCIATED_POLICY


def test_another_accounts_layer_is_refused(lam, layer):
    other = f"arn:aws:lambda:{REGION}:999999999999:layer:{layer}"
    status, code, _ = fails(
        lam.add_layer_version_permission, LayerName=other, VersionNumber=1, StatementId="s",
        Action="lambda:GetLayerVersion", Principal="*",
    )
    assert (status, code) == (403, "AccessDeniedException")


# -- hostile input ---------------------------------------------------------------------------


def test_a_policy_over_twenty_kilobytes_is_refused(lam, create_function):
    name = create_function()["FunctionName"]
    # Each statement carries a 9,000-character SourceArn: the third takes the policy past 20,480.
    source = "arn:aws:sns:us-east-1:123456789012:" + "t" * 9000
    for sid in ("big1", "big2"):
        lam.add_permission(
            FunctionName=name, StatementId=sid, Action="lambda:InvokeFunction", Principal="sns.amazonaws.com", SourceArn=source
        )
    before = lam.get_policy(FunctionName=name)
    status, code, message = fails(
        lam.add_permission, FunctionName=name, StatementId="big3", Action="lambda:InvokeFunction",
        Principal="sns.amazonaws.com", SourceArn=source,
    )
    assert (status, code) == (400, "PolicyLengthExceededException")
    assert message.startswith("The final policy size (") and message.endswith(") is bigger than the limit (20480).")
    after = lam.get_policy(FunctionName=name)
    assert (after["Policy"], after["RevisionId"]) == (before["Policy"], before["RevisionId"])
    assert len(after["Policy"]) <= 20480


def test_json_metacharacters_stay_inside_their_strings(lam, create_function):
    name = create_function()["FunctionName"]
    source = 'arn:aws:s3:::b"},"Effect":"Deny","x":{"\\\u2028\u00e9'
    added = lam.add_permission(
        FunctionName=name, StatementId="meta", Action="lambda:InvokeFunction", Principal="s3.amazonaws.com", SourceArn=source
    )
    assert json.loads(added["Statement"])["Condition"] == {"ArnLike": {"AWS:SourceArn": source}}
    policy, _ = policy_of(lam, name)
    assert len(policy["Statement"]) == 1
    assert policy["Statement"][0]["Effect"] == "Allow"
    assert policy["Statement"][0]["Condition"]["ArnLike"]["AWS:SourceArn"] == source


@pytest.mark.parametrize(
    "field, value, code",
    [
        ("StatementId", "caf\u00e9", "ValidationException"),
        ("StatementId", 'a"b', "ValidationException"),
        ("StatementId", "a}", "ValidationException"),
        ("StatementId", "a.b", "ValidationException"),
        ("StatementId", "s" * 10_000, "ValidationException"),
        ("Action", "s3:GetObject", "ValidationException"),
        ("Action", 'lambda:Invoke"}', "ValidationException"),
        ("Action", "lambda:Invoke Function", "ValidationException"),
        ("Action", "lambda:\u00e9", "ValidationException"),
        ("Action", "lambda:" + "A" * 10_000, "ValidationException"),
        ("Principal", "sns amazonaws com", "ValidationException"),
        ("Principal", "p" * 10_000, "ValidationException"),
        ("Principal", "nobody", "InvalidParameterValueException"),
        ("Principal", "\u00fcnic\u00f6de.amazonaws.com", "InvalidParameterValueException"),
        ("Principal", '{"AWS":"*"}', "InvalidParameterValueException"),
        ("Principal", "s3.amazonaws.com\"}", "InvalidParameterValueException"),
        ("Principal", "arn:aws:iam:123456789012:role/x", "InvalidParameterValueException"),
        ("Principal", "12345678901", "InvalidParameterValueException"),
        ("SourceAccount", "12345", "ValidationException"),
        ("SourceArn", "not-an-arn", "ValidationException"),
        ("EventSourceToken", 'tok"}', "ValidationException"),
        ("PrincipalOrgID", "o-\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9", "ValidationException"),
        ("FunctionUrlAuthType", "SOMETIMES", "ValidationException"),
    ],
)
def test_hostile_input_is_refused_and_changes_nothing(raw_lam, create_function, field, value, code):
    name = create_function()["FunctionName"]
    raw_lam.add_permission(FunctionName=name, StatementId="keep", Action="lambda:InvokeFunction", Principal="*")
    before = raw_lam.get_policy(FunctionName=name)

    arguments = {"StatementId": "new", "Action": "lambda:InvokeFunction", "Principal": "*", field: value}
    status, got, message = fails(raw_lam.add_permission, FunctionName=name, **arguments)
    assert (status, got) == (400, code), message
    if code == "InvalidParameterValueException":
        assert message == BAD_PRINCIPAL

    after = raw_lam.get_policy(FunctionName=name)
    assert (after["Policy"], after["RevisionId"]) == (before["Policy"], before["RevisionId"])
