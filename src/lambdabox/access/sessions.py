"""Temporary credentials: the sessions AssumeRole and execution environments receive.

A session is not stored anywhere. Its token is the session itself, sealed with the data
dir's key: the role, the session name, the expiry, the ASIA key id and its secret. A
request signed with an ASIA key carries the token (X-Amz-Security-Token), which is opened
to find the secret the signature is checked with. So issuing credentials costs no write,
sessions need no sweeping, and a token can be neither forged nor extended without the key.

Contract:
1. `open` returns the session a token holds, or None for a token this server did not issue
   (or one that was changed). It does not judge expiry: callers answer an expired session
   with ExpiredToken, which needs the session.
2. Deleting the role does not revoke a session, as on AWS; what the session may do is
   decided by the role's policies when each request is made.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from lambdabox.control.credentials import new_key_id, new_secret
from lambdabox.model.principals import ASSUMED_ROLE, Principal
from lambdabox.store.sealed import SealBroken, Sealer

#: The associated data every session token is sealed with.
_CONTEXT = "sts-session"
#: Longest token opened, in characters (a session is a few hundred).
MAX_TOKEN_CHARS = 4096


@dataclass(frozen=True)
class Session:
    access_key: str
    secret: str
    token: str
    #: Epoch seconds.
    expires: float
    account: str
    role_arn: str
    role_id: str
    session_name: str

    @property
    def role_name(self) -> str:
        return self.role_arn.rsplit("/", 1)[-1]

    @property
    def principal(self) -> Principal:
        return Principal(
            self.account,
            f"arn:aws:sts::{self.account}:assumed-role/{self.role_name}/{self.session_name}",
            f"{self.role_id}:{self.session_name}",
            ASSUMED_ROLE,
            name=self.role_name,
            access_key=self.access_key,
            role_arn=self.role_arn,
            expires=self.expires,
        )


class Sessions:
    def __init__(self, sealer: Sealer) -> None:
        self._sealer = sealer

    def issue(self, account: str, role_arn: str, role_id: str, session_name: str, duration_s: float) -> Session:
        """New credentials of `role_arn`, valid for `duration_s` seconds from now."""
        access_key, secret = new_key_id("ASIA"), new_secret()
        expires = float(int(time.time() + duration_s))
        claims = {
            "k": access_key, "s": secret, "e": expires, "a": account, "r": role_arn, "i": role_id, "n": session_name,
        }
        token = self._sealer.seal(json.dumps(claims, separators=(",", ":")), _CONTEXT)
        return Session(access_key, secret, token, expires, account, role_arn, role_id, session_name)

    def open(self, token: str) -> Session | None:
        if len(token) > MAX_TOKEN_CHARS:
            return None
        try:
            claims = json.loads(self._sealer.open(token, _CONTEXT))
            return Session(
                claims["k"], claims["s"], token, float(claims["e"]), claims["a"], claims["r"], claims["i"], claims["n"]
            )
        except (SealBroken, ValueError, KeyError, TypeError):
            return None
