"""The one table: each Lambda operation, and each IAM and STS action, to the IAM action it needs,
the resource it acts on, and the condition keys its request carries. (CloudWatch Logs operations,
whose actions all have their operation's name, have their own short table: access/logs_actions.py.)

Sources: AWS's Service Authorization Reference ("Actions, resources, and condition keys for AWS
Lambda", "... for AWS Identity and Access Management", "... for AWS Security Token Service") and
Lambda's "Fine-tuning the Resources and Conditions sections of policies".

Contract:
- `lambda_target` never raises for any params, however odd: a name it cannot read yields a
  best-effort ARN built from the text as given (the handler rejects the request later). It raises
  `KeyError` for an operation the table does not hold, and only then.
- `query_target` raises `KeyError` for a service or action the table does not hold, and only then.
- Both are pure: no I/O, no state. What only stored records know comes in through arguments
  (`caller`, `names`) or is named in `Target.from_state` for the caller of these functions to add.

Rules the table follows:
- Qualifiers. A function operation that names a version or alias, in the name
  (`my-function:PROD`, a qualified ARN) or in the separate `Qualifier` parameter, is authorized on
  the qualified ARN (`...:function:my-function:PROD`); `$LATEST` given explicitly counts as a
  qualifier too. Without one, on the unqualified ARN. A policy that names only the unqualified
  ARN therefore does not allow `Invoke(FunctionName="f", Qualifier="1")` (Lambda's rule since
  January 2022; grant `function:f` and `function:f:*` to cover both).
- Accounts and regions. A full function or layer ARN in another account or region gives a
  Target in that account and region; a partial ARN (`123456789012:function:f`) names the
  account in the caller's region. "*" resources belong to the caller's account.
- IAM paths. A role, user or group ARN holds its path (`role/service-role/r`), which the request
  does not carry except on the Create call (`Path`). Pass `names` to look stored paths up;
  without it the path is "/".
- The caller as resource. IAM user operations whose `UserName` is optional (GetUser, the access
  key calls) act on the calling user when it is left out: pass `caller` (the principal's ARN).
- Always allowed. AWS never denies `sts:GetCallerIdentity` (even under an explicit deny) nor
  `sts:GetSessionToken` (policies do not control it): their Targets have `always_allowed=True`
  and the enforcer must skip policy evaluation for them.
- One resource per Target. PutFunctionCodeSigningConfig and UpdateFunctionCodeSigningConfig need
  permission on both the function and the code signing config on AWS; the Target names the
  function and carries the config's ARN as `lambda:CodeSigningConfigArn`.
- Function URL invocations are no botocore operation; the table has an `InvokeFunctionUrl`
  entry (params `FunctionName`, `Qualifier` = the alias, `AuthType` = the URL's auth type).
  AWS now also requires `lambda:InvokeFunction` with `lambda:InvokedViaFunctionUrl` = true for
  them: the enforcer checks that second Target itself (Invoke's, with that key added).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from lambdabox.access.lambda_requests import (
    MOST_VALUES,
    ARN,
    Context,
    Keys,
    Params,
    Resource,
    anything,
    arn_in,
    as_text,
    capacity_provider,
    code_signing_config,
    event_source_mapping,
    function,
    function_arn_key,
    layer,
    layer_version,
    layer_version_arn_of,
    layers,
    principal,
    removed_tag_keys,
    request_tags,
    subnets,
    url_auth_type,
    vpc,
)
from lambdabox.model.arns import PARTITION, Scope


@dataclass(frozen=True)
class Target:
    """What one request asks to do, as IAM evaluates it."""

    #: The IAM action, "lambda:InvokeFunction".
    action: str
    #: The ARN the Service Authorization Reference names, or "*".
    resource: str
    #: The account that owns the resource (the caller's own for "*").
    account: str
    #: The resource's region; "" for IAM and STS.
    region: str
    #: The operation's own condition keys and their values, from the request.
    context: dict[str, list[str]] = field(default_factory=dict)
    #: AWS never denies this action; the enforcer skips evaluation.
    always_allowed: bool = False
    #: Condition keys the reference lists for this action whose values live in stored records,
    #: not in the request (the event source mapping's function, the URL's auth type): the
    #: enforcer adds them when it has the record.
    from_state: tuple[str, ...] = ()


# --- The Lambda table -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Lambda:
    #: The action's name after "lambda:".
    action: str
    resource: Resource
    keys: tuple[Keys, ...] = ()
    from_state: tuple[str, ...] = ()


def _same(*names: str, resource: Resource, keys: tuple[Keys, ...] = ()) -> dict[str, _Lambda]:
    """Entries for operations whose action has the operation's own name."""
    return {name: _Lambda(name, resource, keys) for name in names}


