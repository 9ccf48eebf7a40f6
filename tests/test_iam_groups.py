"""IAM groups over the Query protocol with boto3 against a real server."""

from __future__ import annotations

import json

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
def group(iam, unique) -> str:
    name = unique("group")
    iam.create_group(GroupName=name)
    return name


def test_create_get_and_list_groups(iam, unique):
    name = unique("group")
    created = iam.create_group(GroupName=name, Path="/teams/")["Group"]
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT}:group/teams/{name}"
    assert created["GroupId"].startswith("AGPA") and len(created["GroupId"]) == 21
    got = iam.get_group(GroupName=name)
    assert got["Group"]["GroupId"] == created["GroupId"] and got["Users"] == [] and got["IsTruncated"] is False
    assert [item["GroupName"] for item in iam.list_groups(PathPrefix="/teams/")["Groups"]] == [name]
    assert failure(iam.create_group, GroupName=name.upper()) == (
        409, "EntityAlreadyExists", f"Group with name {name.upper()} already exists."
    )


def test_membership(iam, group, unique):
    users = sorted(unique("member") for _ in range(3))
    for user in users:
        iam.create_user(UserName=user)
        iam.add_user_to_group(GroupName=group, UserName=user)
    iam.add_user_to_group(GroupName=group, UserName=users[0])  # again: no change
    pages = list(iam.get_paginator("get_group").paginate(GroupName=group, PaginationConfig={"PageSize": 2}))
    assert [user["UserName"] for page in pages for user in page["Users"]] == users
    assert [item["GroupName"] for item in iam.list_groups_for_user(UserName=users[0])["Groups"]] == [group]

    assert failure(iam.delete_group, GroupName=group) == (
        409, "DeleteConflict", "Cannot delete entity, must remove users from group first."
    )
    assert failure(iam.delete_user, UserName=users[0])[:2] == (409, "DeleteConflict")

    renamed = unique("renamed")
    iam.update_user(UserName=users[0], NewUserName=renamed)
    assert renamed in [user["UserName"] for user in iam.get_group(GroupName=group)["Users"]]
    assert [item["GroupName"] for item in iam.list_groups_for_user(UserName=renamed)["Groups"]] == [group]

    for user in [renamed, *users[1:]]:
        iam.remove_user_from_group(GroupName=group, UserName=user)
        iam.delete_user(UserName=user)
    iam.delete_group(GroupName=group)
    assert failure(iam.get_group, GroupName=group) == (
        404, "NoSuchEntity", f"The group with name {group} cannot be found."
    )


def test_group_policies(iam, group, unique):
    iam.put_group_policy(GroupName=group, PolicyName="inline", PolicyDocument=PERMISSIONS)
    got = iam.get_group_policy(GroupName=group, PolicyName="inline")
    assert (got["GroupName"], got["PolicyDocument"]) == (group, json.loads(PERMISSIONS))
    assert iam.list_group_policies(GroupName=group)["PolicyNames"] == ["inline"]
    arn = iam.create_policy(PolicyName=unique("policy"), PolicyDocument=PERMISSIONS)["Policy"]["Arn"]
    iam.attach_group_policy(GroupName=group, PolicyArn=arn)
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 1
    assert [p["PolicyArn"] for p in iam.list_attached_group_policies(GroupName=group)["AttachedPolicies"]] == [arn]

    assert failure(iam.delete_group, GroupName=group) == (
        409, "DeleteConflict", "Cannot delete entity, must detach all policies first."
    )
    iam.detach_group_policy(GroupName=group, PolicyArn=arn)
    assert failure(iam.delete_group, GroupName=group) == (
        409, "DeleteConflict", "Cannot delete entity, must delete policies first."
    )
    iam.delete_group_policy(GroupName=group, PolicyName="inline")
    assert failure(iam.get_group_policy, GroupName=group, PolicyName="inline") == (
        404, "NoSuchEntity", "The group policy with name inline cannot be found."
    )
    iam.delete_group(GroupName=group)
    iam.delete_policy(PolicyArn=arn)


def test_missing_group_and_user(iam, group, unique):
    missing = unique("missing")
    assert failure(iam.add_user_to_group, GroupName=missing, UserName="x") == (
        404, "NoSuchEntity", f"The group with name {missing} cannot be found."
    )
    assert failure(iam.add_user_to_group, GroupName=group, UserName=missing) == (
        404, "NoSuchEntity", f"The user with name {missing} cannot be found."
    )
    assert failure(iam.attach_group_policy, GroupName=missing, PolicyArn=BASIC_EXECUTION)[1] == "NoSuchEntity"
    assert failure(iam.create_group, GroupName="g" * 129)[:2] == (400, "ValidationError")
