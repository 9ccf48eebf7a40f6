"""IAM's roles and policies: the calls AWS tooling makes to set up a function's role.

IAM is global, so every record lives in the namespace of the account alone. Kinds and keys:
- ``role``            ROLE                 IAM's Role document, with ``Arn`` (read by control/roles.py)
- ``role-name``       role name lowercased  {"RoleName"}: role names are unique regardless of case
- ``role-policy``     ROLE/POLICY          an inline policy: {"RoleName", "PolicyName", "PolicyDocument"}
- ``role-attachment`` ROLE/POLICY-ARN      a managed policy attached: {"PolicyName", "PolicyArn", "Path"}
- ``policy``          POLICY-ARN           IAM's Policy document; AWS-managed ones appear once attached
- ``policy-name``     policy name lowercased {"Arn"}: policy names are unique regardless of case and path
- ``policy-version``  POLICY-ARN#v1        IAM's PolicyVersion, with the document
Role and policy names cannot contain ``/`` or ``#``, so the keys above never run together.

Contract:
1. Every call is one store transaction: it happens wholly, or raises an IamError and changes nothing.
2. Input is checked before anything is read, in AWS's order: ValidationError, then
   InvalidInput, then MalformedPolicyDocument; then existence (NoSuchEntity, EntityAlreadyExists,
   DeleteConflict).
3. Calls take and return plain values in IAM's shapes. Policy documents are the JSON text as
   the caller sent it (the Query front URL-encodes them on the wire). Markers are opaque.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from lambdabox.control.roles import ROLE
from lambdabox.model import iam
from lambdabox.model.arns import role_arn
from lambdabox.model.iam import Checks, PolicyRef
from lambdabox.model.timestamps import now
from lambdabox.store.records import Records, RecordStore

ROLE_NAME, INLINE, ATTACHMENT = "role-name", "role-policy", "role-attachment"
POLICY, POLICY_NAME, POLICY_VERSION = "policy", "policy-name", "policy-version"

#: Records read per scan while filling a filtered page.
_SCAN_BATCH = 200

Body = dict[str, Any]


def page(
    records: Records, kind: str, namespace: str, prefix: str, marker: str | None, max_items: int | None,
    keep: Callable[[Body], bool] = lambda _: True,
) -> tuple[list[Body], dict[str, Any]]:
    """Up to `max_items` bodies under `prefix` past `marker` that `keep` accepts, and IsTruncated/Marker."""
    size = max_items or iam.DEFAULT_MAX_ITEMS
    chosen: list[tuple[str, Body]] = []
    after = prefix + marker if marker else None
    while len(chosen) <= size:
        batch = records.scan(kind, namespace, prefix=prefix, after=after, limit=_SCAN_BATCH)
        chosen += [(key, body) for key, body in batch if keep(body)]
        if len(batch) < _SCAN_BATCH:
            break
        after = batch[-1][0]
    truncated = len(chosen) > size
    chosen = chosen[:size]
    paging: dict[str, Any] = {"IsTruncated": truncated}
    if truncated:
        paging["Marker"] = chosen[-1][0][len(prefix):]
    return [body for _, body in chosen], paging


def page_under_path(
    store: RecordStore, kind: str, account: str, path_prefix: str | None, marker: str | None, max_items: int | None,
) -> tuple[list[Body], dict[str, Any]]:
    """A checked page of an account's roles, users or groups (`kind`) in name order, under `path_prefix`."""
    checks = Checks()
    if path_prefix is not None:
        checks.path_prefix(path_prefix)
    checks.paging(marker, max_items)
    checks.done()
    prefix = path_prefix or "/"
    with store.reading() as records:
        return page(records, kind, account, "", marker, max_items, lambda entity: entity["Path"].startswith(prefix))


