"""The versions of managed policies: CreatePolicyVersion, GetPolicyVersion, ListPolicyVersions,
DeletePolicyVersion and SetDefaultPolicyVersion.

Versions live in control/iam.py's ``policy-version`` records (``POLICY-ARN#vN``); the policy's
``DefaultVersionId`` names the one that is evaluated (access/identity_policies.py reads it).

Contract (as control/iam.py's): one store transaction per call; input checked before anything is
read; IAM's shapes out, documents as the JSON text the caller sent.
- A policy holds at most 5 versions; a sixth is LimitExceeded.
- Version ids count up from the highest that exists: after v3 is deleted while v4 exists, the next is
  v5; if the highest is deleted its number is given again (AWS never reuses one; Lambdabox keeps no
  counter beside the versions).
- The default version cannot be deleted (DeleteConflict).
- AWS-managed policies have one version here, v1, whose document is known for the few policies in
  model/aws_policies.py; they cannot be changed (InvalidInput; AWS's exact answer is not known).
"""

from __future__ import annotations

import json
from typing import Any

from lambdabox.control.iam import POLICY, POLICY_VERSION, managed_policy, page
from lambdabox.model import aws_policies, iam
from lambdabox.model.iam import Checks, PolicyRef
from lambdabox.model.timestamps import now
from lambdabox.store.records import Records, RecordStore

#: Versions one managed policy may hold at once: IAM's quota.
MAX_VERSIONS = 5

Body = dict[str, Any]


class PolicyVersions:
    """The versions of each account's managed policies."""

    def __init__(self, store: RecordStore) -> None:
        self._store = store

    def create(self, account: str, arn: str, document: str, set_as_default: bool = False) -> Body:
        """Add a version; it becomes the default if `set_as_default`. {"PolicyVersion"} without its document."""
        ref = iam.check_policy_arn(arn)
        checks = Checks()
        checks.document(document, "policyDocument")
        checks.done()
        iam.check_policy_document(document, trust=False)
        _changeable(ref)
        created = iam.iam_time(now())
        with self._store.transaction() as records:
            policy = _policy(records, account, ref)
            versions = _versions(records, account, arn)
            if len(versions) >= MAX_VERSIONS:
                raise iam.LimitExceeded(
                    f"A managed policy can have up to {MAX_VERSIONS} versions. Before you create a new version, "
                    "you must delete an existing version."
                )
            number = max((_number(version) for version in versions), default=0) + 1
            version = {"Document": document, "VersionId": f"v{number}", "IsDefaultVersion": False, "CreateDate": created}
            if set_as_default:
                _make_default(records, account, policy, version["VersionId"])
                version["IsDefaultVersion"] = True
            policy["UpdateDate"] = created
            records.put(POLICY, account, arn, policy)
            records.put(POLICY_VERSION, account, f"{arn}#{version['VersionId']}", version)
        return {"PolicyVersion": _listed(version)}

    def get(self, account: str, arn: str, version_id: str) -> Body:
        """{"PolicyVersion": {"Document", "VersionId", "IsDefaultVersion", "CreateDate"}}; NoSuchEntity if none."""
        ref = _check(arn, version_id)
        with self._store.reading() as records:
            policy = _policy(records, account, ref)
            if ref.aws_managed:
                known = aws_policies.document(ref.name)
                version = None if known is None or version_id != "v1" else {
                    "Document": json.dumps(known), "VersionId": "v1", "IsDefaultVersion": True,
                    "CreateDate": policy["CreateDate"],
                }
            else:
                version = records.get(POLICY_VERSION, account, f"{arn}#{version_id}")
        if version is None:
            raise _version_not_found(arn, version_id)
        return {"PolicyVersion": version}

    def list(self, account: str, arn: str, marker: str | None = None, max_items: int | None = None) -> Body:
        """A page of {"VersionId", "IsDefaultVersion", "CreateDate"}, newest first: {"Versions", "IsTruncated",
        "Marker"?}."""
        ref = iam.check_policy_arn(arn)
        checks = Checks()
        checks.paging(marker, max_items)
        checks.done()
        with self._store.reading() as records:
            policy = _policy(records, account, ref)
            if ref.aws_managed:
                versions = [{"VersionId": "v1", "IsDefaultVersion": True, "CreateDate": policy["CreateDate"]}]
            else:
                versions = [_listed(version) for version in _versions(records, account, arn)]
        versions.sort(key=_number, reverse=True)
        # At most five versions: a page is a slice, and the marker the index past it.
        start = int(marker) if marker and marker.isdigit() else 0
        size = max_items or iam.DEFAULT_MAX_ITEMS
        chosen = versions[start:start + size]
        paging: Body = {"IsTruncated": start + size < len(versions)}
        if paging["IsTruncated"]:
            paging["Marker"] = str(start + size)
        return {"Versions": chosen, **paging}

    def delete(self, account: str, arn: str, version_id: str) -> None:
        """Delete a version that is not the default; DeleteConflict for the default one."""
        ref = _check(arn, version_id)
        _changeable(ref)
        with self._store.transaction() as records:
            policy = _policy(records, account, ref)
            if records.get(POLICY_VERSION, account, f"{arn}#{version_id}") is None:
                raise _version_not_found(arn, version_id)
            if policy["DefaultVersionId"] == version_id:
                raise iam.DeleteConflict("Cannot delete the default version of a policy.")
            records.delete(POLICY_VERSION, account, f"{arn}#{version_id}")

    def set_default(self, account: str, arn: str, version_id: str) -> None:
        """Make a version the one that is evaluated."""
        ref = _check(arn, version_id)
        _changeable(ref)
        with self._store.transaction() as records:
            policy = _policy(records, account, ref)
            if records.get(POLICY_VERSION, account, f"{arn}#{version_id}") is None:
                raise _version_not_found(arn, version_id)
            _make_default(records, account, policy, version_id)
            records.put(POLICY, account, arn, policy)


