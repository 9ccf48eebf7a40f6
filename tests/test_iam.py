"""IAM over the Query protocol, driven by boto3 against a real server."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

import pytest
from botocore.exceptions import ClientError

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)
PERMISSIONS = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]}
)
BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"


def assert_error(raised: pytest.ExceptionInfo[ClientError], status: int, code: str, message: str) -> None:
    response = raised.value.response
    assert (response["Error"]["Code"], response["Error"]["Message"]) == (code, message)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == status


@pytest.fixture
def role_name(iam, unique) -> str:
    """The name of a fresh role with the Lambda trust policy."""
    name = unique("role")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)
    return name


# Roles


def test_create_and_get_role(iam, unique):
    name = unique("role")
    created = iam.create_role(
        RoleName=name,
        AssumeRolePolicyDocument=TRUST,
        Path="/service-role/",
        Description="runs <things> & more",
        MaxSessionDuration=7200,
        Tags=[{"Key": "env", "Value": "dev"}],
    )["Role"]
    assert created["Arn"] == f"arn:aws:iam::000000000000:role/service-role/{name}"
    assert created["RoleId"].startswith("AROA") and len(created["RoleId"]) == 21
    assert created["AssumeRolePolicyDocument"] == json.loads(TRUST)

    role = iam.get_role(RoleName=name)["Role"]
    assert {key: role[key] for key in ("RoleName", "Path", "Arn", "RoleId", "CreateDate")} == {
        key: created[key] for key in ("RoleName", "Path", "Arn", "RoleId", "CreateDate")
    }
    assert role["Description"] == "runs <things> & more"
    assert role["MaxSessionDuration"] == 7200
    assert role["Tags"] == [{"Key": "env", "Value": "dev"}]
    assert role["AssumeRolePolicyDocument"] == json.loads(TRUST)


def test_role_defaults(iam, role_name):
    role = iam.get_role(RoleName=role_name)["Role"]
    assert role["Path"] == "/"
    assert role["Arn"] == f"arn:aws:iam::000000000000:role/{role_name}"
    assert role["MaxSessionDuration"] == 3600
    assert "Description" not in role and "Tags" not in role


def test_role_exists_waiter(iam, role_name):
    iam.get_waiter("role_exists").wait(RoleName=role_name, WaiterConfig={"Delay": 1, "MaxAttempts": 2})


def test_list_roles_pages_by_marker_under_a_path(iam, unique):
    path = f"/{unique('list')}/"
    names = sorted(unique("role") for _ in range(5))
    for name in names:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST, Path=path, Tags=[{"Key": "k", "Value": "v"}])

    first = iam.list_roles(PathPrefix=path, MaxItems=2)
    assert [role["RoleName"] for role in first["Roles"]] == names[:2]
    assert first["IsTruncated"] is True and first["Marker"]
    second = iam.list_roles(PathPrefix=path, MaxItems=2, Marker=first["Marker"])
    assert [role["RoleName"] for role in second["Roles"]] == names[2:4]

    pages = list(iam.get_paginator("list_roles").paginate(PathPrefix=path, PaginationConfig={"PageSize": 2}))
    assert [len(page["Roles"]) for page in pages] == [2, 2, 1]
    assert pages[-1]["IsTruncated"] is False and "Marker" not in pages[-1]
    listed = [role for page in pages for role in page["Roles"]]
    assert [role["RoleName"] for role in listed] == names
    assert all("Tags" not in role and role["AssumeRolePolicyDocument"] == json.loads(TRUST) for role in listed)


def test_update_role_and_trust_policy(iam, role_name):
    iam.update_role(RoleName=role_name, Description="new", MaxSessionDuration=43200)
    other_trust = TRUST.replace("lambda.amazonaws.com", "edgelambda.amazonaws.com")
    iam.update_assume_role_policy(RoleName=role_name, PolicyDocument=other_trust)
    role = iam.get_role(RoleName=role_name)["Role"]
    assert (role["Description"], role["MaxSessionDuration"]) == ("new", 43200)
    assert role["AssumeRolePolicyDocument"] == json.loads(other_trust)


def test_delete_role(iam, role_name):
    iam.delete_role(RoleName=role_name)
    with pytest.raises(ClientError) as raised:
        iam.get_role(RoleName=role_name)
    assert_error(raised, 404, "NoSuchEntity", f"The role with name {role_name} cannot be found.")


def test_roles_belong_to_the_account_of_the_access_key(server, iam, unique):
    other = server.client("iam", account="111111111111")
    name = unique("role")
    created = other.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]
    assert created["Arn"] == f"arn:aws:iam::111111111111:role/{name}"
    with pytest.raises(ClientError) as raised:
        iam.get_role(RoleName=name)
    assert_error(raised, 404, "NoSuchEntity", f"The role with name {name} cannot be found.")


# Managed policies


def test_attach_aws_managed_policy(iam, role_name):
    iam.attach_role_policy(RoleName=role_name, PolicyArn=BASIC_EXECUTION)
    iam.attach_role_policy(RoleName=role_name, PolicyArn=BASIC_EXECUTION)  # again: no change
    attached = iam.list_attached_role_policies(RoleName=role_name)
    assert attached["AttachedPolicies"] == [{"PolicyName": "AWSLambdaBasicExecutionRole", "PolicyArn": BASIC_EXECUTION}]
    assert attached["IsTruncated"] is False
    policy = iam.get_policy(PolicyArn=BASIC_EXECUTION)["Policy"]
    assert (policy["PolicyName"], policy["Path"], policy["IsAttachable"]) == (
        "AWSLambdaBasicExecutionRole", "/service-role/", True
    )

    iam.detach_role_policy(RoleName=role_name, PolicyArn=BASIC_EXECUTION)
    assert iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"] == []


def test_customer_policy_lifecycle(iam, role_name, unique):
    name = unique("policy")
    created = iam.create_policy(PolicyName=name, PolicyDocument=PERMISSIONS, Description="logs")["Policy"]
    arn = f"arn:aws:iam::000000000000:policy/{name}"
    assert created["Arn"] == arn
    assert created["PolicyId"].startswith("ANPA") and len(created["PolicyId"]) == 21
    assert (created["DefaultVersionId"], created["AttachmentCount"], created["IsAttachable"]) == ("v1", 0, True)
    assert iam.get_policy(PolicyArn=arn)["Policy"]["Description"] == "logs"
    pages = iam.get_paginator("list_policies").paginate(Scope="Local")
    assert arn in [policy["Arn"] for page in pages for policy in page["Policies"]]

    iam.attach_role_policy(RoleName=role_name, PolicyArn=arn)
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 1
    attached = iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]
    assert [item["PolicyArn"] for item in attached] == [arn]
    with pytest.raises(ClientError) as raised:
        iam.delete_policy(PolicyArn=arn)
    assert_error(raised, 409, "DeleteConflict", "Cannot delete a policy attached to entities.")

    iam.detach_role_policy(RoleName=role_name, PolicyArn=arn)
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 0
    iam.delete_policy(PolicyArn=arn)
    with pytest.raises(ClientError) as raised:
        iam.get_policy(PolicyArn=arn)
    assert_error(raised, 404, "NoSuchEntity", f"Policy {arn} was not found.")


def test_attached_policies_page(iam, role_name, unique):
    created = [iam.create_policy(PolicyName=unique("p"), PolicyDocument=PERMISSIONS)["Policy"] for _ in range(3)]
    arns = sorted(policy["Arn"] for policy in created)
    for arn in arns:
        iam.attach_role_policy(RoleName=role_name, PolicyArn=arn)
    pages = iam.get_paginator("list_attached_role_policies").paginate(
        RoleName=role_name, PaginationConfig={"PageSize": 2}
    )
    assert [item["PolicyArn"] for page in pages for item in page["AttachedPolicies"]] == arns


# Inline policies


def test_inline_policy_lifecycle(iam, role_name):
    iam.put_role_policy(RoleName=role_name, PolicyName="logs", PolicyDocument=PERMISSIONS)
    got = iam.get_role_policy(RoleName=role_name, PolicyName="logs")
    assert (got["RoleName"], got["PolicyName"], got["PolicyDocument"]) == (role_name, "logs", json.loads(PERMISSIONS))

    replaced = PERMISSIONS.replace("logs:*", "s3:*")
    iam.put_role_policy(RoleName=role_name, PolicyName="logs", PolicyDocument=replaced)
    assert iam.get_role_policy(RoleName=role_name, PolicyName="logs")["PolicyDocument"] == json.loads(replaced)

    for name in ("b", "c", "a"):
        iam.put_role_policy(RoleName=role_name, PolicyName=name, PolicyDocument=PERMISSIONS)
    first = iam.list_role_policies(RoleName=role_name, MaxItems=3)
    assert (first["PolicyNames"], first["IsTruncated"]) == (["a", "b", "c"], True)
    rest = iam.list_role_policies(RoleName=role_name, Marker=first["Marker"])
    assert (rest["PolicyNames"], rest["IsTruncated"]) == (["logs"], False)

    iam.delete_role_policy(RoleName=role_name, PolicyName="logs")
    assert iam.list_role_policies(RoleName=role_name)["PolicyNames"] == ["a", "b", "c"]


# Errors


def test_missing_role(iam, unique):
    name = unique("missing")
    message = f"The role with name {name} cannot be found."
    for call in (
        lambda: iam.get_role(RoleName=name),
        lambda: iam.delete_role(RoleName=name),
        lambda: iam.attach_role_policy(RoleName=name, PolicyArn=BASIC_EXECUTION),
        lambda: iam.list_attached_role_policies(RoleName=name),
        lambda: iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=PERMISSIONS),
        lambda: iam.list_role_policies(RoleName=name),
    ):
        with pytest.raises(ClientError) as raised:
            call()
        assert_error(raised, 404, "NoSuchEntity", message)


def test_duplicate_role_in_any_case(iam, role_name):
    for name in (role_name, role_name.upper()):
        with pytest.raises(ClientError) as raised:
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)
        assert_error(raised, 409, "EntityAlreadyExists", f"Role with name {name} already exists.")


def test_delete_role_with_policies_conflicts(iam, role_name):
    iam.attach_role_policy(RoleName=role_name, PolicyArn=BASIC_EXECUTION)
    iam.put_role_policy(RoleName=role_name, PolicyName="inline", PolicyDocument=PERMISSIONS)
    with pytest.raises(ClientError) as raised:
        iam.delete_role(RoleName=role_name)
    assert_error(raised, 409, "DeleteConflict", "Cannot delete entity, must detach all policies first.")

    iam.detach_role_policy(RoleName=role_name, PolicyArn=BASIC_EXECUTION)
    with pytest.raises(ClientError) as raised:
        iam.delete_role(RoleName=role_name)
    assert_error(raised, 409, "DeleteConflict", "Cannot delete entity, must delete policies first.")

    iam.delete_role_policy(RoleName=role_name, PolicyName="inline")
    iam.delete_role(RoleName=role_name)


TRUST_WITH_RESOURCE = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Resource": "*",
            }
        ],
    }
)


@pytest.mark.parametrize(
    ("document", "message"),
    [("not json", "This policy contains invalid Json"), (TRUST_WITH_RESOURCE, "Has prohibited field Resource")],
)
def test_malformed_trust_policy_creates_nothing(iam, unique, document, message):
    name = unique("role")
    with pytest.raises(ClientError) as raised:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=document)
    assert_error(raised, 400, "MalformedPolicyDocument", message)
    with pytest.raises(ClientError):
        iam.get_role(RoleName=name)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{", "This policy contains invalid Json"),
        ('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*"}]}',
         "Policy statement must contain resources."),
        (TRUST, "Policy document should not specify a principal."),
    ],
)
def test_malformed_permissions_policy(iam, role_name, unique, document, message):
    with pytest.raises(ClientError) as raised:
        iam.create_policy(PolicyName=unique("policy"), PolicyDocument=document)
    assert_error(raised, 400, "MalformedPolicyDocument", message)
    with pytest.raises(ClientError) as raised:
        iam.put_role_policy(RoleName=role_name, PolicyName="p", PolicyDocument=document)
    assert_error(raised, 400, "MalformedPolicyDocument", message)
    assert iam.list_role_policies(RoleName=role_name)["PolicyNames"] == []


LONG_NAME, LONG_DESCRIPTION = "r" * 65, "d" * 1001
NAME_TOO_LONG = (
    f"Value '{LONG_NAME}' at 'roleName' failed to satisfy constraint: Member must have length less than or equal to 64"
)
DESCRIPTION_TOO_LONG = (
    f"Value '{LONG_DESCRIPTION}' at 'description' failed to satisfy constraint: "
    "Member must have length less than or equal to 1000"
)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"RoleName": LONG_NAME}, f"1 validation error detected: {NAME_TOO_LONG}"),
        (
            {"RoleName": "has space"},
            (
                "The specified value for roleName is invalid. "
                "It must contain only alphanumeric characters and/or the following: +=,.@_-"
            ),
        ),
        (
            {"Path": "no-slashes"},
            (
                "The specified value for path is invalid. "
                "It must begin and end with / and contain only alphanumeric characters and/or / characters."
            ),
        ),
        (
            {"MaxSessionDuration": 50000},
            (
                "1 validation error detected: Value '50000' at 'maxSessionDuration' failed to satisfy constraint: "
                "Member must have value less than or equal to 43200"
            ),
        ),
        (
            {"RoleName": LONG_NAME, "Description": LONG_DESCRIPTION},
            f"2 validation errors detected: {NAME_TOO_LONG}; {DESCRIPTION_TOO_LONG}",
        ),
    ],
)
def test_create_role_validation(iam, unique, changes, message):
    request = {"RoleName": unique("role"), "AssumeRolePolicyDocument": TRUST, **changes}
    with pytest.raises(ClientError) as raised:
        iam.create_role(**request)
    assert_error(raised, 400, "ValidationError", message)
    assert all(role["RoleName"] != request["RoleName"] for role in iam.list_roles(MaxItems=1000)["Roles"])


def test_list_validation(iam):
    with pytest.raises(ClientError) as raised:
        iam.list_roles(MaxItems=1001)
    assert_error(
        raised, 400, "ValidationError",
        "1 validation error detected: Value '1001' at 'maxItems' failed to satisfy constraint: "
        "Member must have value less than or equal to 1000",
    )


def test_duplicate_policy(iam, unique):
    name = unique("policy")
    iam.create_policy(PolicyName=name, PolicyDocument=PERMISSIONS)
    with pytest.raises(ClientError) as raised:
        iam.create_policy(PolicyName=name, PolicyDocument=PERMISSIONS, Path="/elsewhere/")
    message = f"A policy called {name} already exists. Duplicate names are not allowed."
    assert_error(raised, 409, "EntityAlreadyExists", message)


def test_attach_errors(iam, role_name):
    missing = "arn:aws:iam::000000000000:policy/does-not-exist"
    wrong_path = "arn:aws:iam::aws:policy/AWSLambdaBasicExecutionRole"
    for arn in (missing, wrong_path):
        with pytest.raises(ClientError) as raised:
            iam.attach_role_policy(RoleName=role_name, PolicyArn=arn)
        assert_error(raised, 404, "NoSuchEntity", f"Policy {arn} does not exist or is not attachable.")
    with pytest.raises(ClientError) as raised:
        iam.attach_role_policy(RoleName=role_name, PolicyArn="arn:aws:iam:aws:policy/AdministratorAccess")
    assert_error(raised, 400, "InvalidInput", "ARN arn:aws:iam:aws:policy/AdministratorAccess is not valid.")
    with pytest.raises(ClientError) as raised:
        iam.detach_role_policy(RoleName=role_name, PolicyArn=BASIC_EXECUTION)
    assert_error(raised, 404, "NoSuchEntity", f"Policy {BASIC_EXECUTION} was not found.")
    assert iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"] == []


def test_missing_inline_policy(iam, role_name):
    for call in (iam.get_role_policy, iam.delete_role_policy):
        with pytest.raises(ClientError) as raised:
            call(RoleName=role_name, PolicyName="nope")
        assert_error(raised, 404, "NoSuchEntity", "The role policy with name nope cannot be found.")


def test_unknown_action_over_raw_http(server):
    body = b"Action=FrobnicateRole&Version=2010-05-08"
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    request = urllib.request.Request(server.url, data=body, headers=server.signed("POST", "/", body, headers, "iam"))
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=10)
    assert raised.value.code == 400
    namespace = {"iam": "https://iam.amazonaws.com/doc/2010-05-08/"}
    root = ET.fromstring(raised.value.read())
    assert root.tag == "{https://iam.amazonaws.com/doc/2010-05-08/}ErrorResponse"
    assert [root.findtext(f"iam:Error/iam:{field}", namespaces=namespace) for field in ("Type", "Code", "Message")] == [
        "Sender", "InvalidAction", "Could not find operation FrobnicateRole for version 2010-05-08"
    ]
    assert root.findtext("iam:RequestId", namespaces=namespace)


def test_tag_errors(iam, unique):
    with pytest.raises(ClientError) as raised:
        iam.create_role(
            RoleName=unique("role"),
            AssumeRolePolicyDocument=TRUST,
            Tags=[{"Key": "Env", "Value": "a"}, {"Key": "env", "Value": "b"}],
        )
    assert_error(raised, 400, "InvalidInput", "Duplicate tag keys found. Please note that Tag keys are case insensitive.")
    with pytest.raises(ClientError) as raised:
        iam.create_role(RoleName=unique("role"), AssumeRolePolicyDocument=TRUST, Tags=[{"Key": "k" * 129, "Value": ""}])
    assert_error(
        raised, 400, "ValidationError",
        f"1 validation error detected: Value '{'k' * 129}' at 'tags.1.member.key' failed to satisfy constraint: "
        "Member must have length less than or equal to 128",
    )


def test_service_linked_role_policies_do_not_attach(iam, role_name):
    with pytest.raises(ClientError) as raised:
        iam.attach_role_policy(
            RoleName=role_name, PolicyArn="arn:aws:iam::aws:policy/aws-service-role/AWSLambdaReplicator"
        )
    assert_error(raised, 400, "PolicyNotAttachable", "Cannot attach a Service Role Policy to a Customer Role.")


# Role tags, instance profiles and descriptions: what Terraform's aws_iam_role calls


def test_role_tags(iam, role_name):
    empty = iam.list_role_tags(RoleName=role_name)
    assert (empty["Tags"], empty["IsTruncated"]) == ([], False)
    iam.tag_role(RoleName=role_name, Tags=[{"Key": "env", "Value": "dev"}, {"Key": "team", "Value": "a"}])
    iam.tag_role(RoleName=role_name, Tags=[{"Key": "Env", "Value": "prod"}])
    tags = iam.list_role_tags(RoleName=role_name)
    assert (tags["Tags"], tags["IsTruncated"]) == ([{"Key": "team", "Value": "a"}, {"Key": "Env", "Value": "prod"}], False)
    assert iam.get_role(RoleName=role_name)["Role"]["Tags"] == tags["Tags"]
    page = iam.list_role_tags(RoleName=role_name, MaxItems=1)
    assert (page["Tags"], page["IsTruncated"]) == ([{"Key": "team", "Value": "a"}], True)
    rest = iam.list_role_tags(RoleName=role_name, Marker=page["Marker"])
    assert (rest["Tags"], rest["IsTruncated"]) == ([{"Key": "Env", "Value": "prod"}], False)
    iam.untag_role(RoleName=role_name, TagKeys=["env", "nosuch"])
    assert iam.list_role_tags(RoleName=role_name)["Tags"] == [{"Key": "team", "Value": "a"}]
    iam.untag_role(RoleName=role_name, TagKeys=["team"])
    assert "Tags" not in iam.get_role(RoleName=role_name)["Role"]
    with pytest.raises(ClientError) as raised:
        iam.tag_role(RoleName=role_name, Tags=[{"Key": f"k{n}", "Value": ""} for n in range(51)])
    assert raised.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(ClientError) as raised:
        iam.list_role_tags(RoleName="nosuch-role")
    assert_error(raised, 404, "NoSuchEntity", "The role with name nosuch-role cannot be found.")


def test_instance_profiles_for_role(iam, role_name):
    listed = iam.list_instance_profiles_for_role(RoleName=role_name)
    assert (listed["InstanceProfiles"], listed["IsTruncated"]) == ([], False)
    with pytest.raises(ClientError) as raised:
        iam.list_instance_profiles_for_role(RoleName="nosuch-role")
    assert_error(raised, 404, "NoSuchEntity", "The role with name nosuch-role cannot be found.")


def test_update_role_description(iam, role_name):
    role = iam.update_role_description(RoleName=role_name, Description="new words")["Role"]
    assert (role["RoleName"], role["Description"]) == (role_name, "new words")
    assert iam.get_role(RoleName=role_name)["Role"]["Description"] == "new words"


# Policy versions


def test_policy_versions(iam, unique):
    arn = iam.create_policy(PolicyName=unique("policy"), PolicyDocument=PERMISSIONS)["Policy"]["Arn"]
    first = iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]
    assert (first["VersionId"], first["IsDefaultVersion"], first["Document"]) == ("v1", True, json.loads(PERMISSIONS))
    second_document = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "lambda:*", "Resource": "*"}]}
    )
    created = iam.create_policy_version(PolicyArn=arn, PolicyDocument=second_document)["PolicyVersion"]
    assert (created["VersionId"], created["IsDefaultVersion"], "Document" in created) == ("v2", False, False)
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v1"
    versions = iam.list_policy_versions(PolicyArn=arn)
    assert [(v["VersionId"], v["IsDefaultVersion"]) for v in versions["Versions"]] == [("v2", False), ("v1", True)]
    assert not versions["IsTruncated"] and all("Document" not in v for v in versions["Versions"])

    iam.set_default_policy_version(PolicyArn=arn, VersionId="v2")
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v2"
    assert iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]["IsDefaultVersion"] is False
    with pytest.raises(ClientError) as raised:
        iam.delete_policy_version(PolicyArn=arn, VersionId="v2")
    assert_error(raised, 409, "DeleteConflict", "Cannot delete the default version of a policy.")
    iam.delete_policy_version(PolicyArn=arn, VersionId="v1")
    with pytest.raises(ClientError) as raised:
        iam.get_policy_version(PolicyArn=arn, VersionId="v1")
    assert_error(raised, 404, "NoSuchEntity", f"Policy {arn} version v1 does not exist or is not attachable.")

    for _ in range(4):
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=PERMISSIONS)
    with pytest.raises(ClientError) as raised:
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=PERMISSIONS)
    assert_error(
        raised, 409, "LimitExceeded",
        "A managed policy can have up to 5 versions. Before you create a new version, you must delete an existing "
        "version.",
    )
    assert [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]] == ["v6", "v5", "v4", "v3", "v2"]


def test_a_new_default_version_is_the_one_evaluated(server, iam, unique):
    """SetDefaultPolicyVersion changes what a user's attached policy allows."""
    user = unique("user")
    iam.create_user(UserName=user)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    other = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})
    arn = iam.create_policy(PolicyName=unique("policy"), PolicyDocument=other)["Policy"]["Arn"]
    iam.attach_user_policy(UserName=user, PolicyArn=arn)
    as_user = server.client("iam", credentials=(key["AccessKeyId"], key["SecretAccessKey"]))
    with pytest.raises(ClientError) as raised:
        as_user.list_roles()
    assert raised.value.response["Error"]["Code"] == "AccessDenied"
    allow = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListRoles",
                                                                 "Resource": "*"}]})
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=allow, SetAsDefault=True)
    assert "Roles" in as_user.list_roles()