_URL_KEYS = (url_auth_type("AuthType"), function_arn_key)

#: Every operation of botocore's Lambda model, and the function URL invocation.
LAMBDA: dict[str, _Lambda] = {
    # Functions, versions and aliases: the function's ARN, qualified when the request names a
    # version or alias.
    **_same(
        "CreateAlias", "DeleteAlias", "DeleteFunction", "DeleteFunctionCodeSigningConfig",
        "DeleteFunctionConcurrency", "DeleteFunctionEventInvokeConfig", "DeleteProvisionedConcurrencyConfig",
        "GetAlias", "GetFunction", "GetFunctionCodeSigningConfig", "GetFunctionConcurrency",
        "GetFunctionConfiguration", "GetFunctionEventInvokeConfig", "GetFunctionRecursionConfig",
        "GetFunctionScalingConfig", "GetPolicy", "GetProvisionedConcurrencyConfig",
        "GetRuntimeManagementConfig", "ListAliases", "ListDurableExecutionsByFunction",
        "ListFunctionEventInvokeConfigs", "ListProvisionedConcurrencyConfigs", "ListVersionsByFunction",
        "PublishVersion", "PutFunctionConcurrency", "PutFunctionEventInvokeConfig", "PutFunctionRecursionConfig",
        "PutFunctionScalingConfig", "PutProvisionedConcurrencyConfig", "PutRuntimeManagementConfig",
        "UpdateAlias", "UpdateFunctionCode", "UpdateFunctionEventInvokeConfig", "InvokeAsync",
        resource=function,
    ),
    # The reference's action for Invoke and InvokeWithResponseStream is InvokeFunction.
    "Invoke": _Lambda("InvokeFunction", function),
    "InvokeWithResponseStream": _Lambda("InvokeFunction", function),
    "CreateFunction": _Lambda(
        "CreateFunction", function, (layers, vpc, code_signing_config, request_tags)
    ),
    "UpdateFunctionConfiguration": _Lambda("UpdateFunctionConfiguration", function, (layers, vpc)),
    "AddPermission": _Lambda("AddPermission", function, (principal, url_auth_type("FunctionUrlAuthType"))),
    "RemovePermission": _Lambda("RemovePermission", function, (), ("lambda:Principal",)),
    "PutFunctionCodeSigningConfig": _Lambda("PutFunctionCodeSigningConfig", function, (code_signing_config,)),
    # Function URLs: the function or the alias the Qualifier names.
    **_same("CreateFunctionUrlConfig", "UpdateFunctionUrlConfig", resource=function, keys=_URL_KEYS),
    "GetFunctionUrlConfig": _Lambda(
        "GetFunctionUrlConfig", function, (function_arn_key,), ("lambda:FunctionUrlAuthType",)
    ),
    "DeleteFunctionUrlConfig": _Lambda(
        "DeleteFunctionUrlConfig", function, (function_arn_key,), ("lambda:FunctionUrlAuthType",)
    ),
    "ListFunctionUrlConfigs": _Lambda("ListFunctionUrlConfigs", function, (), ("lambda:FunctionUrlAuthType",)),
    "InvokeFunctionUrl": _Lambda("InvokeFunctionUrl", function, _URL_KEYS),
    # Account-wide: no resource-level permission.
    **_same(
        "GetAccountSettings", "ListFunctions", "ListEventSourceMappings", "ListLayers", "ListLayerVersions",
        "ListCodeSigningConfigs", "ListCapacityProviders", resource=anything,
    ),
    # Event source mappings: created on "*", then the mapping's own ARN; lambda:FunctionArn is
    # the function the request names, else the mapping's (stored).
    "CreateEventSourceMapping": _Lambda("CreateEventSourceMapping", anything, (function_arn_key, request_tags)),
    "UpdateEventSourceMapping": _Lambda("UpdateEventSourceMapping", event_source_mapping, (function_arn_key,)),
    "GetEventSourceMapping": _Lambda(
        "GetEventSourceMapping", event_source_mapping, (), ("lambda:FunctionArn",)
    ),
    "DeleteEventSourceMapping": _Lambda(
        "DeleteEventSourceMapping", event_source_mapping, (), ("lambda:FunctionArn",)
    ),
    # Layers: publishing acts on the layer, everything else on one version of it.
    "PublishLayerVersion": _Lambda("PublishLayerVersion", layer),
    **_same(
        "GetLayerVersion", "DeleteLayerVersion", "GetLayerVersionPolicy", "AddLayerVersionPermission",
        "RemoveLayerVersionPermission", resource=layer_version,
    ),
    "GetLayerVersionByArn": _Lambda("GetLayerVersion", layer_version_arn_of),
    # Tags: the resource is the ARN the request names.
    "TagResource": _Lambda("TagResource", arn_in("Resource"), (request_tags,)),
    "UntagResource": _Lambda("UntagResource", arn_in("Resource"), (removed_tag_keys,)),
    "ListTags": _Lambda("ListTags", arn_in("Resource")),
    # Code signing configurations.
    "CreateCodeSigningConfig": _Lambda("CreateCodeSigningConfig", anything, (request_tags,)),
    **_same(
        "GetCodeSigningConfig", "UpdateCodeSigningConfig", "DeleteCodeSigningConfig",
        "ListFunctionsByCodeSigningConfig", resource=arn_in("CodeSigningConfigArn"),
    ),
    # Capacity providers.
    "CreateCapacityProvider": _Lambda("CreateCapacityProvider", capacity_provider, (subnets, request_tags)),
    **_same(
        "GetCapacityProvider", "UpdateCapacityProvider", "DeleteCapacityProvider",
        "ListFunctionVersionsByCapacityProvider", resource=capacity_provider,
    ),
    # Resource-based policies named by ARN (a function, version or alias).
    "GetResourcePolicy": _Lambda("GetResourcePolicy", arn_in("ResourceArn")),
    "PutResourcePolicy": _Lambda("PutResourcePolicy", arn_in("ResourceArn"), (), ("lambda:Principal",)),
    "DeleteResourcePolicy": _Lambda("DeleteResourcePolicy", arn_in("ResourceArn"), (), ("lambda:Principal",)),
    # Durable executions, named by their ARN. Pause, Resume and Delete are not in the reference
    # yet: they take the operation's own name, as every other durable execution action does.
    **_same(
        "GetDurableExecution", "GetDurableExecutionHistory", "GetDurableExecutionState",
        "CheckpointDurableExecution", "StopDurableExecution", "PauseDurableExecution",
        "ResumeDurableExecution", "DeleteDurableExecution", resource=arn_in("DurableExecutionArn"),
    ),
    # A callback ID does not say which execution it belongs to: "*" until the enforcer can look
    # the execution up (Lambdabox serves none of these).
    **_same(
        "SendDurableExecutionCallbackSuccess", "SendDurableExecutionCallbackFailure",
        "SendDurableExecutionCallbackHeartbeat", resource=anything,
    ),
}


