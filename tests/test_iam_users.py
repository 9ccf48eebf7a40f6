"""IAM users, their access keys and policies, over the Query protocol with boto3 against a real server.

Signatures are not verified yet, so a client signing with a key's id alone is that key's principal.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from support import ACCOUNT, error_of

PERMISSIONS = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "lambda:*", "Resource": "*"}]}
)
BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"


def failure(call, **arguments) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as raised:
        call(**arguments)
    return error_of(raised)


@pytest.fixture
def user(iam, unique) -> str:
    name = unique("user")
    iam.create_user(UserName=name)
    return name


@pytest.fixture
def raw_iam(server):
    """An IAM client that skips boto3's own parameter checks, so the server's are what is tested."""
    from botocore.config import Config

    return server.client("iam", config=Config(parameter_validation=False))


def database_bytes(server) -> bytes:
    """The whole sqlite database as stored, with its write-ahead log."""
    files = [server.data_dir / "lambdabox.db", server.data_dir / "lambdabox.db-wal"]
    return b"".join(Path(file).read_bytes() for file in files if Path(file).exists())


# Users


def test_create_get_and_list_users(iam, unique):
    name = unique("user")
    created = iam.create_user(UserName=name, Path="/team/", Tags=[{"Key": "team", "Value": "a"}])["User"]
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/team/{name}"
    assert created["UserId"].startswith("AIDA") and len(created["UserId"]) == 21
    assert (created["UserName"], created["Path"]) == (name, "/team/")

    got = iam.get_user(UserName=name)["User"]
    assert {key: got[key] for key in ("UserName", "UserId", "Arn", "Path", "CreateDate")} == {
        key: created[key] for key in ("UserName", "UserId", "Arn", "Path", "CreateDate")
    }
    assert got["Tags"] == [{"Key": "team", "Value": "a"}]

    listed = iam.list_users(PathPrefix="/team/")["Users"]
    mine = [item for item in listed if item["UserName"] == name]
    assert len(mine) == 1 and "Tags" not in mine[0]
    iam.get_waiter("user_exists").wait(UserName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 2})


def test_list_users_pages(iam, unique):
    path = f"/{unique('page')}/"
    names = sorted(unique("user") for _ in range(5))
    for name in names:
        iam.create_user(UserName=name, Path=path)
    pages = list(iam.get_paginator("list_users").paginate(PathPrefix=path, PaginationConfig={"PageSize": 2}))
    assert [len(page["Users"]) for page in pages] == [2, 2, 1]
    assert [user["UserName"] for page in pages for user in page["Users"]] == names


#: The self-service policy AWS's IAM guide shows: a user may read itself and manage its own keys.
SELF_SERVICE = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": ["iam:GetUser", "iam:*AccessKey*"],
    "Resource": "arn:aws:iam::*:user/${aws:username}"}]})


def test_get_user_without_a_name_is_the_caller(server, iam, user):
    root = iam.get_user()["User"]
    assert (root["UserId"], root["Arn"]) == (ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root")

    iam.put_user_policy(UserName=user, PolicyName="self", PolicyDocument=SELF_SERVICE)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    own = server.client("iam", credentials=(key["AccessKeyId"], key["SecretAccessKey"])).get_user()["User"]
    assert own["UserName"] == user and own["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/{user}"
    iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])


def test_duplicate_user_in_any_case(iam, user):
    for name in (user, user.upper()):
        assert failure(iam.create_user, UserName=name) == (
            409, "EntityAlreadyExists", f"User with name {name} already exists."
        )


def test_missing_user(iam, unique):
    name = unique("nobody")
    message = f"The user with name {name} cannot be found."
    for call, arguments in [
        (iam.get_user, {}), (iam.delete_user, {}), (iam.update_user, {"NewPath": "/x/"}),
        (iam.create_access_key, {}), (iam.list_access_keys, {}),
        (iam.put_user_policy, {"PolicyName": "p", "PolicyDocument": PERMISSIONS}),
        (iam.attach_user_policy, {"PolicyArn": BASIC_EXECUTION}), (iam.list_user_policies, {}),
    ]:
        assert failure(call, UserName=name, **arguments) == (404, "NoSuchEntity", message), call


def test_update_user_renames_and_keeps_keys_and_policies(server, iam, unique):
    old, new = unique("old"), unique("new")
    created = iam.create_user(UserName=old)["User"]
    key = iam.create_access_key(UserName=old)["AccessKey"]
    iam.put_user_policy(UserName=old, PolicyName="inline", PolicyDocument=PERMISSIONS)
    iam.attach_user_policy(UserName=old, PolicyArn=BASIC_EXECUTION)

    iam.update_user(UserName=old, NewUserName=new, NewPath="/moved/")
    user = iam.get_user(UserName=new)["User"]
    assert (user["UserId"], user["Arn"]) == (created["UserId"], f"arn:aws:iam::{ACCOUNT}:user/moved/{new}")
    assert failure(iam.get_user, UserName=old)[1] == "NoSuchEntity"
    keys = iam.list_access_keys(UserName=new)["AccessKeyMetadata"]
    assert [(item["AccessKeyId"], item["UserName"]) for item in keys] == [(key["AccessKeyId"], new)]
    assert iam.list_user_policies(UserName=new)["PolicyNames"] == ["inline"]
    attached = iam.list_attached_user_policies(UserName=new)["AttachedPolicies"]
    assert [item["PolicyArn"] for item in attached] == [BASIC_EXECUTION]
    identity = server.client("sts", credentials=(key["AccessKeyId"], key["SecretAccessKey"])).get_caller_identity()
    assert identity["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/moved/{new}"

    taken = unique("taken")
    iam.create_user(UserName=taken)
    assert failure(iam.update_user, UserName=new, NewUserName=taken.upper()) == (
        409, "EntityAlreadyExists", f"User with name {taken.upper()} already exists."
    )


def test_delete_user_conflicts_until_everything_is_gone(iam, user):
    key = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    iam.put_user_policy(UserName=user, PolicyName="inline", PolicyDocument=PERMISSIONS)
    iam.attach_user_policy(UserName=user, PolicyArn=BASIC_EXECUTION)
    conflicts = [
        ("Cannot delete entity, must delete access keys first.",
         lambda: iam.delete_access_key(UserName=user, AccessKeyId=key)),
        ("Cannot delete entity, must detach all policies first.",
         lambda: iam.detach_user_policy(UserName=user, PolicyArn=BASIC_EXECUTION)),
        ("Cannot delete entity, must delete policies first.",
         lambda: iam.delete_user_policy(UserName=user, PolicyName="inline")),
    ]
    for message, remove in conflicts:
        assert failure(iam.delete_user, UserName=user) == (409, "DeleteConflict", message)
        remove()
    iam.delete_user(UserName=user)
    assert failure(iam.get_user, UserName=user)[1] == "NoSuchEntity"


# Access keys


def test_access_key_lifecycle_and_quota(iam, user):
    first = iam.create_access_key(UserName=user)["AccessKey"]
    assert first["AccessKeyId"].startswith("AKIA") and len(first["AccessKeyId"]) == 20
    assert len(first["SecretAccessKey"]) == 40
    assert (first["UserName"], first["Status"]) == (user, "Active")
    second = iam.create_access_key(UserName=user)["AccessKey"]
    assert failure(iam.create_access_key, UserName=user) == (
        409, "LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2"
    )

    listed = iam.list_access_keys(UserName=user)
    assert sorted(item["AccessKeyId"] for item in listed["AccessKeyMetadata"]) == sorted(
        [first["AccessKeyId"], second["AccessKeyId"]]
    )
    assert all("SecretAccessKey" not in item for item in listed["AccessKeyMetadata"])
    assert listed["IsTruncated"] is False

    iam.update_access_key(UserName=user, AccessKeyId=first["AccessKeyId"], Status="Inactive")
    statuses = {item["AccessKeyId"]: item["Status"] for item in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}
    assert statuses == {first["AccessKeyId"]: "Inactive", second["AccessKeyId"]: "Active"}
    iam.update_access_key(UserName=user, AccessKeyId=first["AccessKeyId"], Status="Active")

    iam.delete_access_key(UserName=user, AccessKeyId=first["AccessKeyId"])
    assert [item["AccessKeyId"] for item in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]] == [
        second["AccessKeyId"]
    ]
    third = iam.create_access_key(UserName=user)["AccessKey"]
    assert third["AccessKeyId"] not in (first["AccessKeyId"], second["AccessKeyId"])

    last_used = iam.get_access_key_last_used(AccessKeyId=second["AccessKeyId"])
    assert last_used["UserName"] == user
    assert last_used["AccessKeyLastUsed"] == {"ServiceName": "N/A", "Region": "N/A"}


def test_key_calls_on_another_users_key_find_nothing(iam, unique):
    owner, other = unique("owner"), unique("other")
    iam.create_user(UserName=owner)
    iam.create_user(UserName=other)
    key = iam.create_access_key(UserName=owner)["AccessKey"]["AccessKeyId"]
    message = f"The Access Key with id {key} cannot be found."
    assert failure(iam.update_access_key, UserName=other, AccessKeyId=key, Status="Inactive") == (
        404, "NoSuchEntity", message
    )
    assert failure(iam.delete_access_key, UserName=other, AccessKeyId=key) == (404, "NoSuchEntity", message)
    assert iam.list_access_keys(UserName=owner)["AccessKeyMetadata"][0]["Status"] == "Active"


def test_a_user_manages_its_own_keys_without_naming_itself(server, iam, user):
    iam.put_user_policy(UserName=user, PolicyName="self", PolicyDocument=SELF_SERVICE)
    key = iam.create_access_key(UserName=user)["AccessKey"]
    own = server.client("iam", credentials=(key["AccessKeyId"], key["SecretAccessKey"]))
    created = own.create_access_key()["AccessKey"]
    assert created["UserName"] == user
    listed = {item["AccessKeyId"] for item in own.list_access_keys()["AccessKeyMetadata"]}
    assert listed == {key["AccessKeyId"], created["AccessKeyId"]}
    own.update_access_key(AccessKeyId=created["AccessKeyId"], Status="Inactive")
    own.delete_access_key(AccessKeyId=created["AccessKeyId"])
    assert [item["AccessKeyId"] for item in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]] == [
        key["AccessKeyId"]
    ]


def test_root_manages_the_root_keys(fresh_server):
    iam = fresh_server.client("iam", account="222222222222")
    first, _ = fresh_server.root("222222222222")
    assert [item["AccessKeyId"] for item in iam.list_access_keys()["AccessKeyMetadata"]] == [first]
    created = iam.create_access_key()["AccessKey"]
    assert "UserName" not in created and created["AccessKeyId"].startswith("AKIA")
    signed = fresh_server.client("sts", credentials=(created["AccessKeyId"], created["SecretAccessKey"]))
    assert signed.get_caller_identity()["Arn"] == "arn:aws:iam::222222222222:root"
    listed = {item["AccessKeyId"] for item in iam.list_access_keys()["AccessKeyMetadata"]}
    assert listed == {first, created["AccessKeyId"]}
    iam.delete_access_key(AccessKeyId=created["AccessKeyId"])
    assert [item["AccessKeyId"] for item in iam.list_access_keys()["AccessKeyMetadata"]] == [first]


def test_the_secret_is_shown_once_and_never_stored_in_clear(server, iam, user):
    key = iam.create_access_key(UserName=user)["AccessKey"]
    secret = key["SecretAccessKey"]
    assert secret.encode() not in database_bytes(server)
    assert "SecretAccessKey" not in iam.list_access_keys(UserName=user)["AccessKeyMetadata"][0]
    assert secret not in json.dumps(iam.get_user(UserName=user), default=str)


def test_keys_and_users_survive_a_restart(fresh_server, unique):
    iam = fresh_server.client("iam")
    name = unique("user")
    iam.create_user(UserName=name)
    made = iam.create_access_key(UserName=name)["AccessKey"]
    key = made["AccessKeyId"]
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=PERMISSIONS)
    fresh_server.stop()
    fresh_server.start()
    iam = fresh_server.client("iam")
    assert iam.get_user(UserName=name)["User"]["UserName"] == name
    assert [item["AccessKeyId"] for item in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]] == [key]
    signed = fresh_server.client("sts", credentials=(key, made["SecretAccessKey"]))
    assert signed.get_caller_identity()["Arn"].endswith(f":user/{name}")


# User policies


def test_user_inline_policies(iam, user):
    iam.put_user_policy(UserName=user, PolicyName="b", PolicyDocument=PERMISSIONS)
    iam.put_user_policy(UserName=user, PolicyName="a", PolicyDocument=PERMISSIONS)
    got = iam.get_user_policy(UserName=user, PolicyName="b")
    assert (got["UserName"], got["PolicyName"], got["PolicyDocument"]) == (user, "b", json.loads(PERMISSIONS))
    assert iam.list_user_policies(UserName=user)["PolicyNames"] == ["a", "b"]
    iam.delete_user_policy(UserName=user, PolicyName="a")
    assert failure(iam.get_user_policy, UserName=user, PolicyName="a") == (
        404, "NoSuchEntity", "The user policy with name a cannot be found."
    )
    assert failure(iam.put_user_policy, UserName=user, PolicyName="x", PolicyDocument="{") == (
        400, "MalformedPolicyDocument", "This policy contains invalid Json"
    )


def test_user_managed_policies_count_attachments(iam, user, unique):
    arn = iam.create_policy(PolicyName=unique("policy"), PolicyDocument=PERMISSIONS)["Policy"]["Arn"]
    iam.attach_user_policy(UserName=user, PolicyArn=arn)
    iam.attach_user_policy(UserName=user, PolicyArn=arn)  # again: no change
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 1
    assert failure(iam.delete_policy, PolicyArn=arn) == (
        409, "DeleteConflict", "Cannot delete a policy attached to entities."
    )
    attached = iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]
    assert attached == [{"PolicyName": arn.rsplit("/", 1)[-1], "PolicyArn": arn}]
    iam.detach_user_policy(UserName=user, PolicyArn=arn)
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 0
    assert failure(iam.detach_user_policy, UserName=user, PolicyArn=arn) == (
        404, "NoSuchEntity", f"Policy {arn} was not found."
    )
    iam.delete_policy(PolicyArn=arn)


# Hostile input


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("u" * 10_000, "1 validation error detected: Value '{shown}' at 'userName' failed to satisfy constraint: "
                       "Member must have length less than or equal to 64"),
        ("ünïcode", "The specified value for userName is invalid. "
                    "It must contain only alphanumeric characters and/or the following: +=,.@_-"),
        ("a/b", "The specified value for userName is invalid. "
                "It must contain only alphanumeric characters and/or the following: +=,.@_-"),
    ],
)
def test_hostile_user_names_change_nothing(iam, name, message):
    before = iam.list_users(MaxItems=1000)["Users"]
    status, code, text = failure(iam.create_user, UserName=name)
    assert (status, code) == (400, "ValidationError")
    if "{shown}" in message:
        assert text.startswith("1 validation error detected: Value '") and text.endswith(
            "' at 'userName' failed to satisfy constraint: Member must have length less than or equal to 64"
        )
    else:
        assert text == message
    assert iam.list_users(MaxItems=1000)["Users"] == before


def test_hostile_policies_change_nothing(iam, user):
    huge = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "x" * 140_000}]})
    status, code, _ = failure(iam.put_user_policy, UserName=user, PolicyName="huge", PolicyDocument=huge)
    assert (status, code) == (400, "ValidationError")
    deep = "[" * 10_000 + "]" * 10_000
    assert failure(iam.put_user_policy, UserName=user, PolicyName="deep", PolicyDocument=deep) == (
        400, "MalformedPolicyDocument", "Syntax errors in policy."
    )
    assert iam.list_user_policies(UserName=user)["PolicyNames"] == []


def test_key_validation(iam, raw_iam, user):
    assert failure(iam.update_access_key, UserName=user, AccessKeyId="AKIA" + "A" * 16, Status="Expired") == (
        400, "ValidationError",
        "1 validation error detected: Value 'Expired' at 'status' failed to satisfy constraint: "
        "Member must satisfy enum value set: [Active, Inactive]",
    )
    assert failure(raw_iam.delete_access_key, UserName=user, AccessKeyId="short") == (
        400, "ValidationError",
        "1 validation error detected: Value 'short' at 'accessKeyId' failed to satisfy constraint: "
        "Member must have length greater than or equal to 16",
    )
