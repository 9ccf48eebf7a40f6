"""The CloudWatch Logs operations Lambdabox serves, each to its handler."""

from __future__ import annotations

from typing import Any

from lambdabox.control.log_api import LogsApi
from lambdabox.control.log_events import LogEventsApi
from lambdabox.control.log_follow import LogFollowing
from lambdabox.observe.logs import LogStore


def log_operations(store: LogStore) -> dict[str, Any]:
    """Each CloudWatch Logs operation served, to its handler: (scope, input) -> output."""
    groups = LogsApi(store)
    events = LogEventsApi(store, groups)
    following = LogFollowing(events)
    return {
        "CreateLogGroup": groups.create_log_group,
        "DeleteLogGroup": groups.delete_log_group,
        "DescribeLogGroups": groups.describe_log_groups,
        "PutRetentionPolicy": groups.put_retention_policy,
        "DeleteRetentionPolicy": groups.delete_retention_policy,
        "TagResource": groups.tag_resource,
        "UntagResource": groups.untag_resource,
        "ListTagsForResource": groups.list_tags_for_resource,
        "TagLogGroup": groups.tag_log_group,
        "UntagLogGroup": groups.untag_log_group,
        "ListTagsLogGroup": groups.list_tags_log_group,
        "DescribeLogStreams": events.describe_log_streams,
        "GetLogEvents": events.get_log_events,
        "FilterLogEvents": following.filter_log_events,
        "CreateLogStream": events.create_log_stream,
        "PutLogEvents": events.put_log_events,
    }
