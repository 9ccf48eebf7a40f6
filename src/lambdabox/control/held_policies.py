"""The inline and managed policies of IAM users and groups: one implementation for both.

A user or a group (a `Holder`) has inline policies, records of kind ``user-policy`` or
``group-policy`` keyed HOLDER/POLICY with {"<Holder>Name", "PolicyName", "PolicyDocument"}, and
attached managed policies, kind ``user-attachment`` or ``group-attachment`` keyed
HOLDER/POLICY-ARN with {"PolicyName", "PolicyArn", "Path"}, as roles have in control/iam.py.
Attaching and detaching keep the managed policy's AttachmentCount right, which is what makes
DeletePolicy answer DeleteConflict while any role, user or group holds the policy.

Contract: as control/iam.py's (one transaction per call; input checked before anything is
read, in AWS's order; NoSuchEntity for a missing holder before anything else is looked at).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lambdabox.control.iam import POLICY, list_fields, managed_policy, page
from lambdabox.model import iam
from lambdabox.model.iam import Checks
from lambdabox.store.records import Records, RecordStore

Body = dict[str, Any]


@dataclass(frozen=True)
class Holder:
    """A kind of identity that holds policies, and how IAM names it in requests and errors."""

    #: The record kind of the holder itself: "user" or "group".
    kind: str
    inline: str
    attachment: str
    #: The request parameter naming the holder, as AWS's messages spell it: userName, groupName.
    member: str
    #: The field naming the holder in a GetUserPolicy / GetGroupPolicy answer.
    field: str
    not_found: Callable[[str], iam.NoSuchEntity]

    def require(self, records: Records, account: str, name: str) -> Body:
        """The holder's record; NoSuchEntity if there is none."""
        body = records.get(self.kind, account, name)
        if body is None:
            raise self.not_found(name)
        return body

    def holds_policies(self, records: Records, account: str, name: str) -> None:
        """Raise DeleteConflict while the holder has attached or inline policies (roles' wording)."""
        if records.scan(self.attachment, account, prefix=f"{name}/", limit=1):
            raise iam.DeleteConflict("Cannot delete entity, must detach all policies first.")
        if records.scan(self.inline, account, prefix=f"{name}/", limit=1):
            raise iam.DeleteConflict("Cannot delete entity, must delete policies first.")

    def rename(self, records: Records, account: str, old: str, new: str) -> None:
        """Move the holder's policies to its new name, in `records`' transaction."""
        for kind in (self.inline, self.attachment):
            for key, body in records.scan(kind, account, prefix=f"{old}/"):
                records.delete(kind, account, key)
                if kind == self.inline:
                    body = {**body, self.field: new}
                records.put(kind, account, f"{new}/{key[len(old) + 1:]}", body)


class HeldPolicies:
    """Put/Get/Delete/List{User,Group}Policies and Attach/Detach/ListAttached{User,Group}Policies."""

    def __init__(self, store: RecordStore, holder: Holder) -> None:
        self._store = store
        self._holder = holder

    def _check(self, name: str, policy_name: str | None = None) -> Checks:
        checks = Checks()
        checks.name(name, self._holder.member, 128)
        if policy_name is not None:
            checks.name(policy_name, "policyName", 128)
        return checks

    def _inline_not_found(self, policy_name: str) -> iam.NoSuchEntity:
        return iam.NoSuchEntity(f"The {self._holder.kind} policy with name {policy_name} cannot be found.")

    # Inline

    def put(self, account: str, name: str, policy_name: str, document: str) -> None:
        """Create or replace an inline policy."""
        checks = self._check(name, policy_name)
        checks.document(document, "policyDocument")
        checks.done()
        iam.check_policy_document(document, trust=False)
        with self._store.transaction() as records:
            self._holder.require(records, account, name)
            body = {self._holder.field: name, "PolicyName": policy_name, "PolicyDocument": document}
            records.put(self._holder.inline, account, f"{name}/{policy_name}", body)

    def get(self, account: str, name: str, policy_name: str) -> Body:
        """{"<Holder>Name", "PolicyName", "PolicyDocument"}; NoSuchEntity for an unknown holder or policy."""
        self._check(name, policy_name).done()
        with self._store.reading() as records:
            self._holder.require(records, account, name)
            policy = records.get(self._holder.inline, account, f"{name}/{policy_name}")
        if policy is None:
            raise self._inline_not_found(policy_name)
        return policy

    def delete(self, account: str, name: str, policy_name: str) -> None:
        self._check(name, policy_name).done()
        with self._store.transaction() as records:
            self._holder.require(records, account, name)
            if not records.delete(self._holder.inline, account, f"{name}/{policy_name}"):
                raise self._inline_not_found(policy_name)

    def names(self, account: str, name: str, marker: str | None, max_items: int | None) -> Body:
        """A page of inline policy names in name order: {"PolicyNames", "IsTruncated", "Marker"?}."""
        checks = self._check(name)
        checks.paging(marker, max_items)
        checks.done()
        with self._store.reading() as records:
            self._holder.require(records, account, name)
            policies, paging = page(records, self._holder.inline, account, f"{name}/", marker, max_items)
        return {"PolicyNames": [policy["PolicyName"] for policy in policies], **paging}

    # Managed

    def attach(self, account: str, name: str, arn: str) -> None:
        """Attach a managed policy; attaching it again changes nothing."""
        checks = self._check(name)
        checks.arn(arn, "policyArn")
        checks.done()
        ref = iam.parse_policy_arn(arn)
        with self._store.transaction() as records:
            self._holder.require(records, account, name)
            if ref.aws_managed and ref.path == iam.SERVICE_ROLE_POLICY_PATH:
                # AWS's wording for users and groups is not known; this is the one it gives roles.
                raise iam.PolicyNotAttachable("Cannot attach a Service Role Policy to a Customer Role.")
            policy = managed_policy(records, account, ref)
            if policy is None:
                raise iam.not_attachable(arn)
            key = f"{name}/{arn}"
            if records.get(self._holder.attachment, account, key) is not None:
                return
            records.put(self._holder.attachment, account, key, {"PolicyName": ref.name, "PolicyArn": arn, "Path": ref.path})
            policy["AttachmentCount"] += 1
            records.put(POLICY, account, arn, policy)

    def detach(self, account: str, name: str, arn: str) -> None:
        """Detach a managed policy; NoSuchEntity if it is not attached."""
        checks = self._check(name)
        checks.arn(arn, "policyArn")
        checks.done()
        ref = iam.parse_policy_arn(arn)
        with self._store.transaction() as records:
            self._holder.require(records, account, name)
            if not records.delete(self._holder.attachment, account, f"{name}/{arn}"):
                raise iam.policy_not_found(arn)
            policy = managed_policy(records, account, ref)
            if policy is not None:
                policy["AttachmentCount"] = max(0, policy["AttachmentCount"] - 1)
                records.put(POLICY, account, arn, policy)

    def attached(
        self, account: str, name: str, path_prefix: str | None, marker: str | None, max_items: int | None
    ) -> Body:
        """A page of {"PolicyName", "PolicyArn"} attached, in ARN order."""
        checks = self._check(name)
        if path_prefix is not None:
            checks.policy_path(path_prefix, "pathPrefix")
        checks.paging(marker, max_items)
        checks.done()
        prefix = path_prefix or "/"
        with self._store.reading() as records:
            self._holder.require(records, account, name)
            found, paging = page(
                records, self._holder.attachment, account, f"{name}/", marker, max_items,
                lambda attachment: attachment["Path"].startswith(prefix),
            )
        return {"AttachedPolicies": [list_fields(item, "Path") for item in found], **paging}
