"""The CloudWatch Logs operations Lambdabox serves, to the IAM action and resource each needs.

Source: the Service Authorization Reference, "Actions, resources, and condition keys for Amazon
CloudWatch Logs". Every action has the operation's own name (`logs:FilterLogEvents`). Operations on
one log group are authorized on `arn:aws:logs:REGION:ACCOUNT:log-group:NAME:*`, the ARN Lambda's
own policies (AWSLambdaBasicExecutionRole) and DescribeLogGroups' `arn` use, which also covers the
group's streams (`...:log-group:NAME:log-stream:S`) in a policy; DescribeLogGroups on
`...:log-group:*`. A group named by ARN (logGroupIdentifier, resourceArn) is authorized in that
ARN's account and region.

Contract (as access/actions.py): `logs_target` is pure, never raises for odd params (unreadable
text becomes a best-effort ARN, refused later by the handler), and raises KeyError for an operation
the table does not hold, and only then.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

from lambdabox.access.actions import Target
from lambdabox.access.lambda_requests import MOST_VALUES, Context, Params, as_text, as_texts
from lambdabox.model.arns import Scope

#: Operations that act on one log group named by logGroupName or logGroupIdentifier.
_ON_GROUP = frozenset({
    "CreateLogGroup", "DeleteLogGroup", "DescribeLogStreams", "GetLogEvents", "FilterLogEvents",
    "PutRetentionPolicy", "DeleteRetentionPolicy", "TagLogGroup", "UntagLogGroup", "ListTagsLogGroup",
    "CreateLogStream", "PutLogEvents",
})
#: Operations that name the group by `resourceArn`.
_ON_ARN = frozenset({"TagResource", "UntagResource", "ListTagsForResource"})
#: Every operation served.
SERVED = _ON_GROUP | _ON_ARN | {"DescribeLogGroups"}


def _group_place(text: str, scope: Scope) -> tuple[str, str, str]:
    """(region, account, name) of a group named by name or ARN."""
    if text.startswith("arn:"):
        parts = text.split(":", 6)
        if len(parts) == 7 and parts[5] == "log-group":
            return parts[3], parts[4], parts[6].removesuffix(":*")
    return scope.region, scope.account, text


def _tags(params: Params) -> Context:
    """aws:RequestTag/KEY and aws:TagKeys from a `tags` map, or aws:TagKeys from a list of keys."""
    tags = params.get("tags")
    if isinstance(tags, Mapping) and tags:
        first = list(itertools.islice(tags.items(), MOST_VALUES))
        context: Context = {f"aws:RequestTag/{as_text(key)}": [as_text(value)] for key, value in first}
        context["aws:TagKeys"] = [as_text(key) for key, _ in first]
        return context
    keys = as_texts(params.get("tagKeys") if params.get("tagKeys") is not None else tags)[:MOST_VALUES]
    return {"aws:TagKeys": keys} if keys else {}


def logs_target(operation: str, params: Params, scope: Scope) -> Target:
    action = f"logs:{operation}"
    if operation == "DescribeLogGroups":
        return Target(action, f"arn:aws:logs:{scope.region}:{scope.account}:log-group:*", scope.account, scope.region)
    if operation in _ON_ARN:
        text = as_text(params.get("resourceArn"))
    elif operation in _ON_GROUP:
        text = as_text(params.get("logGroupIdentifier") or params.get("logGroupName"))
    else:
        raise KeyError(operation)
    region, account, name = _group_place(text, scope)
    resource = f"arn:aws:logs:{region}:{account}:log-group:{name}:*"
    tagging = operation in ("CreateLogGroup", "TagResource", "UntagResource", "TagLogGroup", "UntagLogGroup")
    return Target(action, resource, account, region, _tags(params) if tagging else {})
