"""Execution environments act as their function's execution role, as on Lambda.

Each environment gets credentials of its own: a session of the role the function's
configuration names (its `Role`), whose session name is the function's name, given to the
runtime as AWS_ACCESS_KEY_ID (ASIA…), AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.

Contract:
1. `issue(blueprint)` makes a new session each time it is called (one AES-GCM seal, no
   write), so no two environments share one, and a cached blueprint never holds any.
   Environments are given theirs when they start (`Environment.start`); a SnapStart clone
   gets its own in the environment its restore sets up, never its template's.
2. A session lasts `lifetime_s`. An environment is handed an invoke only while its
   credentials have more than `margin_s` left (`usable`); past that it is retired and a new
   one, with new credentials, serves instead. Provisioned environments are replaced ahead,
   once less than two margins are left (`renewal_due`), so that none is missing meanwhile.
3. The role's id (AROA…) is read from the role record (kind ``role`` in the account's
   namespace, keyed by RoleName), cached until the next control-plane write. A role that no
   longer exists does not stop the function: its environments get a session of the role's
   ARN with an empty role id, and what that session may do is for the role's policies (there
   are none) to say when it is used. AWS documents no behaviour for an execution role deleted
   under a function; this is Lambdabox's choice, and the server logs a warning.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from lambdabox.control.roles import ROLE
from lambdabox.invoke.blueprint import Blueprint
from lambdabox.store.records import RecordStore

log = logging.getLogger(__name__)

#: Default lifetime of environments' credentials, in seconds: 12 hours, the longest session IAM
#: allows a role (MaxSessionDuration).
DEFAULT_LIFETIME_S = 12 * 3600.0
#: Shortest lifetime the server accepts, in seconds: enough for the margin and a few invokes
#: (tests use it; no deployment should).
MIN_LIFETIME_S = 60.0
#: Longest margin before expiry at which an environment stops taking invokes, in seconds; with a
#: short lifetime, a quarter of it.
MAX_MARGIN_S = 300.0


class Session(Protocol):
    """What a session issuer returns (access/sessions.py's Session has these, and more)."""

    access_key: str
    secret: str
    token: str
    #: Epoch seconds.
    expires: float


#: Issues a session: (account, role ARN, role id, session name, duration in seconds) -> Session.
Issue = Callable[[str, str, str, str, float], Session]


@dataclass(frozen=True)
class EnvironmentCredentials:
    """One environment's credentials: the variables its runtime gets, and when they expire."""

    variables: dict[str, str]
    #: Epoch seconds.
    expires: float


class RoleCredentials:
    def __init__(self, issue: Issue, store: RecordStore, lifetime_s: float = DEFAULT_LIFETIME_S) -> None:
        if lifetime_s < MIN_LIFETIME_S:
            raise ValueError(f"credentials must last at least {MIN_LIFETIME_S:.0f} seconds")
        self._issue = issue
        self._store = store
        self.lifetime_s = lifetime_s
        self.margin_s = min(MAX_MARGIN_S, lifetime_s / 4)
        #: (account, role ARN) -> role id ("" for a role that does not exist), read at `_generation`.
        self._role_ids: dict[tuple[str, str], str] = {}
        self._generation = -1

    def issue(self, blueprint: Blueprint) -> EnvironmentCredentials:
        """New credentials of `blueprint`'s execution role, for one environment."""
        account, role_arn = blueprint.scope.account, blueprint.config["Role"]
        session = self._issue(account, role_arn, self._role_id(account, role_arn), blueprint.name, self.lifetime_s)
        return EnvironmentCredentials(
            {
                "AWS_ACCESS_KEY_ID": session.access_key,
                "AWS_SECRET_ACCESS_KEY": session.secret,
                "AWS_SESSION_TOKEN": session.token,
            },
            session.expires,
        )

    def usable(self, expires: float) -> bool:
        """Whether an environment whose credentials expire at `expires` may take an invoke now."""
        return expires - time.time() > self.margin_s

    def renewal_due(self, expires: float) -> bool:
        """Whether an environment kept ahead of time (provisioned) should be replaced now."""
        return expires - time.time() <= 2 * self.margin_s

    def _role_id(self, account: str, role_arn: str) -> str:
        if self._generation != self._store.generation:
            self._role_ids.clear()
            self._generation = self._store.generation
        key = (account, role_arn)
        found = self._role_ids.get(key)
        if found is None:
            found = self._role_ids[key] = self._read_role_id(account, role_arn)
        return found

    def _read_role_id(self, account: str, role_arn: str) -> str:
        parts = role_arn.split(":", 5)
        name = parts[5].rsplit("/", 1)[-1] if len(parts) == 6 else ""
        role = None
        if parts[4:5] == [account]:
            with self._store.reading() as records:
                role = records.get(ROLE, account, name)
        if role is None or role.get("Arn") != role_arn:
            log.warning("the execution role %s does not exist; its functions' environments start anyway", role_arn)
            return ""
        return role["RoleId"]
