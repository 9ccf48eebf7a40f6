"""IAM groups: users gathered so that policies can be given to all of them at once.

Records, in the account's namespace:
- ``group``            GROUP                  IAM's Group document: {"Path", "GroupName", "GroupId" (AGPA…),
                                              "Arn", "CreateDate"}
- ``group-name``       group name lowercased  {"GroupName"}: group names are unique regardless of case
- ``group-policy``, ``group-attachment``: the group's policies (control/held_policies.py)
- membership: ``user-group`` and ``group-member`` (control/iam_users.py, which renames them with the user)

Contract: as control/iam.py's.
"""

from __future__ import annotations

from typing import Any

from lambdabox.control.held_policies import HeldPolicies, Holder
from lambdabox.control.iam import list_fields, page, page_under_path, put_named
from lambdabox.control.iam_users import GROUP_MEMBER, USER_GROUP, USERS
from lambdabox.model import iam
from lambdabox.model.iam import Checks
from lambdabox.model.timestamps import now
from lambdabox.store.records import RecordStore

GROUP, GROUP_NAME, GROUP_POLICY, GROUP_ATTACHMENT = "group", "group-name", "group-policy", "group-attachment"

GROUPS = Holder(GROUP, GROUP_POLICY, GROUP_ATTACHMENT, "groupName", "GroupName", iam.group_not_found)

Body = dict[str, Any]


def _check(group: str, user: str | None = None) -> Checks:
    checks = Checks()
    checks.name(group, "groupName", 128)
    if user is not None:
        checks.name(user, "userName", 128)
    return checks


class Groups:
    def __init__(self, store: RecordStore) -> None:
        self._store = store
        #: The group's inline and attached managed policies.
        self.policies = HeldPolicies(store, GROUPS)

    def create_group(self, account: str, name: str, path: str | None = None) -> Body:
        """Create a group and return its Group document; EntityAlreadyExists if the name is taken in any case."""
        path = "/" if path is None else path
        checks = _check(name)
        checks.role_path(path)
        checks.done()
        group = {
            "Path": path,
            "GroupName": name,
            "GroupId": iam.unique_id("AGPA"),
            "Arn": iam.group_arn(account, path, name),
            "CreateDate": iam.iam_time(now()),
        }
        with self._store.transaction() as records:
            put_named(records, GROUP, GROUP_NAME, account, name, "GroupName", group, "Group")
        return group

    def get_group(self, account: str, name: str, marker: str | None = None, max_items: int | None = None) -> Body:
        """{"Group", "Users" (a page of them, in name order), "IsTruncated", "Marker"?}."""
        checks = _check(name)
        checks.paging(marker, max_items)
        checks.done()
        with self._store.reading() as records:
            group = GROUPS.require(records, account, name)
            members, paging = page(records, GROUP_MEMBER, account, f"{name}/", marker, max_items)
            users = [records.get(USERS.kind, account, member["UserName"]) for member in members]
        listed = [list_fields(user, "Tags", "PermissionsBoundary") for user in users if user is not None]
        return {"Group": group, "Users": listed, **paging}

    def list_groups(
        self, account: str, path_prefix: str | None = None, marker: str | None = None, max_items: int | None = None
    ) -> Body:
        groups, paging = page_under_path(self._store, GROUP, account, path_prefix, marker, max_items)
        return {"Groups": groups, **paging}

    def delete_group(self, account: str, name: str) -> None:
        """Delete a group; DeleteConflict while it has members or policies."""
        _check(name).done()
        with self._store.transaction() as records:
            GROUPS.require(records, account, name)
            if records.scan(GROUP_MEMBER, account, prefix=f"{name}/", limit=1):
                raise iam.DeleteConflict("Cannot delete entity, must remove users from group first.")
            GROUPS.holds_policies(records, account, name)
            records.delete(GROUP, account, name)
            records.delete(GROUP_NAME, account, name.lower())

    def add_user(self, account: str, group: str, user: str) -> None:
        """Put a user in a group; adding it again changes nothing."""
        _check(group, user).done()
        with self._store.transaction() as records:
            GROUPS.require(records, account, group)
            USERS.require(records, account, user)
            records.put(USER_GROUP, account, f"{user}/{group}", {"GroupName": group})
            records.put(GROUP_MEMBER, account, f"{group}/{user}", {"UserName": user})

    def remove_user(self, account: str, group: str, user: str) -> None:
        """Take a user out of a group; NoSuchEntity if it is not in it."""
        _check(group, user).done()
        with self._store.transaction() as records:
            GROUPS.require(records, account, group)
            USERS.require(records, account, user)
            if not records.delete(GROUP_MEMBER, account, f"{group}/{user}"):
                # AWS's wording here is not known.
                raise iam.NoSuchEntity(f"The user with name {user} is not in group {group}.")
            records.delete(USER_GROUP, account, f"{user}/{group}")

    def groups_for_user(
        self, account: str, user: str, marker: str | None = None, max_items: int | None = None
    ) -> Body:
        """{"Groups", "IsTruncated", "Marker"?}: the groups a user is in, in name order."""
        checks = Checks()
        checks.name(user, "userName", 128)
        checks.paging(marker, max_items)
        checks.done()
        with self._store.reading() as records:
            USERS.require(records, account, user)
            memberships, paging = page(records, USER_GROUP, account, f"{user}/", marker, max_items)
            groups = [records.get(GROUP, account, membership["GroupName"]) for membership in memberships]
        return {"Groups": [group for group in groups if group is not None], **paging}