def lambda_target(operation: str, params: Params, scope: Scope) -> Target:
    """The Target of one Lambda request: `operation` a botocore operation name (or
    "InvokeFunctionUrl"), `params` its decoded input, `scope` the caller's account and signed
    region. Raises KeyError for an operation the table does not hold; never otherwise."""
    spec = LAMBDA[operation]
    if not isinstance(params, Mapping):
        params = {}
    place = spec.resource(params, scope)
    context: Context = {}
    for keys in spec.keys:
        context.update(keys(params, scope))
    return Target(
        f"lambda:{spec.action}", place.resource, place.account, place.region, context,
        from_state=spec.from_state,
    )


# --- IAM and STS ------------------------------------------------------------------------------


class IamNames(Protocol):
    """What an IAM request does not say, looked up in the account's stored records."""

    def path(self, account: str, kind: str, name: str) -> str | None:
        """The stored path ("/" or "/a/b/") of a "role", "user" or "group"; None if none is stored."""

    def key_owner(self, access_key: str) -> str | None:
        """The name of the user an access key belongs to; None for an unknown key or the root's."""


@dataclass(frozen=True)
class _Request:
    """One IAM or STS request as the resource and key readers see it."""

    params: Mapping[str, str]
    account: str
    caller: str
    names: IamNames | None

    def text(self, name: str) -> str:
        return as_text(self.params.get(name))

    def stored_path(self, kind: str, name: str) -> str:
        path = self.names.path(self.account, kind, name) if self.names is not None else None
        return path or "/"


IamResource = Callable[[_Request], str]
IamKeys = Callable[[_Request], Context]


def _iam_arn(account: str, kind: str, path: str, name: str) -> str:
    return f"arn:{PARTITION}:iam::{account}:{kind}{path}{name}"