def test_aws_managed_policy_versions(iam):
    version = iam.get_policy_version(PolicyArn=BASIC_EXECUTION, VersionId="v1")["PolicyVersion"]
    assert version["IsDefaultVersion"] is True
    assert "logs:PutLogEvents" in version["Document"]["Statement"][0]["Action"]
    assert [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=BASIC_EXECUTION)["Versions"]] == ["v1"]


def test_policy_tags(iam, unique):
    arn = iam.create_policy(PolicyName=unique("policy"), PolicyDocument=PERMISSIONS,
                            Tags=[{"Key": "env", "Value": "dev"}])["Policy"]["Arn"]
    iam.tag_policy(PolicyArn=arn, Tags=[{"Key": "ENV", "Value": "prod"}, {"Key": "team", "Value": "a"}])
    listed = iam.list_policy_tags(PolicyArn=arn)
    assert (listed["Tags"], listed["IsTruncated"]) == (
        [{"Key": "ENV", "Value": "prod"}, {"Key": "team", "Value": "a"}], False)
    assert iam.get_policy(PolicyArn=arn)["Policy"]["Tags"] == listed["Tags"]
    iam.untag_policy(PolicyArn=arn, TagKeys=["env", "team"])
    assert iam.list_policy_tags(PolicyArn=arn)["Tags"] == []
    assert "Tags" not in iam.get_policy(PolicyArn=arn)["Policy"]
    assert iam.list_policy_tags(PolicyArn=BASIC_EXECUTION)["Tags"] == []
    with pytest.raises(ClientError) as raised:
        iam.tag_policy(PolicyArn=BASIC_EXECUTION, Tags=[{"Key": "k", "Value": "v"}])
    assert raised.value.response["Error"]["Code"] == "InvalidInput"
    with pytest.raises(ClientError) as raised:
        iam.list_policy_tags(PolicyArn=arn.replace(":policy/", ":policy/nosuch-"))
    assert raised.value.response["Error"]["Code"] == "NoSuchEntity"
