"""May this principal do this? Identity policies and resource policies combined as AWS does.

Contract:
1. `check` returns when the request is allowed and raises Denied otherwise; it changes nothing.
2. The decision ("Policy evaluation logic", "Cross-account policy evaluation logic"):
   - an explicit Deny in any identity or resource policy denies;
   - within one account, an Allow in either the caller's identity policies or the resource's policy
     allows. A resource policy whose principal is the caller's whole account (its id or its root ARN)
     only delegates to the account: the caller still needs an identity Allow. A statement naming the
     user, role or session itself suffices alone;
   - across accounts, both must allow: the caller's identity policy, and the resource's policy naming
     the caller or the caller's account;
   - an account's root may do anything in its own account (identity always allows; it is still bound
     by explicit Denies in resource policies);
   - sts:AssumeRole also needs the role's trust policy to allow, in the same account too.
3. Denied carries AWS's message: "User: ARN is not authorized to perform: ACTION on resource: RESOURCE
   because no identity-based policy allows the ACTION action" (or "with an explicit deny in a(n)
   identity-based / resource-based policy", or "because no resource-based policy allows ...").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from lambdabox.access.actions import Target
from lambdabox.access.policy import Caller, Effect, Request, identity_effect, resource_effect
from lambdabox.model.principals import ASSUMED_ROLE, ROOT, USER, Principal

#: What IAM's aws:PrincipalType says of each kind of principal.
_PRINCIPAL_TYPES = {ROOT: "Account", USER: "User", ASSUMED_ROLE: "AssumedRole"}
_ASSUME_ROLE = "sts:assumerole"


class Denied(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Origin:
    """Where a request came from, for the condition keys that describe it."""

    source_ip: str | None = None
    secure: bool = False


#: The identity policies (parsed documents) of a principal that is not a root.
IdentityPolicies = Callable[[Principal], Sequence[Mapping]]
#: The resource policies (parsed documents) of a target's resource: a function's, a layer version's,
#: a role's trust policy; empty when it has none.
ResourcePolicies = Callable[[Target], Sequence[Mapping]]
#: Whether a target's resource policy could hold a Deny (a role's trust policy can; what AddPermission writes can't).
CanDeny = Callable[[Target], bool]


class Gate:
    def __init__(
        self, identity_policies: IdentityPolicies, resource_policies: ResourcePolicies,
        can_deny: CanDeny = lambda target: True, clock: Callable[[], float] = time.time,
    ) -> None:
        self._identity_policies = identity_policies
        self._resource_policies = resource_policies
        self._can_deny = can_deny
        self._clock = clock

    def check(self, principal: Principal, target: Target, origin: Origin = Origin()) -> None:
        if target.always_allowed:
            return
        # AWS-managed policies ("aws" owns them) are everyone's to read and attach: only identity policies govern.
        same_account = target.account in (principal.account, "aws")
        assume_role = target.action.lower() == _ASSUME_ROLE
        final = same_account and not assume_role and not self._can_deny(target)
        if principal.kind == ROOT and final:
            return  # a root in its own account, on a resource whose policy can't take that back
        request = Request(target.action, target.resource, self.context(principal, target, origin))
        if principal.kind == ROOT:
            # Anything in its own account; elsewhere, whatever the other account's resource policy grants it.
            identity = Effect.ALLOW
        else:
            identity = identity_effect(self._identity_policies(principal), request)
        if identity is Effect.ALLOW and final:
            return  # allowed, and no resource policy of this kind can take it back: no need to read one
        documents = self._resource_policies(target)
        anyone_of_account = Caller(principal.account, principal.arn, principal.role_arn)
        # A statement naming only the account delegates to the account's own policies (see the contract).
        only_itself = Caller("-" if same_account else principal.account, principal.arn, principal.role_arn)
        resource = resource_effect(documents, anyone_of_account, request) if documents else Effect.NONE
        resource_itself = resource_effect(documents, only_itself, request) if documents else Effect.NONE
        if identity is Effect.DENY:
            raise Denied(_message(principal, target, "with an explicit deny in an identity-based policy"))
        if resource is Effect.DENY:
            raise Denied(_message(principal, target, "with an explicit deny in a resource-based policy"))
        if assume_role:
            if resource is not Effect.ALLOW:
                raise Denied(_message(principal, target, ""))
            if identity is Effect.ALLOW or (same_account and resource_itself is Effect.ALLOW):
                return
            raise Denied(_message(principal, target, _no_identity(target)))
        if same_account:
            if identity is Effect.ALLOW or resource_itself is Effect.ALLOW:
                return
            raise Denied(_message(principal, target, _no_identity(target)))
        if identity is not Effect.ALLOW:
            raise Denied(_message(principal, target, _no_identity(target)))
        if resource is not Effect.ALLOW:
            raise Denied(_message(principal, target, f"because no resource-based policy allows the {target.action} action"))

    def context(self, principal: Principal, target: Target, origin: Origin) -> dict[str, list[str]]:
        """The global condition keys of a request, and the operation's own."""
        now = self._clock()
        context: dict[str, list[str]] = {
            "aws:PrincipalAccount": [principal.account],
            "aws:PrincipalArn": [principal.role_arn or principal.arn],
            "aws:PrincipalType": [_PRINCIPAL_TYPES.get(principal.kind, "Unknown")],
            "aws:userid": [principal.user_id],
            "aws:CurrentTime": [datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")],
            "aws:EpochTime": [str(int(now))],
            "aws:SecureTransport": ["true" if origin.secure else "false"],
            "aws:ViaAWSService": ["false"],
        }
        if principal.kind == USER:
            context["aws:username"] = [principal.name]
        if origin.source_ip:
            context["aws:SourceIp"] = [origin.source_ip]
        if target.region:
            context["aws:RequestedRegion"] = [target.region]
        context.update(target.context)
        return context


def _no_identity(target: Target) -> str:
    return f"because no identity-based policy allows the {target.action} action"


def _message(principal: Principal, target: Target, why: str) -> str:
    text = f"User: {principal.arn} is not authorized to perform: {target.action} on resource: {target.resource}"
    return f"{text} {why}" if why else text
