"""The action table against botocore's Lambda model and the Service Authorization Reference."""

from __future__ import annotations

import botocore.session
import pytest

from lambdabox.access.actions import IAM, LAMBDA, STS, Target, lambda_target, query_target
from lambdabox.model.arns import Scope

ME, OTHER = "111111111111", "222222222222"
SCOPE = Scope(ME, "us-east-1")
FN = f"arn:aws:lambda:us-east-1:{ME}:function"
LAYER = f"arn:aws:lambda:us-east-1:{ME}:layer"
CSC = f"arn:aws:lambda:us-east-1:{ME}:code-signing-config:csc-0123456789abcdef0"


def test_every_botocore_lambda_operation_has_an_entry():
    operations = set(botocore.session.get_session().get_service_model("lambda").operation_names)
    assert operations - set(LAMBDA) == set()
    # The only entry that is no botocore operation is the function URL invocation.
    assert set(LAMBDA) - operations == {"InvokeFunctionUrl"}


def test_an_unknown_operation_is_a_key_error():
    with pytest.raises(KeyError):
        lambda_target("NoSuchOperation", {}, SCOPE)
    with pytest.raises(KeyError):
        query_target("iam", "NoSuchAction", {}, ME)
    with pytest.raises(KeyError):
        query_target("s3", "GetObject", {}, ME)


