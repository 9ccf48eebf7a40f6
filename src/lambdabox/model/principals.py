"""Who made a request: the principal a verified signature (or `--auth off`) names."""

from __future__ import annotations

from dataclasses import dataclass

ROOT, USER, ASSUMED_ROLE = "root", "user", "assumed-role"


@dataclass(frozen=True)
class Principal:
    #: The account the caller belongs to, and acts in unless it names another account's resource.
    account: str
    #: arn:aws:iam::A:root, arn:aws:iam::A:user/PATH/NAME or arn:aws:sts::A:assumed-role/ROLE/SESSION.
    arn: str
    #: What GetCallerIdentity calls UserId: the account (root), AIDA… (user) or AROA…:SESSION (assumed role).
    user_id: str
    #: ROOT, USER or ASSUMED_ROLE.
    kind: str
    #: The user's or the role's name; "" for root.
    name: str = ""
    #: The access key the request was signed with (None with auth off).
    access_key: str | None = None
    #: For an assumed role: the role's own ARN (arn:aws:iam::A:role/PATH/NAME).
    role_arn: str | None = None
    #: For a session: when its credentials expire, in epoch seconds.
    expires: float | None = None

    @property
    def is_root(self) -> bool:
        return self.kind == ROOT


def root(account: str, access_key: str | None = None) -> Principal:
    return Principal(account, f"arn:aws:iam::{account}:root", account, ROOT, access_key=access_key)
