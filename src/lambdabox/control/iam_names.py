"""What an IAM request leaves out, read from the account's records: paths, and whose a key is.

The resource of `iam:GetRole` on a role made with Path /service-role/ is
arn:aws:iam::A:role/service-role/NAME, though the request names only NAME; the action table
(access/actions.py) asks this for the path, as its IamNames protocol says.
"""

from __future__ import annotations

from lambdabox.control.credentials import Credentials
from lambdabox.control.iam_groups import GROUP
from lambdabox.control.iam_users import USER_KIND
from lambdabox.control.roles import ROLE
from lambdabox.store.records import RecordStore

_KINDS = {"role": ROLE, "user": USER_KIND, "group": GROUP}


class StoredNames:
    def __init__(self, store: RecordStore, credentials: Credentials) -> None:
        self._store = store
        self._credentials = credentials

    def path(self, account: str, kind: str, name: str) -> str | None:
        if kind not in _KINDS or len(name) > 128:
            return None
        with self._store.reading() as records:
            found = records.get(_KINDS[kind], account, name)
        path = found.get("Path") if found else None
        return path if isinstance(path, str) else None

    def key_owner(self, access_key: str) -> str | None:
        key = self._credentials.find(access_key)
        return None if key is None else key.user_name