# operation, params, (action, resource, account, region, context)
LAMBDA_CASES = [
    # Invoke's action is InvokeFunction; a qualifier, separate or in the name, qualifies the ARN.
    ("Invoke", {"FunctionName": "f"}, ("lambda:InvokeFunction", f"{FN}:f", ME, "us-east-1", {})),
    ("Invoke", {"FunctionName": "f", "Qualifier": "1"}, ("lambda:InvokeFunction", f"{FN}:f:1", ME, "us-east-1", {})),
    ("Invoke", {"FunctionName": "f:PROD"}, ("lambda:InvokeFunction", f"{FN}:f:PROD", ME, "us-east-1", {})),
    ("Invoke", {"FunctionName": "f", "Qualifier": "$LATEST"},
     ("lambda:InvokeFunction", f"{FN}:f:$LATEST", ME, "us-east-1", {})),
    ("Invoke", {"FunctionName": f"{ME}:function:f"}, ("lambda:InvokeFunction", f"{FN}:f", ME, "us-east-1", {})),
    ("Invoke", {"FunctionName": "function:f"}, ("lambda:InvokeFunction", f"{FN}:f", ME, "us-east-1", {})),
    # Another account's ARN gives a Target in that account, and in that region.
    ("Invoke", {"FunctionName": f"arn:aws:lambda:eu-west-1:{OTHER}:function:f:live"},
     ("lambda:InvokeFunction", f"arn:aws:lambda:eu-west-1:{OTHER}:function:f:live", OTHER, "eu-west-1", {})),
    ("Invoke", {"FunctionName": f"{OTHER}:function:f", "Qualifier": "2"},
     ("lambda:InvokeFunction", f"arn:aws:lambda:us-east-1:{OTHER}:function:f:2", OTHER, "us-east-1", {})),
    ("InvokeWithResponseStream", {"FunctionName": "f"}, ("lambda:InvokeFunction", f"{FN}:f", ME, "us-east-1", {})),
    ("InvokeAsync", {"FunctionName": "f"}, ("lambda:InvokeAsync", f"{FN}:f", ME, "us-east-1", {})),
    ("GetFunctionConfiguration", {"FunctionName": "f", "Qualifier": "3"},
     ("lambda:GetFunctionConfiguration", f"{FN}:f:3", ME, "us-east-1", {})),
    ("ListVersionsByFunction", {"FunctionName": "f"},
     ("lambda:ListVersionsByFunction", f"{FN}:f", ME, "us-east-1", {})),
    ("GetAlias", {"FunctionName": "f", "Name": "live"}, ("lambda:GetAlias", f"{FN}:f", ME, "us-east-1", {})),
    ("PutProvisionedConcurrencyConfig",
     {"FunctionName": "f", "Qualifier": "live", "ProvisionedConcurrentExecutions": 1},
     ("lambda:PutProvisionedConcurrencyConfig", f"{FN}:f:live", ME, "us-east-1", {})),
    ("ListFunctions", {}, ("lambda:ListFunctions", "*", ME, "us-east-1", {})),
    ("GetAccountSettings", {}, ("lambda:GetAccountSettings", "*", ME, "us-east-1", {})),
    # CreateFunction's condition keys: layers, VPC, code signing, request tags.
    ("CreateFunction",
     {"FunctionName": "f", "Layers": [f"{LAYER}:a:1", f"arn:aws:lambda:us-east-1:{OTHER}:layer:b:7"],
      "VpcConfig": {"SubnetIds": ["subnet-blue"], "SecurityGroupIds": ["sg-1", "sg-2"]},
      "CodeSigningConfigArn": CSC, "Tags": {"team": "red", "cost": "7"}},
     ("lambda:CreateFunction", f"{FN}:f", ME, "us-east-1", {
         "lambda:Layer": [f"{LAYER}:a:1", f"arn:aws:lambda:us-east-1:{OTHER}:layer:b:7"],
         "lambda:SubnetIds": ["subnet-blue"], "lambda:SecurityGroupIds": ["sg-1", "sg-2"],
         "lambda:VpcIds": ["vpc-lambdabox"], "lambda:CodeSigningConfigArn": [CSC],
         "aws:RequestTag/team": ["red"], "aws:RequestTag/cost": ["7"], "aws:TagKeys": ["team", "cost"],
     })),
    ("UpdateFunctionConfiguration",
     {"FunctionName": "f", "Layers": [], "VpcConfig": {"SubnetIds": [], "SecurityGroupIds": []}},
     ("lambda:UpdateFunctionConfiguration", f"{FN}:f", ME, "us-east-1", {
         "lambda:SubnetIds": [], "lambda:SecurityGroupIds": [], "lambda:VpcIds": [],
     })),
    ("AddPermission",
     {"FunctionName": "f", "Qualifier": "live", "StatementId": "s", "Action": "lambda:InvokeFunction",
      "Principal": "s3.amazonaws.com"},
     ("lambda:AddPermission", f"{FN}:f:live", ME, "us-east-1", {"lambda:Principal": ["s3.amazonaws.com"]})),
    ("AddPermission",
     {"FunctionName": "f", "StatementId": "u", "Action": "lambda:InvokeFunctionUrl", "Principal": "*",
      "FunctionUrlAuthType": "NONE"},
     ("lambda:AddPermission", f"{FN}:f", ME, "us-east-1",
      {"lambda:Principal": ["*"], "lambda:FunctionUrlAuthType": ["NONE"]})),
    ("CreateFunctionUrlConfig", {"FunctionName": "f", "Qualifier": "live", "AuthType": "AWS_IAM"},
     ("lambda:CreateFunctionUrlConfig", f"{FN}:f:live", ME, "us-east-1",
      {"lambda:FunctionUrlAuthType": ["AWS_IAM"], "lambda:FunctionArn": [f"{FN}:f:live"]})),
    ("InvokeFunctionUrl", {"FunctionName": "f", "AuthType": "NONE"},
     ("lambda:InvokeFunctionUrl", f"{FN}:f", ME, "us-east-1",
      {"lambda:FunctionUrlAuthType": ["NONE"], "lambda:FunctionArn": [f"{FN}:f"]})),
    # Event source mappings: created on "*" with lambda:FunctionArn, then the mapping's ARN.
    ("CreateEventSourceMapping", {"FunctionName": "f:live", "EventSourceArn": "arn:aws:sqs:us-east-1:1:q"},
     ("lambda:CreateEventSourceMapping", "*", ME, "us-east-1", {"lambda:FunctionArn": [f"{FN}:f:live"]})),
    ("UpdateEventSourceMapping", {"UUID": "fa123456-14a1-4fd2-9fec-83de64ad683d", "FunctionName": "g"},
     ("lambda:UpdateEventSourceMapping",
      f"arn:aws:lambda:us-east-1:{ME}:event-source-mapping:fa123456-14a1-4fd2-9fec-83de64ad683d", ME, "us-east-1",
      {"lambda:FunctionArn": [f"{FN}:g"]})),
    ("ListEventSourceMappings", {"FunctionName": "f"}, ("lambda:ListEventSourceMappings", "*", ME, "us-east-1", {})),
    # Layers: a version's ARN for use and permissions, the layer's for publishing.
    ("GetLayerVersion", {"LayerName": "l", "VersionNumber": 3},
     ("lambda:GetLayerVersion", f"{LAYER}:l:3", ME, "us-east-1", {})),
    ("GetLayerVersionByArn", {"Arn": f"arn:aws:lambda:us-west-2:{OTHER}:layer:l:4"},
     ("lambda:GetLayerVersion", f"arn:aws:lambda:us-west-2:{OTHER}:layer:l:4", OTHER, "us-west-2", {})),
    ("AddLayerVersionPermission",
     {"LayerName": f"arn:aws:lambda:us-east-1:{OTHER}:layer:l", "VersionNumber": 2, "StatementId": "s",
      "Action": "lambda:GetLayerVersion", "Principal": "*"},
     ("lambda:AddLayerVersionPermission", f"arn:aws:lambda:us-east-1:{OTHER}:layer:l:2", OTHER, "us-east-1", {})),
    ("DeleteLayerVersion", {"LayerName": "l", "VersionNumber": 1},
     ("lambda:DeleteLayerVersion", f"{LAYER}:l:1", ME, "us-east-1", {})),
    ("PublishLayerVersion", {"LayerName": "l", "Content": {}},
     ("lambda:PublishLayerVersion", f"{LAYER}:l", ME, "us-east-1", {})),
    ("ListLayers", {}, ("lambda:ListLayers", "*", ME, "us-east-1", {})),
    # Tags: the resource the request names; tag keys as condition keys.
    ("TagResource", {"Resource": f"{FN}:f", "Tags": {"env": "prod"}},
     ("lambda:TagResource", f"{FN}:f", ME, "us-east-1", {"aws:RequestTag/env": ["prod"], "aws:TagKeys": ["env"]})),
    ("UntagResource", {"Resource": f"arn:aws:lambda:us-east-1:{OTHER}:function:f", "TagKeys": ["env", "team"]},
     ("lambda:UntagResource", f"arn:aws:lambda:us-east-1:{OTHER}:function:f", OTHER, "us-east-1",
      {"aws:TagKeys": ["env", "team"]})),
    ("ListTags", {"Resource": f"{FN}:f"}, ("lambda:ListTags", f"{FN}:f", ME, "us-east-1", {})),
    ("PutFunctionCodeSigningConfig", {"FunctionName": "f", "CodeSigningConfigArn": CSC},
     ("lambda:PutFunctionCodeSigningConfig", f"{FN}:f", ME, "us-east-1", {"lambda:CodeSigningConfigArn": [CSC]})),
    ("GetCodeSigningConfig", {"CodeSigningConfigArn": CSC}, ("lambda:GetCodeSigningConfig", CSC, ME, "us-east-1", {})),
]


