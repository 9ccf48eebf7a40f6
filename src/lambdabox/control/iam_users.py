"""IAM users and their access keys.

IAM is global: every record lives in the namespace of the account alone. Kinds and keys:
- ``user``            USER                  IAM's User document: {"Path", "UserName", "UserId" (AIDA…), "Arn",
                                            "CreateDate", "Tags"?, "PermissionsBoundary"?}
- ``user-name``       user name lowercased  {"UserName"}: user names are unique regardless of case
- ``user-policy``, ``user-attachment``: the user's policies (control/held_policies.py)
- ``user-group``      USER/GROUP            {"GroupName"}: the groups a user is in
- ``group-member``    GROUP/USER            {"UserName"}: the same membership, listed from the group
Access keys are control/credentials.py's (``access-key`` in namespace ``global``, the secret sealed,
and the ``user-key`` index USER/KEY); this module never stores a secret itself.

Whose keys a key call acts on: the user it names; without UserName, the caller's own. A user's
own keys are its own; the account's root manages the root's own keys, as AWS allows; a role
session has no keys of its own and must name a user (ValidationError, as AWS answers).

Contract: as control/iam.py's. Every call is one store transaction; input is checked before
anything is read, in AWS's order; a renamed user keeps its keys, policies and groups.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lambdabox.control.credentials import ACCOUNT, GLOBAL, AccessKey, Credentials
from lambdabox.control.held_policies import HeldPolicies, Holder
from lambdabox.control.iam import list_fields, page_under_path, put_named, with_extras
from lambdabox.model import iam
from lambdabox.model.iam import Checks
from lambdabox.model.principals import ASSUMED_ROLE, USER, Principal
from lambdabox.model.timestamps import now
from lambdabox.store.records import Records, RecordStore

USER_KIND, USER_NAME, USER_POLICY, USER_ATTACHMENT = "user", "user-name", "user-policy", "user-attachment"
USER_GROUP, GROUP_MEMBER = "user-group", "group-member"

USERS = Holder(USER_KIND, USER_POLICY, USER_ATTACHMENT, "userName", "UserName", iam.user_not_found)

#: What GetAccessKeyLastUsed reports for a key never used (its use is not tracked yet).
_NEVER_USED = {"ServiceName": "N/A", "Region": "N/A"}

Body = dict[str, Any]


def _key_not_found(key_id: str) -> iam.NoSuchEntity:
    return iam.NoSuchEntity(f"The Access Key with id {key_id} cannot be found.")


def _key_body(key: AccessKey, secret: bool = False) -> Body:
    """IAM's AccessKey (with the secret) or AccessKeyMetadata; a root key names no user."""
    body: Body = {} if key.user_name is None else {"UserName": key.user_name}
    body |= {"AccessKeyId": key.access_key, "Status": key.status}
    if secret:
        body["SecretAccessKey"] = key.secret
    body["CreateDate"] = key.created
    return body