def _check(arn: str, version_id: str) -> PolicyRef:
    ref = iam.check_policy_arn(arn)
    checks = Checks()
    checks.matches(_number({"VersionId": version_id}) > 0, version_id, "versionId", r"v[1-9][0-9]*(\.[A-Za-z0-9-]*)?")
    checks.done()
    return ref


def _changeable(ref: PolicyRef) -> None:
    if ref.aws_managed:
        raise iam.InvalidInput(f"Policy {ref.arn} is managed by AWS and cannot be changed.")


def _policy(records: Records, account: str, ref: PolicyRef) -> Body:
    policy = managed_policy(records, account, ref)
    if policy is None:
        raise iam.policy_not_found(ref.arn)
    return policy


def _versions(records: Records, account: str, arn: str) -> list[Body]:
    found, _ = page(records, POLICY_VERSION, account, f"{arn}#", None, MAX_VERSIONS + 1)
    return found


def _make_default(records: Records, account: str, policy: Body, version_id: str) -> None:
    """Point `policy` (the caller stores it) at `version_id`, and clear the old default's flag."""
    old = records.get(POLICY_VERSION, account, f"{policy['Arn']}#{policy['DefaultVersionId']}")
    if old is not None and old["VersionId"] != version_id:
        old["IsDefaultVersion"] = False
        records.put(POLICY_VERSION, account, f"{policy['Arn']}#{old['VersionId']}", old)
    new = records.get(POLICY_VERSION, account, f"{policy['Arn']}#{version_id}")
    if new is not None:
        new["IsDefaultVersion"] = True
        records.put(POLICY_VERSION, account, f"{policy['Arn']}#{version_id}", new)
    policy["DefaultVersionId"] = version_id


def _listed(version: Body) -> Body:
    """A version as ListPolicyVersions and CreatePolicyVersion show it: without its document."""
    return {key: value for key, value in version.items() if key != "Document"}


def _number(version: Body) -> int:
    text = version["VersionId"]
    digits = text[1:].split(".", 1)[0]
    return int(digits) if text.startswith("v") and digits.isdigit() else 0


def _version_not_found(arn: str, version_id: str) -> iam.NoSuchEntity:
    return iam.NoSuchEntity(f"Policy {arn} version {version_id} does not exist or is not attachable.")
