"""access/identity_policies.py over records the IAM control modules write (no server needed)."""

from __future__ import annotations

import json

from lambdabox.access import identity_policies as reader
from lambdabox.access.identity_policies import identity_policies, principal_for_key
from lambdabox.access.sessions import Sessions
from lambdabox.control import iam as iam_records, iam_groups, iam_users
from lambdabox.control.credentials import Credentials
from lambdabox.control.iam import Iam
from lambdabox.control.iam_groups import Groups
from lambdabox.control.iam_users import Users
from lambdabox.model.principals import root
from lambdabox.store.records import RecordStore
from lambdabox.store.sealed import Sealer, load_key

ACCOUNT = "123456789012"
TRUST = '{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}'


def allow(action: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]})


def test_kind_names_agree_with_the_control_modules():
    assert (reader.ROLE_POLICY, reader.ROLE_ATTACHMENT) == (iam_records.INLINE, iam_records.ATTACHMENT)
    assert (reader.POLICY, reader.POLICY_VERSION) == (iam_records.POLICY, iam_records.POLICY_VERSION)
    assert (reader.USER_KIND, reader.USER_POLICY, reader.USER_ATTACHMENT, reader.USER_GROUP) == (
        iam_users.USER_KIND, iam_users.USER_POLICY, iam_users.USER_ATTACHMENT, iam_users.USER_GROUP
    )
    assert (reader.GROUP_POLICY, reader.GROUP_ATTACHMENT) == (iam_groups.GROUP_POLICY, iam_groups.GROUP_ATTACHMENT)


def test_documents_of_users_groups_roles_and_root(tmp_path):
    store = RecordStore(f"sqlite:///{tmp_path / 'db'}")
    sealer = Sealer(load_key(tmp_path / "key"))
    credentials = Credentials(store, sealer)
    roles, users, groups = Iam(store), Users(store, credentials), Groups(store)

    users.create_user(ACCOUNT, "ana", path="/dev/")
    users.policies.put(ACCOUNT, "ana", "own", allow("lambda:GetFunction"))
    managed = roles.create_policy(ACCOUNT, "managed", allow("lambda:ListFunctions"))["Arn"]
    users.policies.attach(ACCOUNT, "ana", managed)
    users.policies.attach(ACCOUNT, "ana", "arn:aws:iam::aws:policy/AdministratorAccess")
    users.policies.attach(ACCOUNT, "ana", "arn:aws:iam::aws:policy/ReadOnlyAccess")  # no document known: nothing
    groups.create_group(ACCOUNT, "team")
    groups.policies.put(ACCOUNT, "team", "shared", allow("lambda:InvokeFunction"))
    groups.add_user(ACCOUNT, "team", "ana")
    with store.transaction() as records:
        key = credentials.create_key(records, ACCOUNT, "ana")

    ana = principal_for_key(store, key)
    assert ana is not None
    assert (ana.kind, ana.arn, ana.name, ana.access_key) == ("user", f"arn:aws:iam::{ACCOUNT}:user/dev/ana", "ana", key.access_key)
    actions = sorted(statement["Action"] for document in identity_policies(store, ana) for statement in document["Statement"])
    assert actions == ["*", "lambda:GetFunction", "lambda:InvokeFunction", "lambda:ListFunctions"]
    assert identity_policies(store, root(ACCOUNT)) == []

    role = roles.create_role(ACCOUNT, "worker", TRUST)
    roles.put_role_policy(ACCOUNT, "worker", "inline", allow("logs:*"))
    roles.attach_role_policy(ACCOUNT, "worker", "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
    session = Sessions(sealer).issue(ACCOUNT, role["Arn"], role["RoleId"], "s1", 900).principal
    actions = [statement["Action"] for document in identity_policies(store, session) for statement in document["Statement"]]
    assert sorted(map(str, actions)) == sorted(
        ["logs:*", str(["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"])]
    )

    # A role deleted and created again is another role: the old session's policies are gone.
    roles.delete_role_policy(ACCOUNT, "worker", "inline")
    roles.detach_role_policy(ACCOUNT, "worker", "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
    roles.delete_role(ACCOUNT, "worker")
    roles.create_role(ACCOUNT, "worker", TRUST)
    roles.put_role_policy(ACCOUNT, "worker", "inline", allow("logs:*"))
    assert identity_policies(store, session) == []

    # A stored document that does not parse is skipped.
    with store.transaction() as records:
        records.put("user-policy", ACCOUNT, "ana/broken", {"UserName": "ana", "PolicyName": "broken", "PolicyDocument": "{"})
    assert len(identity_policies(store, ana)) == 4

    # A key whose user is gone names no one.
    users.create_user(ACCOUNT, "gone")
    with store.transaction() as records:
        orphan = credentials.create_key(records, ACCOUNT, "gone")
        records.delete("user", ACCOUNT, "gone")
    assert principal_for_key(store, orphan) is None
    store.close()