class Users:
    """Users, their access keys and their policies, in each account."""

    def __init__(self, store: RecordStore, credentials: Credentials) -> None:
        self._store = store
        self._credentials = credentials
        #: The user's inline and attached managed policies.
        self.policies = HeldPolicies(store, USERS)

    # Users

    def create_user(
        self, account: str, name: str, path: str | None = None, permissions_boundary: str | None = None,
        tags: Sequence[dict[str, str]] = (),
    ) -> Body:
        """Create a user and return its User document; EntityAlreadyExists if the name is taken in any case."""
        path = "/" if path is None else path
        checks = Checks()
        checks.name(name, "userName", 64)
        checks.role_path(path)
        if permissions_boundary is not None:
            checks.arn(permissions_boundary, "permissionsBoundary")
        checks.tags(tags)
        checks.done()
        if permissions_boundary is not None:
            iam.parse_policy_arn(permissions_boundary)
        iam.check_tag_keys(tags)
        user: Body = {
            "Path": path,
            "UserName": name,
            "UserId": iam.unique_id("AIDA"),
            "Arn": iam.user_arn(account, path, name),
            "CreateDate": iam.iam_time(now()),
        }
        with_extras(user, permissions_boundary, tags)
        with self._store.transaction() as records:
            put_named(records, USER_KIND, USER_NAME, account, name, "UserName", user, "User")
        return user

    def get_user(self, caller: Principal, name: str | None = None) -> Body:
        """The named user, or the calling one: for the root, the root "user" (UserId and Arn of the account)."""
        if name is None:
            if caller.is_root:
                with self._store.reading() as records:
                    account = records.get(ACCOUNT, GLOBAL, caller.account) or {}
                root = {"UserId": caller.account, "Arn": caller.arn}
                return root | ({"CreateDate": account["CreateDate"]} if "CreateDate" in account else {})
            name = self._own_user(caller)
        checks = Checks()
        checks.name(name, "userName", 128)
        checks.done()
        with self._store.reading() as records:
            return USERS.require(records, caller.account, name)

    def list_users(
        self, account: str, path_prefix: str | None = None, marker: str | None = None, max_items: int | None = None
    ) -> Body:
        """A page of users in name order, under `path_prefix` if given: {"Users", "IsTruncated", "Marker"?}."""
        users, paging = page_under_path(self._store, USER_KIND, account, path_prefix, marker, max_items)
        return {"Users": [list_fields(user, "Tags", "PermissionsBoundary") for user in users], **paging}

    def update_user(self, account: str, name: str, new_name: str | None = None, new_path: str | None = None) -> None:
        """Rename and/or move a user; its id, keys, policies and groups stay with it."""
        checks = Checks()
        checks.name(name, "userName", 128)
        if new_path is not None:
            checks.role_path(new_path, "newPath")
        if new_name is not None:
            checks.name(new_name, "newUserName", 64)
        checks.done()
        with self._store.transaction() as records:
            user = USERS.require(records, account, name)
            target = name if new_name is None else new_name
            if target != name:
                taken = records.get(USER_NAME, account, target.lower())
                if taken is not None and taken["UserName"] != name:
                    raise iam.EntityAlreadyExists(f"User with name {target} already exists.")
                self._rename(records, account, name, target)
            user["UserName"] = target
            user["Path"] = user["Path"] if new_path is None else new_path
            user["Arn"] = iam.user_arn(account, user["Path"], target)
            records.put(USER_KIND, account, target, user)

    def _rename(self, records: Records, account: str, old: str, new: str) -> None:
        records.delete(USER_KIND, account, old)
        records.delete(USER_NAME, account, old.lower())
        records.put(USER_NAME, account, new.lower(), {"UserName": new})
        self._credentials.rename_user(records, account, old, new)
        USERS.rename(records, account, old, new)
        for key, membership in records.scan(USER_GROUP, account, prefix=f"{old}/"):
            group = membership["GroupName"]
            records.delete(USER_GROUP, account, key)
            records.put(USER_GROUP, account, f"{new}/{group}", membership)
            records.delete(GROUP_MEMBER, account, f"{group}/{old}")
            records.put(GROUP_MEMBER, account, f"{group}/{new}", {"UserName": new})

    def delete_user(self, account: str, name: str) -> None:
        """Delete a user; DeleteConflict while it has access keys, policies or group memberships."""
        checks = Checks()
        checks.name(name, "userName", 128)
        checks.done()
        with self._store.transaction() as records:
            USERS.require(records, account, name)
            if self._credentials.user_keys(records, account, name):
                raise iam.DeleteConflict("Cannot delete entity, must delete access keys first.")
            USERS.holds_policies(records, account, name)
            if records.scan(USER_GROUP, account, prefix=f"{name}/", limit=1):
                # AWS's wording for a user still in a group is not known; this is the one DeleteGroup gives.
                raise iam.DeleteConflict("Cannot delete entity, must remove users from group first.")
            records.delete(USER_KIND, account, name)
            records.delete(USER_NAME, account, name.lower())

    # Access keys

    def _own_user(self, caller: Principal) -> str:
        """The user a call without UserName acts on: the calling user's own (root is handled by the caller)."""
        if caller.kind == USER:
            return caller.name
        if caller.kind == ASSUMED_ROLE:
            raise iam.IamValidationError("Must specify userName when calling with non-User credentials")
        raise AssertionError(f"no user for a {caller.kind} principal")

    def _owner(self, caller: Principal, user_name: str | None) -> str | None:
        """Whose keys a key call acts on: a user's name, or None for the account's root."""
        if user_name is not None or not caller.is_root:
            return user_name if user_name is not None else self._own_user(caller)
        return None

    def _keys(self, records: Records, account: str, owner: str | None) -> list[AccessKey]:
        if owner is None:
            return self._credentials.account_root_keys(records, account)
        USERS.require(records, account, owner)
        return self._credentials.user_keys(records, account, owner)

    def create_access_key(self, caller: Principal, user_name: str | None = None) -> Body:
        """A new active key with its secret (shown only here); LimitExceeded past two keys."""
        checks = Checks()
        if user_name is not None:
            checks.name(user_name, "userName", 128)
        checks.done()
        owner = self._owner(caller, user_name)
        with self._store.transaction() as records:
            if len(self._keys(records, caller.account, owner)) >= iam.MAX_KEYS_PER_USER:
                raise iam.LimitExceeded(f"Cannot exceed quota for AccessKeysPerUser: {iam.MAX_KEYS_PER_USER}")
            key = self._credentials.create_key(records, caller.account, owner)
        return _key_body(key, secret=True)

    def list_access_keys(
        self, caller: Principal, user_name: str | None = None, marker: str | None = None, max_items: int | None = None
    ) -> Body:
        """{"AccessKeyMetadata", "IsTruncated", "Marker"?}: the keys, without secrets, in key order."""
        checks = Checks()
        if user_name is not None:
            checks.name(user_name, "userName", 128)
        checks.paging(marker, max_items)
        checks.done()
        owner = self._owner(caller, user_name)
        with self._store.reading() as records:
            keys = self._keys(records, caller.account, owner)
        keys = [key for key in keys if marker is None or key.access_key > marker]
        size = max_items or iam.DEFAULT_MAX_ITEMS
        paging: Body = {"IsTruncated": len(keys) > size}
        if len(keys) > size:
            paging["Marker"] = keys[size - 1].access_key
        return {"AccessKeyMetadata": [_key_body(key) for key in keys[:size]], **paging}

    def _check_key(self, user_name: str | None, key_id: str) -> Checks:
        checks = Checks()
        if user_name is not None:
            checks.name(user_name, "userName", 128)
        if checks.length(key_id, "accessKeyId", 16, 128):
            checks.matches(key_id.isascii() and key_id.replace("_", "a").isalnum(), key_id, "accessKeyId", r"[\w]+")
        return checks

    def _owned_key(self, records: Records, caller: Principal, user_name: str | None, key_id: str) -> AccessKey:
        owner = self._owner(caller, user_name)
        keys = {key.access_key: key for key in self._keys(records, caller.account, owner)}
        if key_id not in keys:
            raise _key_not_found(key_id)
        return keys[key_id]

    def update_access_key(self, caller: Principal, user_name: str | None, key_id: str, status: str) -> None:
        """Make a key Active or Inactive; NoSuchEntity unless it is the owner's."""
        checks = self._check_key(user_name, key_id)
        checks.choice(status, "status", ("Active", "Inactive"))
        checks.done()
        with self._store.transaction() as records:
            self._owned_key(records, caller, user_name, key_id)
            self._credentials.set_status(records, key_id, status)

    def delete_access_key(self, caller: Principal, user_name: str | None, key_id: str) -> None:
        checks = self._check_key(user_name, key_id)
        checks.done()
        with self._store.transaction() as records:
            self._owned_key(records, caller, user_name, key_id)
            self._credentials.delete_key(records, key_id)

    def access_key_last_used(self, caller: Principal, key_id: str) -> Body:
        """{"UserName"?, "AccessKeyLastUsed"}: use is not tracked yet, so every key reads as never used.

        A key of another account is answered as no key at all.
        """
        checks = self._check_key(None, key_id)
        checks.done()
        with self._store.reading() as records:
            key = self._credentials.key(records, key_id)
        if key is None or key.account != caller.account:
            raise _key_not_found(key_id)
        return ({} if key.user_name is None else {"UserName": key.user_name}) | {"AccessKeyLastUsed": dict(_NEVER_USED)}
