"""STS: who is calling (GetCallerIdentity), and temporary credentials of a role (AssumeRole).

Whether the caller may assume a role (its identity policies and the role's trust policy) is
decided before `assume_role` runs, by the access layer. What is left here is what STS itself
answers: the input, a root caller, a missing role, the session's duration, and the credentials.

Contract:
1. Input is checked first, all model constraints in one ValidationError as AWS reports them.
2. A role that does not exist (or whose ARN names another path) is answered as a role the
   caller may not assume: AccessDenied, with AWS's message, so that a caller cannot tell the two apart.
3. Credentials are issued by access/sessions.py and stored nowhere; the secret is in this answer only.
4. Session policies (Policy, PolicyArns) are refused rather than ignored, since ignoring them would
   grant more than the caller asked for. Tags, ExternalId, SourceIdentity and MFA parameters are
   accepted; ExternalId is for the trust policy's conditions, the rest is not kept.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from lambdabox.access.sessions import Sessions
from lambdabox.control.roles import ROLE
from lambdabox.model import iam
from lambdabox.model.iam import Checks
from lambdabox.model.principals import ASSUMED_ROLE, Principal
from lambdabox.store.records import RecordStore

#: Session durations in seconds: AssumeRole's default, its least, and the most a chained session may ask.
DEFAULT_DURATION_S, MIN_DURATION_S, CHAINED_MAX_S = 3600, 900, 3600

_ROLE_ARN = re.compile(r"arn:aws:iam::(?P<account>\d{12}):role(?P<path>/(?:[\x21-\x7e]+/)?)(?P<name>[\w+=,.@-]{1,64})", re.ASCII)
_SESSION_NAME = re.compile(r"[\w+=,.@-]*", re.ASCII)
_EXTERNAL_ID = re.compile(r"[\w+=,.@:/-]*", re.ASCII)

Body = dict[str, Any]


def caller_identity(caller: Principal) -> Body:
    """GetCallerIdentity: the principal's UserId, Account and Arn."""
    return {"UserId": caller.user_id, "Account": caller.account, "Arn": caller.arn}


def _expiration(epoch_s: float) -> str:
    return iam.iam_time(datetime.fromtimestamp(epoch_s, timezone.utc))


class Sts:
    def __init__(self, store: RecordStore, sessions: Sessions) -> None:
        self._store = store
        self._sessions = sessions

    def assume_role(
        self, caller: Principal, role_arn: str, session_name: str, duration_s: int | None = None,
        policy: str | None = None, policy_arns: list[str] | None = None, external_id: str | None = None,
    ) -> Body:
        """Credentials of the role for `duration_s` seconds (default 3600), and the session's identity."""
        checks = Checks()
        checks.length(role_arn, "roleArn", 20, 2048)
        if checks.length(session_name, "roleSessionName", 2, 64):
            checks.matches(bool(_SESSION_NAME.fullmatch(session_name)), session_name, "roleSessionName", r"[\w+=,.@-]*")
        if external_id is not None and checks.length(external_id, "externalId", 2, 1224):
            checks.matches(bool(_EXTERNAL_ID.fullmatch(external_id)), external_id, "externalId", r"[\w+=,.@:\/-]*")
        checks.number(duration_s, "durationSeconds", MIN_DURATION_S, iam.MAX_SESSION_S)
        checks.done()
        if policy is not None or policy_arns:
            raise iam.IamValidationError("Lambdabox does not support session policies (Policy, PolicyArns) yet.")
        if caller.is_root:
            raise iam.AccessDenied("Roles may not be assumed by root accounts.")
        found = _ROLE_ARN.fullmatch(role_arn)
        if found is None:
            raise iam.IamValidationError("Request ARN is invalid")
        with self._store.reading() as records:
            role = records.get(ROLE, found["account"], found["name"])
        if role is None or role["Arn"] != role_arn:
            raise iam.AccessDenied(
                f"User: {caller.arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
            )
        duration = DEFAULT_DURATION_S if duration_s is None else duration_s
        if caller.kind == ASSUMED_ROLE and duration > CHAINED_MAX_S:
            raise iam.IamValidationError(
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
            )
        if duration > role["MaxSessionDuration"]:
            raise iam.IamValidationError("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
        session = self._sessions.issue(found["account"], role_arn, role["RoleId"], session_name, duration)
        identity = session.principal
        return {
            "Credentials": {
                "AccessKeyId": session.access_key,
                "SecretAccessKey": session.secret,
                "SessionToken": session.token,
                "Expiration": _expiration(session.expires),
            },
            "AssumedRoleUser": {"AssumedRoleId": identity.user_id, "Arn": identity.arn},
        }
