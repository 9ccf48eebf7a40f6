"""Accounts and their long-term access keys: each account's root key, and IAM users' keys.

Records, all in namespace ``global`` (an access key names its account, so it must be found
before any account is known):
- ``account``    ACCOUNT-ID   {"AccountId", "CreateDate"}
- ``access-key`` ACCESS-KEY   {"AccessKeyId", "Account", "UserName" (absent for root), "Status",
                               "CreateDate", "Secret": the secret key, sealed}
And in the account's namespace, so that a user's keys list without scanning every key:
- ``user-key``   USER/ACCESS-KEY   {"AccessKeyId"}

Contract:
1. Secrets are sealed at rest with the data dir's key (store/sealed.py), bound to their key id;
   `find` opens them, and a record whose seal is broken is treated as no key at all.
2. Calls taking `records` run inside the caller's transaction; the others open their own.
3. Key ids are AKIA + 16 characters of A-Z2-7 and secrets 40 characters of base64's alphabet, as AWS's.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from lambdabox.model.iam import iam_time
from lambdabox.model.timestamps import now
from lambdabox.store.records import Records, RecordStore
from lambdabox.store.sealed import SealBroken, Sealer

GLOBAL = "global"
ACCOUNT, ACCESS_KEY, USER_KEY = "account", "access-key", "user-key"
ACTIVE, INACTIVE = "Active", "Inactive"

_KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_SECRET_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def new_key_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))


def new_secret() -> str:
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))


def new_account_id() -> str:
    return str(secrets.randbelow(9 * 10**11) + 10**11)


@dataclass(frozen=True)
class AccessKey:
    access_key: str
    account: str
    #: The IAM user the key belongs to; None for the account's root.
    user_name: str | None
    status: str
    created: str
    secret: str


class AccountExists(Exception):
    pass


class Credentials:
    def __init__(self, store: RecordStore, sealer: Sealer) -> None:
        self._store = store
        self._sealer = sealer

    # Accounts

    def create_account(self, account: str | None = None) -> tuple[str, AccessKey]:
        """A new account (a random 12-digit id unless given) and its root key; AccountExists if taken."""
        with self._store.transaction() as records:
            if account is None:
                account = new_account_id()
                while records.get(ACCOUNT, GLOBAL, account) is not None:
                    account = new_account_id()
            elif records.get(ACCOUNT, GLOBAL, account) is not None:
                raise AccountExists(account)
            records.put(ACCOUNT, GLOBAL, account, {"AccountId": account, "CreateDate": iam_time(now())})
            key = self.create_key(records, account)
        return account, key

    def accounts(self) -> list[str]:
        with self._store.reading() as records:
            return [key for key, _ in records.scan(ACCOUNT, GLOBAL)]

    def account_exists(self, account: str) -> bool:
        with self._store.reading() as records:
            return records.get(ACCOUNT, GLOBAL, account) is not None

    def root_keys(self) -> dict[str, AccessKey]:
        """Each account's first active root key, by account."""
        found: dict[str, AccessKey] = {}
        with self._store.reading() as records:
            for _, body in records.scan(ACCESS_KEY, GLOBAL):
                key = self._opened(body)
                if key is not None and key.user_name is None and key.status == ACTIVE:
                    found.setdefault(key.account, key)
        return found

    # Keys

    def create_key(self, records: Records, account: str, user_name: str | None = None) -> AccessKey:
        """A new active key of the account's root (user_name None) or of an IAM user, in `records`' transaction."""
        key_id = new_key_id("AKIA")
        while records.get(ACCESS_KEY, GLOBAL, key_id) is not None:
            key_id = new_key_id("AKIA")
        key = AccessKey(key_id, account, user_name, ACTIVE, iam_time(now()), new_secret())
        body = {
            "AccessKeyId": key_id, "Account": account, "Status": ACTIVE, "CreateDate": key.created,
            "Secret": self._sealer.seal(key.secret, _context(key_id)),
        }
        if user_name is not None:
            body["UserName"] = user_name
            records.put(USER_KEY, account, f"{user_name}/{key_id}", {"AccessKeyId": key_id})
        records.put(ACCESS_KEY, GLOBAL, key_id, body)
        return key

    def find(self, access_key: str) -> AccessKey | None:
        """The key, active or not, or None when there is no such key (or its record was tampered with)."""
        if len(access_key) > 128:
            return None
        with self._store.reading() as records:
            body = records.get(ACCESS_KEY, GLOBAL, access_key)
        return None if body is None else self._opened(body)

    def key(self, records: Records, access_key: str) -> AccessKey | None:
        """As `find`, inside the caller's transaction."""
        body = records.get(ACCESS_KEY, GLOBAL, access_key) if len(access_key) <= 128 else None
        return None if body is None else self._opened(body)

    def account_root_keys(self, records: Records, account: str) -> list[AccessKey]:
        """The account's root keys, active or not, in key order (a scan of every key: roots have no index)."""
        keys = []
        for _, body in records.scan(ACCESS_KEY, GLOBAL):
            if body.get("Account") == account and "UserName" not in body:
                key = self._opened(body)
                if key is not None:
                    keys.append(key)
        return keys

    def rename_user(self, records: Records, account: str, old: str, new: str) -> None:
        """Move a user's keys to its new name (UpdateUser), in `records`' transaction."""
        for _, index in records.scan(USER_KEY, account, prefix=f"{old}/"):
            key_id = index["AccessKeyId"]
            body = records.get(ACCESS_KEY, GLOBAL, key_id)
            if body is not None:
                records.put(ACCESS_KEY, GLOBAL, key_id, {**body, "UserName": new})
            records.delete(USER_KEY, account, f"{old}/{key_id}")
            records.put(USER_KEY, account, f"{new}/{key_id}", index)

    def user_keys(self, records: Records, account: str, user_name: str) -> list[AccessKey]:
        keys = []
        for _, index in records.scan(USER_KEY, account, prefix=f"{user_name}/"):
            body = records.get(ACCESS_KEY, GLOBAL, index["AccessKeyId"])
            key = None if body is None else self._opened(body)
            if key is not None:
                keys.append(key)
        return keys

    def set_status(self, records: Records, access_key: str, status: str) -> bool:
        body = records.get(ACCESS_KEY, GLOBAL, access_key)
        if body is None:
            return False
        records.put(ACCESS_KEY, GLOBAL, access_key, {**body, "Status": status})
        return True

    def delete_key(self, records: Records, access_key: str) -> bool:
        body = records.get(ACCESS_KEY, GLOBAL, access_key)
        if body is None:
            return False
        records.delete(ACCESS_KEY, GLOBAL, access_key)
        if "UserName" in body:
            records.delete(USER_KEY, body["Account"], f"{body['UserName']}/{access_key}")
        return True

    def _opened(self, body: dict) -> AccessKey | None:
        try:
            secret = self._sealer.open(body["Secret"], _context(body["AccessKeyId"]))
        except (SealBroken, KeyError, TypeError):
            return None
        return AccessKey(
            body["AccessKeyId"], body["Account"], body.get("UserName"), body["Status"], body["CreateDate"], secret
        )


def _context(key_id: str) -> str:
    return f"access-key/{key_id}"
