"""The Query-protocol actions of IAM users, groups and access keys, and of STS.

Each table maps an action to a handler that reads the form and calls the control plane with
the calling principal (for the actions that act on "the caller's own": GetUser, the access key
calls, GetCallerIdentity, AssumeRole) or its account.
"""

from __future__ import annotations

from dataclasses import dataclass

from lambdabox.api.query_form import Body, Form, Handler, encoded
from lambdabox.control.held_policies import HeldPolicies
from lambdabox.control.iam_groups import Groups
from lambdabox.control.iam_users import Users
from lambdabox.control.sts import Sts, caller_identity
from lambdabox.model.principals import Principal


@dataclass(frozen=True)
class IdentityServices:
    users: Users
    groups: Groups
    sts: Sts


def _policy_actions(policies: HeldPolicies, noun: str, name: str) -> dict[str, Handler]:
    """Put/Get/Delete/List{noun}Policies and Attach/Detach/ListAttached{noun}Policies; `name` is e.g. UserName."""

    def listed(caller: Principal, form: Form) -> Body:
        return policies.names(caller.account, form.required(name), form.text("Marker"), form.integer("MaxItems"))

    def attached(caller: Principal, form: Form) -> Body:
        return policies.attached(
            caller.account, form.required(name), form.text("PathPrefix"), form.text("Marker"), form.integer("MaxItems")
        )

    return {
        f"Put{noun}Policy": lambda caller, form: policies.put(
            caller.account, form.required(name), form.required("PolicyName"), form.required("PolicyDocument")
        ),
        f"Get{noun}Policy": lambda caller, form: encoded(
            policies.get(caller.account, form.required(name), form.required("PolicyName")), "PolicyDocument"
        ),
        f"Delete{noun}Policy": lambda caller, form: policies.delete(
            caller.account, form.required(name), form.required("PolicyName")
        ),
        f"List{noun}Policies": listed,
        f"Attach{noun}Policy": lambda caller, form: policies.attach(
            caller.account, form.required(name), form.required("PolicyArn")
        ),
        f"Detach{noun}Policy": lambda caller, form: policies.detach(
            caller.account, form.required(name), form.required("PolicyArn")
        ),
        f"ListAttached{noun}Policies": attached,
    }


def user_actions(users: Users) -> dict[str, Handler]:
    def list_users(caller: Principal, form: Form) -> Body:
        return users.list_users(caller.account, form.text("PathPrefix"), form.text("Marker"), form.integer("MaxItems"))

    def list_keys(caller: Principal, form: Form) -> Body:
        return users.list_access_keys(caller, form.text("UserName"), form.text("Marker"), form.integer("MaxItems"))

    return {
        "CreateUser": lambda caller, form: {"User": users.create_user(
            caller.account, form.required("UserName"), form.text("Path"), form.text("PermissionsBoundary"), form.tags()
        )},
        "GetUser": lambda caller, form: {"User": users.get_user(caller, form.text("UserName"))},
        "ListUsers": list_users,
        "UpdateUser": lambda caller, form: users.update_user(
            caller.account, form.required("UserName"), form.text("NewUserName"), form.text("NewPath")
        ),
        "DeleteUser": lambda caller, form: users.delete_user(caller.account, form.required("UserName")),
        "CreateAccessKey": lambda caller, form: {"AccessKey": users.create_access_key(caller, form.text("UserName"))},
        "ListAccessKeys": list_keys,
        "UpdateAccessKey": lambda caller, form: users.update_access_key(
            caller, form.text("UserName"), form.required("AccessKeyId"), form.required("Status")
        ),
        "DeleteAccessKey": lambda caller, form: users.delete_access_key(
            caller, form.text("UserName"), form.required("AccessKeyId")
        ),
        "GetAccessKeyLastUsed": lambda caller, form: users.access_key_last_used(caller, form.required("AccessKeyId")),
        **_policy_actions(users.policies, "User", "UserName"),
    }


def group_actions(groups: Groups) -> dict[str, Handler]:
    def get_group(caller: Principal, form: Form) -> Body:
        return groups.get_group(caller.account, form.required("GroupName"), form.text("Marker"), form.integer("MaxItems"))

    def list_groups(caller: Principal, form: Form) -> Body:
        return groups.list_groups(caller.account, form.text("PathPrefix"), form.text("Marker"), form.integer("MaxItems"))

    def for_user(caller: Principal, form: Form) -> Body:
        return groups.groups_for_user(
            caller.account, form.required("UserName"), form.text("Marker"), form.integer("MaxItems")
        )

    return {
        "CreateGroup": lambda caller, form: {"Group": groups.create_group(
            caller.account, form.required("GroupName"), form.text("Path")
        )},
        "GetGroup": get_group,
        "ListGroups": list_groups,
        "DeleteGroup": lambda caller, form: groups.delete_group(caller.account, form.required("GroupName")),
        "AddUserToGroup": lambda caller, form: groups.add_user(
            caller.account, form.required("GroupName"), form.required("UserName")
        ),
        "RemoveUserFromGroup": lambda caller, form: groups.remove_user(
            caller.account, form.required("GroupName"), form.required("UserName")
        ),
        "ListGroupsForUser": for_user,
        **_policy_actions(groups.policies, "Group", "GroupName"),
    }


def sts_actions(sts: Sts) -> dict[str, Handler]:
    def assume_role(caller: Principal, form: Form) -> Body:
        return sts.assume_role(
            caller, form.required("RoleArn"), form.required("RoleSessionName"), form.integer("DurationSeconds"),
            form.text("Policy"), form.members("PolicyArns", "arn"), form.text("ExternalId"),
        )

    return {"GetCallerIdentity": lambda caller, _: caller_identity(caller), "AssumeRole": assume_role}
