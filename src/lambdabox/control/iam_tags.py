"""The tags of IAM roles and customer managed policies: TagRole, UntagRole, ListRoleTags, TagPolicy,
UntagPolicy and ListPolicyTags.

Tags live in the role's or policy's own record (its ``Tags``, as GetRole and GetPolicy return them).

Contract (as control/iam.py's): one store transaction per call; input checked before anything is
read; IAM's shapes out.
- Keys compare ignoring case, as IAM's do: tagging with a key the resource has (in any case) replaces
  that tag; untagging removes it; untagging a key it does not have changes nothing.
- Tags keep the order they were added in; a replaced tag moves to the end.
- At most 50 tags on one resource: more is LimitExceeded (AWS's exact wording is not known).
- AWS-managed policies cannot be tagged (InvalidInput; AWS's exact answer is not known).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lambdabox.control.iam import POLICY, managed_policy
from lambdabox.control.roles import ROLE
from lambdabox.model import iam
from lambdabox.model.iam import Checks
from lambdabox.store.records import Records, RecordStore

Body = dict[str, Any]


class IamTags:
    """Tags on each account's roles and customer managed policies."""

    def __init__(self, store: RecordStore) -> None:
        self._store = store

    def tag_role(self, account: str, name: str, tags: Sequence[dict[str, str]]) -> None:
        checks = Checks()
        checks.name(name, "roleName", 64)
        checks.tags(tags)
        checks.done()
        iam.check_tag_keys(tags)
        with self._store.transaction() as records:
            role = _role(records, account, name)
            _add(role, tags, "role")
            records.put(ROLE, account, name, role)

    def untag_role(self, account: str, name: str, keys: Sequence[str]) -> None:
        iam.check_names(name)
        with self._store.transaction() as records:
            role = _role(records, account, name)
            _remove(role, keys)
            records.put(ROLE, account, name, role)

    def list_role_tags(self, account: str, name: str, marker: str | None = None, max_items: int | None = None) -> Body:
        """A page of the role's tags: {"Tags", "IsTruncated", "Marker"?}."""
        checks = Checks()
        checks.name(name, "roleName", 64)
        checks.paging(marker, max_items)
        checks.done()
        with self._store.reading() as records:
            return _page(_role(records, account, name).get("Tags", []), marker, max_items)

    def tag_policy(self, account: str, arn: str, tags: Sequence[dict[str, str]]) -> None:
        ref = iam.check_policy_arn(arn)
        checks = Checks()
        checks.tags(tags)
        checks.done()
        iam.check_tag_keys(tags)
        with self._store.transaction() as records:
            policy = _customer_policy(records, account, ref)
            _add(policy, tags, "policy")
            records.put(POLICY, account, arn, policy)

    def untag_policy(self, account: str, arn: str, keys: Sequence[str]) -> None:
        ref = iam.check_policy_arn(arn)
        with self._store.transaction() as records:
            policy = _customer_policy(records, account, ref)
            _remove(policy, keys)
            records.put(POLICY, account, arn, policy)

    def list_policy_tags(self, account: str, arn: str, marker: str | None = None, max_items: int | None = None) -> Body:
        """A page of the policy's tags (none for an AWS-managed one): {"Tags", "IsTruncated", "Marker"?}."""
        ref = iam.check_policy_arn(arn)
        checks = Checks()
        checks.paging(marker, max_items)
        checks.done()
        with self._store.reading() as records:
            policy = managed_policy(records, account, ref)
        if policy is None:
            raise iam.policy_not_found(arn)
        return _page(policy.get("Tags", []), marker, max_items)


def _role(records: Records, account: str, name: str) -> Body:
    role = records.get(ROLE, account, name)
    if role is None:
        raise iam.role_not_found(name)
    return role


def _customer_policy(records: Records, account: str, ref: iam.PolicyRef) -> Body:
    policy = managed_policy(records, account, ref)
    if policy is None:
        raise iam.policy_not_found(ref.arn)
    if ref.aws_managed:
        raise iam.InvalidInput(f"Policy {ref.arn} is managed by AWS and cannot be tagged.")
    return policy


def _add(body: Body, tags: Sequence[dict[str, str]], noun: str) -> None:
    given = {tag["Key"].lower(): {"Key": tag["Key"], "Value": tag["Value"]} for tag in tags}
    merged = [tag for tag in body.get("Tags", []) if tag["Key"].lower() not in given] + list(given.values())
    if len(merged) > iam.MAX_TAGS:
        raise iam.LimitExceeded(f"A {noun} can have at most {iam.MAX_TAGS} tags.")
    if merged:
        body["Tags"] = merged


def _remove(body: Body, keys: Sequence[str]) -> None:
    gone = {key.lower() for key in keys}
    kept = [tag for tag in body.get("Tags", []) if tag["Key"].lower() not in gone]
    if kept:
        body["Tags"] = kept
    else:
        body.pop("Tags", None)


def _page(tags: list[Body], marker: str | None, max_items: int | None) -> Body:
    """At most 50 tags: a page is a slice, and the marker the index past it."""
    start = int(marker) if marker and marker.isdigit() else 0
    size = max_items or iam.DEFAULT_MAX_ITEMS
    paging: Body = {"IsTruncated": start + size < len(tags)}
    if paging["IsTruncated"]:
        paging["Marker"] = str(start + size)
    return {"Tags": tags[start:start + size], **paging}