def with_extras(entity: Body, permissions_boundary: str | None, tags: Sequence[dict[str, str]]) -> Body:
    """A role or user document with its permissions boundary and tags, as IAM shows them."""
    if permissions_boundary is not None:
        entity["PermissionsBoundary"] = {
            "PermissionsBoundaryType": "PermissionsBoundaryPolicy",
            "PermissionsBoundaryArn": permissions_boundary,
        }
    if tags:
        entity["Tags"] = [{"Key": tag["Key"], "Value": tag["Value"]} for tag in tags]
    return entity


def put_named(
    records: Records, kind: str, index: str, account: str, name: str, name_field: str, entity: Body, noun: str
) -> None:
    """Store a new role, user or group, whose names are unique regardless of case; EntityAlreadyExists if taken."""
    if records.get(index, account, name.lower()) is not None:
        raise iam.EntityAlreadyExists(f"{noun} with name {name} already exists.")
    records.put(index, account, name.lower(), {name_field: name})
    records.put(kind, account, name, entity)


def list_fields(body: Body, *dropped: str) -> Body:
    return {key: value for key, value in body.items() if key not in dropped}


class Iam:
    """Roles, managed policies and inline role policies of each account."""

    def __init__(self, store: RecordStore) -> None:
        self._store = store

    # Roles

    def create_role(
        self, account: str, name: str, trust_policy: str, path: str | None = None, description: str | None = None,
        max_session_duration: int | None = None, permissions_boundary: str | None = None,
        tags: Sequence[dict[str, str]] = (),
    ) -> Body:
        """Create a role and return its Role document; EntityAlreadyExists if the name is taken in any case."""
        path = "/" if path is None else path
        checks = Checks()
        checks.name(name, "roleName", 64)
        checks.role_path(path)
        checks.document(trust_policy, "assumeRolePolicyDocument")
        if description is not None:
            checks.description(description, role=True)
        checks.number(max_session_duration, "maxSessionDuration", iam.MIN_SESSION_S, iam.MAX_SESSION_S)
        if permissions_boundary is not None:
            checks.arn(permissions_boundary, "permissionsBoundary")
        checks.tags(tags)
        checks.done()
        if permissions_boundary is not None:
            iam.parse_policy_arn(permissions_boundary)
        iam.check_tag_keys(tags)
        iam.check_policy_document(trust_policy, trust=True)
        role: Body = {
            "Path": path,
            "RoleName": name,
            "RoleId": iam.unique_id("AROA"),
            "Arn": role_arn(account, path, name),
            "CreateDate": iam.iam_time(now()),
            "AssumeRolePolicyDocument": trust_policy,
            "MaxSessionDuration": max_session_duration or iam.DEFAULT_SESSION_S,
        }
        if description is not None:
            role["Description"] = description
        with_extras(role, permissions_boundary, tags)
        with self._store.transaction() as records:
            put_named(records, ROLE, ROLE_NAME, account, name, "RoleName", role, "Role")
        return role

    def get_role(self, account: str, name: str) -> Body:
        """The Role document, with RoleLastUsed; NoSuchEntity if there is no such role."""
        iam.check_names(name)
        with self._store.reading() as records:
            return {**_role(records, account, name), "RoleLastUsed": {}}

    def update_role(
        self, account: str, name: str, description: str | None = None, max_session_duration: int | None = None
    ) -> None:
        """Change a role's description and/or maximum session duration; an empty description removes it."""
        checks = Checks()
        checks.name(name, "roleName", 64)
        if description is not None:
            checks.description(description, role=True)
        checks.number(max_session_duration, "maxSessionDuration", iam.MIN_SESSION_S, iam.MAX_SESSION_S)
        checks.done()
        with self._store.transaction() as records:
            role = _role(records, account, name)
            if description:
                role["Description"] = description
            elif description is not None:
                role.pop("Description", None)
            if max_session_duration is not None:
                role["MaxSessionDuration"] = max_session_duration
            records.put(ROLE, account, name, role)

    def update_trust_policy(self, account: str, name: str, trust_policy: str) -> None:
        """Replace the policy that says who may assume the role (UpdateAssumeRolePolicy)."""
        checks = Checks()
        checks.name(name, "roleName", 64)
        checks.document(trust_policy, "policyDocument")
        checks.done()
        iam.check_policy_document(trust_policy, trust=True)
        with self._store.transaction() as records:
            role = _role(records, account, name)
            role["AssumeRolePolicyDocument"] = trust_policy
            records.put(ROLE, account, name, role)

    def delete_role(self, account: str, name: str) -> None:
        """Delete a role; DeleteConflict while managed policies are attached or inline policies remain."""
        iam.check_names(name)
        with self._store.transaction() as records:
            _role(records, account, name)
            if records.scan(ATTACHMENT, account, prefix=f"{name}/", limit=1):
                raise iam.DeleteConflict("Cannot delete entity, must detach all policies first.")
            if records.scan(INLINE, account, prefix=f"{name}/", limit=1):
                raise iam.DeleteConflict("Cannot delete entity, must delete policies first.")
            records.delete(ROLE, account, name)
            records.delete(ROLE_NAME, account, name.lower())

    def update_role_description(self, account: str, name: str, description: str) -> Body:
        """UpdateRoleDescription: set (or, with "", remove) the description; the Role document."""
        self.update_role(account, name, description)
        return self.get_role(account, name)

    def list_instance_profiles_for_role(
        self, account: str, name: str, marker: str | None = None, max_items: int | None = None
    ) -> Body:
        """Lambdabox has no instance profiles (an EC2 concept): an empty page for a role that exists."""
        checks = Checks()
        checks.name(name, "roleName", 64)
        checks.paging(marker, max_items)
        checks.done()
        with self._store.reading() as records:
            _role(records, account, name)
        return {"InstanceProfiles": [], "IsTruncated": False}

    def list_roles(
        self, account: str, path_prefix: str | None = None, marker: str | None = None, max_items: int | None = None
    ) -> Body:
        """A page of roles in name order, under `path_prefix` if given: {"Roles", "IsTruncated", "Marker"?}."""
        roles, paging = page_under_path(self._store, ROLE, account, path_prefix, marker, max_items)
        return {"Roles": [list_fields(role, "Tags", "PermissionsBoundary") for role in roles], **paging}

    # Managed policies

    def create_policy(
        self, account: str, name: str, document: str, path: str | None = None, description: str | None = None,
        tags: Sequence[dict[str, str]] = (),
    ) -> Body:
        """Create a customer managed policy (version v1) and return its Policy document."""
        path = "/" if path is None else path
        checks = Checks()
        checks.name(name, "policyName", 128)
        checks.policy_path(path)
        checks.document(document, "policyDocument")
        if description is not None:
            checks.description(description, role=False)
        checks.tags(tags)
        checks.done()
        iam.check_tag_keys(tags)
        iam.check_policy_document(document, trust=False)
        arn = iam.policy_arn(account, path, name)
        created = iam.iam_time(now())
        policy: Body = {
            "PolicyName": name,
            "PolicyId": iam.unique_id("ANPA"),
            "Arn": arn,
            "Path": path,
            "DefaultVersionId": "v1",
            "AttachmentCount": 0,
            "PermissionsBoundaryUsageCount": 0,
            "IsAttachable": True,
            "CreateDate": created,
            "UpdateDate": created,
        }
        if description is not None:
            policy["Description"] = description
        if tags:
            policy["Tags"] = [{"Key": tag["Key"], "Value": tag["Value"]} for tag in tags]
        version = {"Document": document, "VersionId": "v1", "IsDefaultVersion": True, "CreateDate": created}
        with self._store.transaction() as records:
            if records.get(POLICY_NAME, account, name.lower()) is not None:
                raise iam.EntityAlreadyExists(
                    f"A policy called {name} already exists. Duplicate names are not allowed."
                )
            records.put(POLICY_NAME, account, name.lower(), {"Arn": arn})
            records.put(POLICY, account, arn, policy)
            records.put(POLICY_VERSION, account, f"{arn}#v1", version)
        return policy

    def get_policy(self, account: str, arn: str) -> Body:
        """The Policy document of a customer or AWS-managed policy; NoSuchEntity if there is none."""
        ref = iam.check_policy_arn(arn)
        with self._store.reading() as records:
            policy = managed_policy(records, account, ref)
        if policy is None:
            raise iam.policy_not_found(arn)
        return policy

    def delete_policy(self, account: str, arn: str) -> None:
        """Delete a customer managed policy and its versions; DeleteConflict while it is attached."""
        ref = iam.check_policy_arn(arn)
        if ref.aws_managed:
            # Which error AWS gives here is not known; InvalidInput is one DeletePolicy may return.
            raise iam.InvalidInput(f"Policy {arn} is managed by AWS and cannot be deleted.")
        with self._store.transaction() as records:
            policy = managed_policy(records, account, ref)
            if policy is None:
                raise iam.policy_not_found(arn)
            if policy["AttachmentCount"]:
                raise iam.DeleteConflict("Cannot delete a policy attached to entities.")
            records.delete(POLICY, account, arn)
            records.delete(POLICY_NAME, account, ref.name.lower())
            records.delete_prefix(POLICY_VERSION, account, f"{arn}#")

    def list_policies(
        self, account: str, scope: str | None = None, only_attached: bool = False, path_prefix: str | None = None,
        marker: str | None = None, max_items: int | None = None,
    ) -> Body:
        """A page of policies: customer ones (Scope Local), AWS-managed ones this account attached (AWS), or both."""
        checks = Checks()
        checks.choice(scope, "scope", ("All", "AWS", "Local"))
        if path_prefix is not None:
            checks.policy_path(path_prefix, "pathPrefix")
        checks.paging(marker, max_items)
        checks.done()
        owners = {"Local": {account}, "AWS": {"aws"}}.get(scope or "All", {account, "aws"})
        prefix = path_prefix or "/"

        def keep(policy: Body) -> bool:
            owner = policy["Arn"].split(":")[4]
            attached = policy["AttachmentCount"] > 0 or not only_attached
            return owner in owners and attached and policy["Path"].startswith(prefix)

        with self._store.reading() as records:
            policies, paging = page(records, POLICY, account, "", marker, max_items, keep)
        return {"Policies": [list_fields(policy, "Description", "Tags") for policy in policies], **paging}

    # Managed policies attached to roles

    def attach_role_policy(self, account: str, role_name: str, arn: str) -> None:
        """Attach a managed policy to a role; attaching it again changes nothing."""
        ref = iam.check_policy_arn(arn, role_name)
        with self._store.transaction() as records:
            _role(records, account, role_name)
            if ref.aws_managed and ref.path == iam.SERVICE_ROLE_POLICY_PATH:
                raise iam.PolicyNotAttachable("Cannot attach a Service Role Policy to a Customer Role.")
            policy = managed_policy(records, account, ref)
            if policy is None:
                raise iam.not_attachable(arn)
            key = f"{role_name}/{arn}"
            if records.get(ATTACHMENT, account, key) is not None:
                return
            records.put(ATTACHMENT, account, key, {"PolicyName": ref.name, "PolicyArn": arn, "Path": ref.path})
            policy["AttachmentCount"] += 1
            records.put(POLICY, account, arn, policy)

    def detach_role_policy(self, account: str, role_name: str, arn: str) -> None:
        """Detach a managed policy from a role; NoSuchEntity if it is not attached."""
        ref = iam.check_policy_arn(arn, role_name)
        with self._store.transaction() as records:
            _role(records, account, role_name)
            if not records.delete(ATTACHMENT, account, f"{role_name}/{arn}"):
                raise iam.policy_not_found(arn)
            policy = managed_policy(records, account, ref)
            if policy is not None:
                policy["AttachmentCount"] = max(0, policy["AttachmentCount"] - 1)
                records.put(POLICY, account, arn, policy)

    def list_attached_role_policies(
        self, account: str, role_name: str, path_prefix: str | None = None, marker: str | None = None,
        max_items: int | None = None,
    ) -> Body:
        """A page of {"PolicyName", "PolicyArn"} attached to a role, in ARN order."""
        checks = Checks()
        checks.name(role_name, "roleName", 64)
        if path_prefix is not None:
            checks.policy_path(path_prefix, "pathPrefix")
        checks.paging(marker, max_items)
        checks.done()
        prefix = path_prefix or "/"
        with self._store.reading() as records:
            _role(records, account, role_name)
            attached, paging = page(
                records, ATTACHMENT, account, f"{role_name}/", marker, max_items,
                lambda attachment: attachment["Path"].startswith(prefix),
            )
        return {"AttachedPolicies": [list_fields(item, "Path") for item in attached], **paging}

    # Inline role policies

    def put_role_policy(self, account: str, role_name: str, name: str, document: str) -> None:
        """Create or replace a role's inline policy."""
        checks = Checks()
        checks.name(role_name, "roleName", 64)
        checks.name(name, "policyName", 128)
        checks.document(document, "policyDocument")
        checks.done()
        iam.check_policy_document(document, trust=False)
        with self._store.transaction() as records:
            _role(records, account, role_name)
            body = {"RoleName": role_name, "PolicyName": name, "PolicyDocument": document}
            records.put(INLINE, account, f"{role_name}/{name}", body)

    def get_role_policy(self, account: str, role_name: str, name: str) -> Body:
        """{"RoleName", "PolicyName", "PolicyDocument"}; NoSuchEntity for an unknown role or policy."""
        iam.check_names(role_name, name)
        with self._store.reading() as records:
            _role(records, account, role_name)
            policy = records.get(INLINE, account, f"{role_name}/{name}")
        if policy is None:
            raise _inline_not_found(name)
        return policy

    def delete_role_policy(self, account: str, role_name: str, name: str) -> None:
        iam.check_names(role_name, name)
        with self._store.transaction() as records:
            _role(records, account, role_name)
            if not records.delete(INLINE, account, f"{role_name}/{name}"):
                raise _inline_not_found(name)

    def list_role_policies(
        self, account: str, role_name: str, marker: str | None = None, max_items: int | None = None
    ) -> Body:
        """A page of a role's inline policy names, in name order: {"PolicyNames", "IsTruncated", "Marker"?}."""
        checks = Checks()
        checks.name(role_name, "roleName", 64)
        checks.paging(marker, max_items)
        checks.done()
        with self._store.reading() as records:
            _role(records, account, role_name)
            policies, paging = page(records, INLINE, account, f"{role_name}/", marker, max_items)
        return {"PolicyNames": [policy["PolicyName"] for policy in policies], **paging}


def _role(records: Records, account: str, name: str) -> Body:
    role = records.get(ROLE, account, name)
    if role is None:
        raise iam.role_not_found(name)
    return role


def _inline_not_found(name: str) -> iam.NoSuchEntity:
    return iam.NoSuchEntity(f"The role policy with name {name} cannot be found.")


def managed_policy(records: Records, account: str, ref: PolicyRef) -> Body | None:
    """The policy `ref` names as this account sees it, or None.

    AWS-managed policies exist in every account; one this account never attached has no
    record and is described afresh.
    """
    if not ref.aws_managed:
        return records.get(POLICY, account, ref.arn) if ref.account == account else None
    if iam.KNOWN_AWS_POLICY_PATHS.get(ref.name, ref.path) != ref.path:
        return None
    return records.get(POLICY, account, ref.arn) or iam.aws_managed_policy(ref)