def _named(kind: str, param: str) -> IamResource:
    """A role, user or group named by a parameter, at its stored path."""

    def resource(request: _Request) -> str:
        name = request.text(param)
        return _iam_arn(request.account, kind, request.stored_path(kind, name), name)

    return resource


def _created(kind: str, param: str) -> IamResource:
    """A role, user, group or policy being created: its path is the request's `Path`."""

    def resource(request: _Request) -> str:
        return _iam_arn(request.account, kind, request.text("Path") or "/", request.text(param))

    return resource


def _user_or_caller(request: _Request) -> str:
    """The user named, or the caller when `UserName` is left out (see the module's docstring)."""
    if request.params.get("UserName") is not None:
        return _named("user", "UserName")(request)
    return request.caller or _iam_arn(request.account, "user", "/", "")


def _access_key_owner(request: _Request) -> str:
    """GetAccessKeyLastUsed: the user the key belongs to; the caller when that is unknown."""
    owner = request.names.key_owner(request.text("AccessKeyId")) if request.names is not None else None
    if owner is None:
        return request.caller or _iam_arn(request.account, "user", "/", "")
    return _iam_arn(request.account, "user", request.stored_path("user", owner), owner)


def _policy_arn(request: _Request) -> str:
    return request.text("PolicyArn")


def _iam_anything(request: _Request) -> str:
    return "*"


def _role_arn(request: _Request) -> str:
    return request.text("RoleArn")


def _form_tags(request: _Request) -> Context:
    """aws:RequestTag/KEY and aws:TagKeys from `Tags.member.N.Key` / `.Value`, in N order."""
    pairs: dict[int, dict[str, str]] = {}
    for name, value in request.params.items():
        match = re.fullmatch(r"Tags\.member\.([0-9]{1,6})\.(Key|Value)", name)
        if match:
            pairs.setdefault(int(match[1]), {})[match[2]] = as_text(value)
    context: Context = {}
    keys = []
    for number in sorted(pairs)[:MOST_VALUES]:
        key = pairs[number].get("Key")
        if key is not None:
            context[f"aws:RequestTag/{key}"] = [pairs[number].get("Value", "")]
            keys.append(key)
    if keys:
        context["aws:TagKeys"] = keys
    return context


def _form_list(param: str, key: str) -> IamKeys:
    """A condition key from a form list, `PARAM.member.N`, in N order."""
    pattern = re.compile(re.escape(param) + r"\.member\.([0-9]{1,6})")

    def keys(request: _Request) -> Context:
        members = {}
        for name, value in request.params.items():
            match = pattern.fullmatch(name)
            if match:
                members[int(match[1])] = as_text(value)
        return {key: [members[number] for number in sorted(members)]} if members else {}

    return keys


def _form_value(param: str, key: str) -> IamKeys:
    """A condition key holding one parameter's value, when the request has it."""

    def keys(request: _Request) -> Context:
        value = request.params.get(param)
        return {key: [as_text(value)]} if value is not None else {}

    return keys


@dataclass(frozen=True)
class _Query:
    resource: IamResource
    keys: tuple[IamKeys, ...] = ()
    #: The account that owns the resource is the one in its ARN (a policy, a role to assume).
    account_from_arn: bool = False
    always_allowed: bool = False
    from_state: tuple[str, ...] = ()


def _all(resource: IamResource, *names: str, keys: tuple[IamKeys, ...] = (), **options: Any) -> dict[str, _Query]:
    return {name: _Query(resource, keys, **options) for name in names}


_ROLE, _USER, _GROUP = _named("role", "RoleName"), _named("user", "UserName"), _named("group", "GroupName")
_BOUNDARY = ("iam:PermissionsBoundary",)
_POLICY_KEY = _form_value("PolicyArn", "iam:PolicyARN")

