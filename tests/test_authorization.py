"""Identity policies decide what a user may do: a limited user, and a table of policies with AWS's decisions."""

from __future__ import annotations

import json
import urllib.error
from collections.abc import Callable

import pytest
from botocore.exceptions import ClientError

from support import ACCOUNT, REGION, error_of


def document(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*", **extra) -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def function_arn(name: str, qualifier: str | None = None) -> str:
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


@pytest.fixture(scope="module")
def two_functions(server) -> tuple[str, str]:
    """Two functions, `alpha-…` and `beta-…`, with version 1 of alpha published and tagged team=red."""
    import os

    from support import TRUST, make_zip

    suffix = os.urandom(3).hex()
    lam, iam = server.client("lambda"), server.client("iam")
    role = iam.create_role(RoleName=f"authz-{suffix}", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    names = (f"alpha-{suffix}", f"beta-{suffix}")
    for name in names:
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                            Code={"ZipFile": make_zip()}, Tags={"team": "red" if name.startswith("alpha") else "blue"})
        lam.get_waiter("function_active_v2").wait(FunctionName=name)
    lam.publish_version(FunctionName=names[0])
    return names


@pytest.fixture(scope="module")
def user(server) -> tuple[str, tuple[str, str]]:
    """A user with a key and no policy yet: (name, (key, secret))."""
    import os

    iam = server.client("iam")
    name = f"ana-{os.urandom(3).hex()}"
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return name, (key["AccessKeyId"], key["SecretAccessKey"])


def user_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:user/{name}"


def denied_message(call: Callable, **arguments) -> str:
    with pytest.raises(ClientError) as raised:
        call(**arguments)
    status, code, message = error_of(raised)
    assert status == 403 and code in ("AccessDeniedException", "AccessDenied"), (status, code, message)
    return message


def test_a_user_without_policies_may_do_nothing_but_ask_who_it_is(server, user, two_functions):
    name, credentials = user
    lam = server.client("lambda", credentials=credentials)
    message = denied_message(lam.list_functions)
    assert message == (
        f"User: {user_arn(name)} is not authorized to perform: lambda:ListFunctions on resource: * "
        "because no identity-based policy allows the lambda:ListFunctions action"
    )
    assert server.client("sts", credentials=credentials).get_caller_identity()["Arn"] == user_arn(name)


def test_a_user_limited_to_invoking_one_function(server, user, two_functions):
    name, credentials = user
    alpha, beta = two_functions
    iam = server.client("iam")
    iam.put_user_policy(UserName=name, PolicyName="only", PolicyDocument=document(
        allow("lambda:InvokeFunction", function_arn(alpha))))
    try:
        lam = server.client("lambda", credentials=credentials)
        assert json.load(lam.invoke(FunctionName=alpha, Payload=b'{"a": 1}')["Payload"]) == {"hello": {"a": 1}}

        assert denied_message(lam.invoke, FunctionName=beta, Payload=b"{}") == (
            f"User: {user_arn(name)} is not authorized to perform: lambda:InvokeFunction on resource: "
            f"{function_arn(beta)} because no identity-based policy allows the lambda:InvokeFunction action"
        )
        # A qualified invoke is another resource: the policy named the unqualified ARN only.
        denied_message(lam.invoke, FunctionName=alpha, Qualifier="1", Payload=b"{}")
        for call, arguments in [
            (lam.get_function, {"FunctionName": alpha}),
            (lam.get_function_configuration, {"FunctionName": alpha}),
            (lam.update_function_configuration, {"FunctionName": alpha, "Description": "mine now"}),
            (lam.delete_function, {"FunctionName": alpha}),
            (lam.list_functions, {}),
            (lam.list_versions_by_function, {"FunctionName": alpha}),
            (lam.get_policy, {"FunctionName": alpha}),
            (lam.add_permission, {"FunctionName": alpha, "StatementId": "s", "Action": "lambda:InvokeFunction",
                                  "Principal": "999999999999"}),
            (lam.publish_layer_version, {"LayerName": "l", "Content": {"ZipFile": b"PK\x05\x06" + b"\0" * 18}}),
            (lam.get_account_settings, {}),
        ]:
            message = denied_message(call, **arguments)
            assert message.startswith(f"User: {user_arn(name)} is not authorized to perform: lambda:")
        other_iam = server.client("iam", credentials=credentials)
        assert denied_message(other_iam.list_roles).startswith(
            f"User: {user_arn(name)} is not authorized to perform: iam:ListRoles on resource: "
        )
        denied_message(other_iam.put_user_policy, UserName=name, PolicyName="escalate",
                       PolicyDocument=document(allow("*")))
        with pytest.raises(urllib.error.HTTPError) as logs:
            server_get_json_as(server, f"/_lambdabox/logs/{alpha}", credentials)
        assert logs.value.code == 403
        # Nothing the refused calls tried happened.
        configuration = server.client("lambda").get_function_configuration(FunctionName=alpha)
        assert configuration["Description"] == ""
        assert iam.list_user_policies(UserName=name)["PolicyNames"] == ["only"]
    finally:
        iam.delete_user_policy(UserName=name, PolicyName="only")


def server_get_json_as(server, path: str, credentials: tuple[str, str]):
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="GET", url=f"{server.url}{path}")
    SigV4Auth(Credentials(*credentials), "lambda", REGION).add_auth(request)
    with urllib.request.urlopen(urllib.request.Request(request.url, headers=dict(request.headers)), timeout=10) as answer:
        return json.load(answer)