@pytest.mark.parametrize("operation, params, expected", LAMBDA_CASES, ids=[case[0] for case in LAMBDA_CASES])
def test_lambda_targets_follow_the_reference(operation, params, expected):
    action, resource, account, region, context = expected
    assert lambda_target(operation, params, SCOPE) == Target(action, resource, account, region, context)


def test_keys_only_stored_records_know_are_named():
    target = lambda_target("DeleteEventSourceMapping", {"UUID": "u"}, SCOPE)
    assert target.from_state == ("lambda:FunctionArn",)
    assert lambda_target("GetFunctionUrlConfig", {"FunctionName": "f"}, SCOPE).from_state == (
        "lambda:FunctionUrlAuthType",
    )


class Names:
    """Stored records: role `deploy` lives under /service-role/; key AKIA1 is bob's."""

    def path(self, account, kind, name):
        return {("role", "deploy"): "/service-role/", ("user", "bob"): "/staff/"}.get((kind, name))

    def key_owner(self, access_key):
        return {"AKIA1": "bob"}.get(access_key)


IAM_ROOT = f"arn:aws:iam::{ME}"
ALICE = f"{IAM_ROOT}:user/alice"

# service, action, params, keyword arguments, (action, resource, account, context)
QUERY_CASES = [
    ("iam", "GetRole", {"RoleName": "r"}, {}, ("iam:GetRole", f"{IAM_ROOT}:role/r", ME, {})),
    ("iam", "GetRole", {"RoleName": "deploy"}, {"names": Names()},
     ("iam:GetRole", f"{IAM_ROOT}:role/service-role/deploy", ME, {})),
    ("iam", "CreateRole",
     {"RoleName": "r", "Path": "/app/", "AssumeRolePolicyDocument": "{}", "Tags.member.1.Key": "team",
      "Tags.member.1.Value": "red", "Tags.member.2.Key": "env", "Tags.member.2.Value": "",
      "PermissionsBoundary": f"{IAM_ROOT}:policy/b"},
     {}, ("iam:CreateRole", f"{IAM_ROOT}:role/app/r", ME, {
         "aws:RequestTag/team": ["red"], "aws:RequestTag/env": [""], "aws:TagKeys": ["team", "env"],
         "iam:PermissionsBoundary": [f"{IAM_ROOT}:policy/b"],
     })),
    ("iam", "ListRoles", {}, {}, ("iam:ListRoles", "*", ME, {})),
    ("iam", "AttachRolePolicy", {"RoleName": "r", "PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}, {},
     ("iam:AttachRolePolicy", f"{IAM_ROOT}:role/r", ME, {"iam:PolicyARN": ["arn:aws:iam::aws:policy/ReadOnlyAccess"]})),
    ("iam", "UntagRole", {"RoleName": "r", "TagKeys.member.2": "b", "TagKeys.member.1": "a"}, {},
     ("iam:UntagRole", f"{IAM_ROOT}:role/r", ME, {"aws:TagKeys": ["a", "b"]})),
    ("iam", "CreatePolicy", {"PolicyName": "p", "PolicyDocument": "{}"}, {},
     ("iam:CreatePolicy", f"{IAM_ROOT}:policy/p", ME, {})),
    # A managed policy belongs to its own account ("aws" for AWS's).
    ("iam", "GetPolicy", {"PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}, {},
     ("iam:GetPolicy", "arn:aws:iam::aws:policy/ReadOnlyAccess", "aws", {})),
    ("iam", "GetPolicyVersion", {"PolicyArn": f"{IAM_ROOT}:policy/p", "VersionId": "v1"}, {},
     ("iam:GetPolicyVersion", f"{IAM_ROOT}:policy/p", ME, {})),
    ("iam", "CreateUser", {"UserName": "carol", "Path": "/ops/"}, {},
     ("iam:CreateUser", f"{IAM_ROOT}:user/ops/carol", ME, {})),
    ("iam", "GetUser", {"UserName": "bob"}, {"names": Names()}, ("iam:GetUser", f"{IAM_ROOT}:user/staff/bob", ME, {})),
    # Access keys act on the user named, else on the calling user.
    ("iam", "CreateAccessKey", {}, {"caller": ALICE}, ("iam:CreateAccessKey", ALICE, ME, {})),
    ("iam", "ListAccessKeys", {"UserName": "dave"}, {"caller": ALICE},
     ("iam:ListAccessKeys", f"{IAM_ROOT}:user/dave", ME, {})),
    ("iam", "GetUser", {}, {"caller": ALICE}, ("iam:GetUser", ALICE, ME, {})),
    ("iam", "GetAccessKeyLastUsed", {"AccessKeyId": "AKIA1"}, {"caller": ALICE, "names": Names()},
     ("iam:GetAccessKeyLastUsed", f"{IAM_ROOT}:user/staff/bob", ME, {})),
    ("iam", "AddUserToGroup", {"GroupName": "g", "UserName": "bob"}, {},
     ("iam:AddUserToGroup", f"{IAM_ROOT}:group/g", ME, {})),
    ("iam", "ListGroupsForUser", {"UserName": "bob"}, {}, ("iam:ListGroupsForUser", f"{IAM_ROOT}:user/bob", ME, {})),
    ("iam", "AttachGroupPolicy", {"GroupName": "g", "PolicyArn": f"{IAM_ROOT}:policy/p"}, {},
     ("iam:AttachGroupPolicy", f"{IAM_ROOT}:group/g", ME, {"iam:PolicyARN": [f"{IAM_ROOT}:policy/p"]})),
    # AssumeRole acts on the role, in the role's account.
    ("sts", "AssumeRole",
     {"RoleArn": f"arn:aws:iam::{OTHER}:role/x", "RoleSessionName": "s", "ExternalId": "e",
      "Tags.member.1.Key": "project", "Tags.member.1.Value": "p", "TransitiveTagKeys.member.1": "project"},
     {}, ("sts:AssumeRole", f"arn:aws:iam::{OTHER}:role/x", OTHER, {
         "sts:RoleSessionName": ["s"], "sts:ExternalId": ["e"], "aws:RequestTag/project": ["p"],
         "aws:TagKeys": ["project"], "sts:TransitiveTagKeys": ["project"],
     })),
]


@pytest.mark.parametrize(
    "service, action, params, options, expected", QUERY_CASES, ids=[case[1] for case in QUERY_CASES]
)
def test_iam_and_sts_targets_follow_the_reference(service, action, params, options, expected):
    name, resource, account, context = expected
    target = query_target(service, action, params, ME, **options)
    assert target == Target(name, resource, account, "", context, from_state=target.from_state)
    assert not target.always_allowed


@pytest.mark.parametrize("action", ["GetCallerIdentity", "GetSessionToken"])
def test_actions_aws_never_denies_are_marked(action):
    assert query_target("sts", action, {}, ME) == Target(f"sts:{action}", "*", ME, "", {}, always_allowed=True)


def test_every_iam_action_lambdabox_serves_has_an_entry():
    served = (
        "CreateRole GetRole UpdateRole UpdateRoleDescription UpdateAssumeRolePolicy DeleteRole ListRoles CreatePolicy "
        "GetPolicy DeletePolicy ListPolicies GetPolicyVersion ListPolicyVersions CreatePolicyVersion DeletePolicyVersion "
        "SetDefaultPolicyVersion TagPolicy UntagPolicy ListPolicyTags "
        "AttachRolePolicy DetachRolePolicy ListAttachedRolePolicies PutRolePolicy GetRolePolicy DeleteRolePolicy "
        "ListRolePolicies TagRole UntagRole ListRoleTags ListInstanceProfilesForRole CreateUser GetUser ListUsers "
        "DeleteUser UpdateUser CreateAccessKey ListAccessKeys UpdateAccessKey DeleteAccessKey GetAccessKeyLastUsed "
        "PutUserPolicy GetUserPolicy DeleteUserPolicy ListUserPolicies AttachUserPolicy DetachUserPolicy "
        "ListAttachedUserPolicies CreateGroup GetGroup DeleteGroup ListGroups AddUserToGroup RemoveUserFromGroup "
        "ListGroupsForUser PutGroupPolicy GetGroupPolicy DeleteGroupPolicy ListGroupPolicies AttachGroupPolicy "
        "DetachGroupPolicy ListAttachedGroupPolicies"
    ).split()
    assert set(served) == set(IAM)
    assert set(STS) == {"AssumeRole", "GetCallerIdentity", "GetSessionToken"}
    for action in served:
        assert query_target("iam", action, {}, ME).action == f"iam:{action}"


HOSTILE_NAMES = [
    "",
    "a" * 100_000,
    "../../etc/passwd",
    "f/../../g",
    "функция",
    "\u202e\u0000\udcff",
    ":",
    ":::::",
    "arn:aws:lambda:us-east-1:1:function:f",
    "arn:aws:lambda:::function:f",
    f"arn:aws:lambda:us-east-1:{OTHER}:function:",
    f"{OTHER}:function:",
    "f:1:2",
    "f:" + "q" * 10_000,
    "*",
    "${aws:username}",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
@pytest.mark.parametrize("operation", sorted(LAMBDA))
def test_lambda_target_never_raises_for_hostile_names(operation, name):
    params = {
        "FunctionName": name, "Qualifier": name, "LayerName": name, "VersionNumber": name, "Arn": name,
        "UUID": name, "Resource": name, "CodeSigningConfigArn": name, "CapacityProviderName": name,
        "DurableExecutionArn": name, "ResourceArn": name, "Layers": [name], "Tags": {name: name},
        "TagKeys": [name], "Principal": name, "AuthType": name, "VpcConfig": {"SubnetIds": [name]},
    }
    target = lambda_target(operation, params, SCOPE)
    assert target.action.startswith("lambda:")
    assert isinstance(target.resource, str) and target.account and target.region


@pytest.mark.parametrize("operation", sorted(LAMBDA))
def test_lambda_target_never_raises_for_odd_shapes(operation):
    for params in ({}, {"FunctionName": None, "Tags": "x", "Layers": 5, "VpcConfig": []}, {"FunctionName": 7}):
        lambda_target(operation, params, SCOPE)


def test_a_name_that_cannot_be_read_stays_in_the_callers_account():
    # `1:function:f` is no account's partial ARN (an account is 12 digits): the handler refuses
    # it, and the Target must not wander into another account meanwhile.
    target = lambda_target("GetFunction", {"FunctionName": "arn:aws:lambda:us-east-1:1:function:f"}, SCOPE)
    assert (target.account, target.region) == (ME, "us-east-1")


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
def test_query_target_never_raises_for_hostile_params(name):
    params = {
        "RoleName": name, "UserName": name, "GroupName": name, "PolicyArn": name, "PolicyName": name,
        "Path": name, "RoleArn": name, "AccessKeyId": name, "Tags.member.1.Key": name,
        "Tags.member.99999999.Value": name, "TagKeys.member.x": name, "Tags.member.-1.Key": name,
    }
    for service, actions in (("iam", IAM), ("sts", STS)):
        for action in actions:
            for options in ({}, {"caller": ALICE, "names": Names()}):
                target = query_target(service, action, params, ME, **options)
                assert target.action == f"{service}:{action}" and target.region == ""


def test_a_role_arn_that_cannot_be_read_stays_in_the_callers_account():
    target = query_target("sts", "AssumeRole", {"RoleArn": "not-an-arn", "RoleSessionName": "s"}, ME)
    assert (target.resource, target.account) == ("not-an-arn", ME)