#: IAM actions Lambdabox serves or will serve soon; each action has the request's name.
IAM: dict[str, _Query] = {
    "CreateRole": _Query(
        _created("role", "RoleName"), (_form_tags, _form_value("PermissionsBoundary", "iam:PermissionsBoundary"))
    ),
    **_all(_ROLE, "GetRole", "ListAttachedRolePolicies", "GetRolePolicy", "ListRolePolicies", "ListRoleTags",
           "ListInstanceProfilesForRole"),
    # iam:PermissionsBoundary here is the boundary the stored role has.
    **_all(_ROLE, "UpdateRole", "UpdateRoleDescription", "UpdateAssumeRolePolicy", "DeleteRole", "PutRolePolicy",
           "DeleteRolePolicy",
           from_state=_BOUNDARY),
    **_all(_ROLE, "AttachRolePolicy", "DetachRolePolicy", keys=(_POLICY_KEY,), from_state=_BOUNDARY),
    "TagRole": _Query(_ROLE, (_form_tags,)),
    "UntagRole": _Query(_ROLE, (_form_list("TagKeys", "aws:TagKeys"),)),
    "ListRoles": _Query(_iam_anything),
    "CreatePolicy": _Query(_created("policy", "PolicyName"), (_form_tags,)),
    "TagPolicy": _Query(_policy_arn, (_form_tags,), account_from_arn=True),
    "UntagPolicy": _Query(_policy_arn, (_form_list("TagKeys", "aws:TagKeys"),), account_from_arn=True),
    **_all(_policy_arn, "GetPolicy", "DeletePolicy", "ListPolicyTags", "GetPolicyVersion", "ListPolicyVersions",
           "CreatePolicyVersion", "DeletePolicyVersion", "SetDefaultPolicyVersion", account_from_arn=True),
    "ListPolicies": _Query(_iam_anything),
    "CreateUser": _Query(
        _created("user", "UserName"), (_form_tags, _form_value("PermissionsBoundary", "iam:PermissionsBoundary"))
    ),
    **_all(_user_or_caller, "GetUser", "CreateAccessKey", "ListAccessKeys", "UpdateAccessKey", "DeleteAccessKey"),
    "GetAccessKeyLastUsed": _Query(_access_key_owner),
    **_all(_USER, "DeleteUser", "UpdateUser", "GetUserPolicy", "ListUserPolicies", "ListAttachedUserPolicies",
           "ListGroupsForUser"),
    **_all(_USER, "PutUserPolicy", "DeleteUserPolicy", from_state=_BOUNDARY),
    **_all(_USER, "AttachUserPolicy", "DetachUserPolicy", keys=(_POLICY_KEY,), from_state=_BOUNDARY),
    "ListUsers": _Query(_iam_anything),
    "CreateGroup": _Query(_created("group", "GroupName")),
    **_all(_GROUP, "GetGroup", "DeleteGroup", "AddUserToGroup", "RemoveUserFromGroup", "PutGroupPolicy",
           "GetGroupPolicy", "DeleteGroupPolicy", "ListGroupPolicies", "ListAttachedGroupPolicies"),
    **_all(_GROUP, "AttachGroupPolicy", "DetachGroupPolicy", keys=(_POLICY_KEY,)),
    "ListGroups": _Query(_iam_anything),
}

#: STS actions Lambdabox serves.
STS: dict[str, _Query] = {
    # The role to assume, in the role's own account; its trust policy is the resource policy.
    "AssumeRole": _Query(
        _role_arn,
        (
            _form_value("RoleSessionName", "sts:RoleSessionName"),
            _form_value("ExternalId", "sts:ExternalId"),
            _form_value("SourceIdentity", "sts:SourceIdentity"),
            _form_tags,
            _form_list("TransitiveTagKeys", "sts:TransitiveTagKeys"),
        ),
        account_from_arn=True,
    ),
    "GetCallerIdentity": _Query(_iam_anything, always_allowed=True),
    "GetSessionToken": _Query(_iam_anything, always_allowed=True),
}

_QUERY_SERVICES = {"iam": IAM, "sts": STS}


def query_target(
    service: str,
    action: str,
    params: Mapping[str, str],
    account: str,
    *,
    caller: str = "",
    names: IamNames | None = None,
) -> Target:
    """The Target of one IAM or STS request: `service` "iam" or "sts", `action` the form's
    Action, `params` its flat form parameters, `account` the caller's account.

    `caller` is the calling principal's ARN, the resource of user calls that name no user;
    `names` looks up stored paths and access key owners (see the module's docstring for what
    each default gives). Raises KeyError for a service or action the table does not hold.
    """
    spec = _QUERY_SERVICES[service][action]
    request = _Request(params if isinstance(params, Mapping) else {}, account, caller, names)
    resource = spec.resource(request)
    owner = account
    if spec.account_from_arn:
        match = ARN.match(resource)
        if match and match["account"]:
            owner = match["account"]
    context: Context = {}
    for keys in spec.keys:
        context.update(keys(request))
    return Target(f"{service}:{action}", resource, owner, "", context, spec.always_allowed, spec.from_state)