# -- the table -------------------------------------------------------------------------------------
#
# Each case: (id, the user's policy statements, the call (operation, arguments, as from `calls`), allowed?).
# The decisions are the ones AWS documents in the IAM User Guide: "Policy evaluation logic" (explicit deny
# beats allow beats the implicit deny), "IAM JSON policy elements" (Action, NotAction, Resource, NotResource,
# Condition), "Condition operators", "AWS global condition context keys" and Lambda's "Fine-tuning the
# Resources and Conditions sections of policies" (qualified and unqualified function ARNs).

A, B = "{alpha}", "{beta}"


def CASES() -> list[tuple[str, list[dict], str, bool]]:
    fa, fb = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{A}", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{B}"
    any_fn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:*"
    return [
        # Evaluation order.
        ("nothing-is-implicit-deny", [], "get-alpha", False),
        ("allow-exact", [allow("lambda:GetFunction", fa)], "get-alpha", True),
        ("allow-other-function", [allow("lambda:GetFunction", fb)], "get-alpha", False),
        ("deny-beats-allow", [allow("lambda:GetFunction", fa), deny("lambda:GetFunction", fa)], "get-alpha", False),
        ("deny-star-beats-allow", [allow("lambda:*"), deny("*")], "get-alpha", False),
        ("deny-elsewhere-leaves-allow", [allow("lambda:GetFunction", any_fn), deny("lambda:GetFunction", fb)],
         "get-alpha", True),
        ("deny-other-action", [allow("lambda:*"), deny("lambda:DeleteFunction")], "get-alpha", True),
        # Action wildcards, case and NotAction.
        ("action-star", [allow("*")], "get-alpha", True),
        ("action-service-star", [allow("lambda:*")], "get-alpha", True),
        ("action-prefix-star", [allow("lambda:Get*")], "get-alpha", True),
        ("action-prefix-star-misses", [allow("lambda:List*")], "get-alpha", False),
        ("action-question-mark", [allow("lambda:GetFunctio?")], "get-alpha", True),
        ("action-case-insensitive", [allow("LAMBDA:getfunction")], "get-alpha", True),
        ("action-other-service", [allow("iam:*")], "get-alpha", False),
        ("action-list", [allow(["iam:GetRole", "lambda:GetFunction"])], "get-alpha", True),
        ("notaction-excludes", [{"Effect": "Allow", "NotAction": "lambda:GetFunction", "Resource": "*"}],
         "get-alpha", False),
        ("notaction-includes-others", [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}], "get-alpha", True),
        ("notaction-deny", [allow("*"), {"Effect": "Deny", "NotAction": "lambda:List*", "Resource": "*"}],
         "get-alpha", False),
        ("notaction-deny-spares-listed", [allow("*"), {"Effect": "Deny", "NotAction": "lambda:List*", "Resource": "*"}],
         "list", True),
        # Resource wildcards and NotResource.
        ("resource-star-name", [allow("lambda:GetFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:alpha-*")],
         "get-alpha", True),
        ("resource-star-name-misses", [allow("lambda:GetFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:beta-*")],
         "get-alpha", False),
        ("resource-other-region", [allow("lambda:GetFunction", f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:*")],
         "get-alpha", False),
        ("resource-other-account", [allow("lambda:GetFunction", "arn:aws:lambda:*:111111111111:function:*")],
         "get-alpha", False),
        ("resource-case-sensitive", [allow("lambda:GetFunction", fa.upper())], "get-alpha", False),
        ("notresource-excludes", [{"Effect": "Allow", "Action": "lambda:GetFunction", "NotResource": fa}],
         "get-alpha", False),
        ("notresource-includes-others", [{"Effect": "Allow", "Action": "lambda:GetFunction", "NotResource": fb}],
         "get-alpha", True),
        ("list-needs-star", [allow("lambda:ListFunctions", any_fn)], "list", False),
        ("list-with-star", [allow("lambda:ListFunctions")], "list", True),
        # Qualified and unqualified ARNs (Lambda's fine-tuning page).
        ("unqualified-grant-not-version", [allow("lambda:InvokeFunction", fa)], "invoke-alpha-1", False),
        ("qualified-star-grant", [allow("lambda:InvokeFunction", f"{fa}:*")], "invoke-alpha-1", True),
        ("qualified-star-not-unqualified", [allow("lambda:InvokeFunction", f"{fa}:*")], "invoke-alpha", False),
        ("both-forms", [allow("lambda:InvokeFunction", [fa, f"{fa}:*"])], "invoke-alpha-1", True),
        # Conditions.
        ("source-ip-in", [allow("lambda:GetFunction", fa, Condition={"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}})],
         "get-alpha", True),
        ("source-ip-out", [allow("lambda:GetFunction", fa, Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}})],
         "get-alpha", False),
        ("not-source-ip", [allow("lambda:GetFunction", fa, Condition={"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}})],
         "get-alpha", True),
        ("deny-outside-ip", [allow("*"), deny("*", Condition={"NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}})],
         "get-alpha", False),
        ("string-equals-region", [allow("lambda:GetFunction", "*",
                                        Condition={"StringEquals": {"aws:RequestedRegion": REGION}})], "get-alpha", True),
        ("string-equals-other-region", [allow("lambda:GetFunction", "*",
                                              Condition={"StringEquals": {"aws:RequestedRegion": "eu-west-1"}})],
         "get-alpha", False),
        ("string-like-username", [allow("lambda:GetFunction", "*",
                                        Condition={"StringLike": {"aws:username": "ana-*"}})], "get-alpha", True),
        ("policy-variable-username", [allow("iam:GetUser", f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}")],
         "get-self", True),
        ("policy-variable-other-user", [allow("iam:GetUser", f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}")],
         "get-root-user", False),
        ("bool-secure-transport", [allow("*"), deny("*", Condition={"Bool": {"aws:SecureTransport": "false"}})],
         "get-alpha", False),
        ("date-before", [allow("lambda:GetFunction", fa,
                               Condition={"DateLessThan": {"aws:CurrentTime": "2001-01-01T00:00:00Z"}})],
         "get-alpha", False),
        ("date-after", [allow("lambda:GetFunction", fa,
                              Condition={"DateGreaterThan": {"aws:CurrentTime": "2001-01-01T00:00:00Z"}})],
         "get-alpha", True),
        ("numeric-epoch", [allow("lambda:GetFunction", fa, Condition={"NumericGreaterThan": {"aws:EpochTime": "1000"}})],
         "get-alpha", True),
        ("principal-type", [allow("lambda:GetFunction", fa, Condition={"StringEquals": {"aws:PrincipalType": "User"}})],
         "get-alpha", True),
        ("principal-account", [allow("lambda:GetFunction", fa,
                                     Condition={"StringEquals": {"aws:PrincipalAccount": "111111111111"}})],
         "get-alpha", False),
        ("missing-key-is-false", [allow("lambda:GetFunction", fa,
                                        Condition={"StringEquals": {"aws:SourceVpc": "vpc-1"}})], "get-alpha", False),
        ("missing-key-if-exists", [allow("lambda:GetFunction", fa,
                                         Condition={"StringEqualsIfExists": {"aws:SourceVpc": "vpc-1"}})],
         "get-alpha", True),
        ("null-key-absent", [allow("lambda:GetFunction", fa, Condition={"Null": {"aws:SourceVpc": "true"}})],
         "get-alpha", True),
        ("request-tag-match", [allow("lambda:TagResource", fa, Condition={"StringEquals": {"aws:RequestTag/team": "red"}})],
         "tag-alpha-red", True),
        ("request-tag-mismatch", [allow("lambda:TagResource", fa,
                                        Condition={"StringEquals": {"aws:RequestTag/team": "blue"}})],
         "tag-alpha-red", False),
        ("tag-keys-for-all-values", [allow("lambda:TagResource", fa,
                                           Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "cost"]}})],
         "tag-alpha-red", True),
        ("tag-keys-for-any-value", [allow("lambda:TagResource", fa,
                                          Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": ["owner"]}})],
         "tag-alpha-red", False),
        ("layer-condition-key", [allow("lambda:UpdateFunctionConfiguration", fa,
                                       Condition={"ForAllValues:StringLike": {"lambda:Layer": "arn:aws:lambda:*:999:*"}})],
         "update-alpha-no-layers", True),
        ("iam-explicit", [allow("iam:GetUser", f"arn:aws:iam::{ACCOUNT}:user/*")], "get-self", True),
        ("iam-deny", [allow("iam:*"), deny("iam:GetUser")], "get-self", False),
    ]


def calls(server, credentials, alpha: str, beta: str, user_name: str) -> dict[str, Callable[[], object]]:
    lam = server.client("lambda", credentials=credentials)
    iam = server.client("iam", credentials=credentials)
    return {
        "get-alpha": lambda: lam.get_function(FunctionName=alpha),
        "list": lambda: lam.list_functions(),
        "invoke-alpha": lambda: lam.invoke(FunctionName=alpha, InvocationType="DryRun"),
        "invoke-alpha-1": lambda: lam.invoke(FunctionName=alpha, Qualifier="1", InvocationType="DryRun"),
        "tag-alpha-red": lambda: lam.tag_resource(Resource=function_arn(alpha), Tags={"team": "red"}),
        "update-alpha-no-layers": lambda: lam.update_function_configuration(FunctionName=alpha, Description=""),
        "get-self": lambda: iam.get_user(UserName=user_name),
        "get-root-user": lambda: iam.get_user(UserName="someone-else"),
    }


def test_the_policy_table(server, user, two_functions):
    name, credentials = user
    alpha, beta = two_functions
    iam = server.client("iam")
    table = CASES()
    assert len(table) >= 40
    actions = calls(server, credentials, alpha, beta, name)
    wrong = []
    for case, statements, call, allowed in table:
        text = json.dumps({"Version": "2012-10-17", "Statement": statements or [deny("none:none")]})
        iam.put_user_policy(UserName=name, PolicyName="case", PolicyDocument=text.replace(A, alpha).replace(B, beta))
        try:
            actions[call]()
            outcome = True
        except ClientError as error:
            status, code, _ = error_of(type("raised", (), {"value": error})())
            assert (status, code) in ((403, "AccessDeniedException"), (403, "AccessDenied"), (404, "NoSuchEntity")), (
                case, status, code)
            # A 404 comes only once the call was allowed (the user asked about does not exist).
            outcome = code == "NoSuchEntity"
        if outcome != allowed:
            wrong.append((case, "allowed" if outcome else "denied"))
    iam.delete_user_policy(UserName=name, PolicyName="case")
    assert wrong == []


def test_managed_and_group_policies_count_too(server, user, two_functions):
    name, credentials = user
    alpha, _ = two_functions
    iam = server.client("iam")
    lam = server.client("lambda", credentials=credentials)
    denied_message(lam.get_function, FunctionName=alpha)
    import os

    policy = iam.create_policy(PolicyName=f"get-{os.urandom(3).hex()}",
                               PolicyDocument=document(allow("lambda:GetFunction", function_arn(alpha))))["Policy"]["Arn"]
    iam.attach_user_policy(UserName=name, PolicyArn=policy)
    assert lam.get_function(FunctionName=alpha)["Configuration"]["FunctionName"] == alpha
    iam.detach_user_policy(UserName=name, PolicyArn=policy)
    denied_message(lam.get_function, FunctionName=alpha)

    group = f"readers-{os.urandom(3).hex()}"
    iam.create_group(GroupName=group)
    iam.put_group_policy(GroupName=group, PolicyName="read", PolicyDocument=document(allow("lambda:Get*")))
    iam.add_user_to_group(GroupName=group, UserName=name)
    assert lam.get_function(FunctionName=alpha)["Configuration"]["FunctionName"] == alpha
    iam.put_group_policy(GroupName=group, PolicyName="but-not", PolicyDocument=document(deny("lambda:GetFunction")))
    assert "explicit deny in an identity-based policy" in denied_message(lam.get_function, FunctionName=alpha)
    iam.remove_user_from_group(GroupName=group, UserName=name)
    denied_message(lam.get_function, FunctionName=alpha)


def test_an_inactive_or_deleted_key_stops_working_at_once(server, two_functions):
    import os

    iam = server.client("iam")
    name = f"bo-{os.urandom(3).hex()}"
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    sts = server.client("sts", credentials=(key["AccessKeyId"], key["SecretAccessKey"]))
    assert sts.get_caller_identity()["Arn"] == user_arn(name)
    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    with pytest.raises(ClientError) as raised:
        sts.get_caller_identity()
    assert error_of(raised)[:2] == (403, "InvalidClientTokenId")
    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Active")
    assert sts.get_caller_identity()["Arn"] == user_arn(name)
    iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    with pytest.raises(ClientError) as gone:
        sts.get_caller_identity()
    assert error_of(gone)[:2] == (403, "InvalidClientTokenId")


def test_in_one_account_a_resource_policy_naming_the_user_is_enough_but_naming_the_account_is_not(server, two_functions):
    """Policy evaluation logic: within an account, a resource policy that names the principal itself allows
    without any identity policy; one that names the account only delegates to the account's identity policies."""
    import os

    alpha, beta = two_functions
    iam, lam = server.client("iam"), server.client("lambda")
    name = f"cy-{os.urandom(3).hex()}"
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    theirs = server.client("lambda", credentials=(key["AccessKeyId"], key["SecretAccessKey"]))
    lam.add_permission(FunctionName=alpha, StatementId=f"user-{name}", Action="lambda:InvokeFunction",
                       Principal=user_arn(name))
    lam.add_permission(FunctionName=beta, StatementId=f"account-{name}", Action="lambda:InvokeFunction",
                       Principal=ACCOUNT)
    try:
        assert theirs.invoke(FunctionName=alpha, InvocationType="DryRun")["StatusCode"] == 204
        denied_message(theirs.invoke, FunctionName=beta, InvocationType="DryRun")
    finally:
        lam.remove_permission(FunctionName=alpha, StatementId=f"user-{name}")
        lam.remove_permission(FunctionName=beta, StatementId=f"account-{name}")


def test_iam_resources_are_judged_with_their_stored_paths(server, user):
    """GetRole names a role without its path; the resource checked is still role/PATH/NAME."""
    import os

    from support import TRUST

    name, credentials = user
    iam = server.client("iam")
    role = f"pathed-{os.urandom(3).hex()}"
    iam.create_role(RoleName=role, Path="/service-role/", AssumeRolePolicyDocument=TRUST)
    theirs = server.client("iam", credentials=credentials)
    iam.put_user_policy(UserName=name, PolicyName="paths", PolicyDocument=document(
        allow("iam:GetRole", f"arn:aws:iam::{ACCOUNT}:role/service-role/*")))
    try:
        assert theirs.get_role(RoleName=role)["Role"]["Path"] == "/service-role/"
        iam.put_user_policy(UserName=name, PolicyName="paths", PolicyDocument=document(
            allow("iam:GetRole", f"arn:aws:iam::{ACCOUNT}:role/{role}")))
        assert f"role/service-role/{role}" in denied_message(theirs.get_role, RoleName=role)
    finally:
        iam.delete_user_policy(UserName=name, PolicyName="paths")


def test_many_tags_against_many_wildcards_cost_what_a_real_request_costs(server, user, two_functions):
    """A hostile pair: a policy of 10,000 wildcard values (inside IAM's document limit) and a TagResource carrying
    100,000 tags (inside the body limit). Each value against each tag would be a billion matches; the request is
    judged on the 51 tags any real one could hold, refused, and the server answers the next call at once."""
    name, credentials = user
    alpha, _ = two_functions
    iam = server.client("iam")
    iam.put_user_policy(UserName=name, PolicyName="wild", PolicyDocument=document(
        allow("lambda:TagResource", function_arn(alpha),
              Condition={"ForAnyValue:StringLike": {"aws:TagKeys": [f"*q{i}*" for i in range(10_000)]}})))
    try:
        theirs = server.client("lambda", credentials=credentials)
        tags = {f"t{i}": "v" for i in range(100_000)}
        with pytest.raises(ClientError) as raised:
            theirs.tag_resource(Resource=function_arn(alpha), Tags=tags)
        assert error_of(raised)[0] in (400, 403)
        assert server.client("lambda").get_function(FunctionName=alpha)["Tags"] == {"team": "red"}
    finally:
        iam.delete_user_policy(UserName=name, PolicyName="wild")
