"""The documents of the AWS-managed policies Lambdabox evaluates.

AWS manages hundreds of policies; Lambdabox knows the documents of the few a Lambda setup
commonly attaches, as AWS publishes them (the statements that matter to the services
Lambdabox serves). An AWS-managed policy whose document is not here grants nothing when
policies are evaluated: attaching it is accepted, and the README says which ones are known.
"""

from __future__ import annotations

from typing import Any


def _allow(actions: list[str] | str, resource: str = "*") -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource}]}


#: Documents by policy name (AWS-managed policy names are unique across paths).
DOCUMENTS: dict[str, dict[str, Any]] = {
    # Full access to every action on every resource.
    "AdministratorAccess": _allow("*"),
    # What a function needs to write its logs.
    "AWSLambdaBasicExecutionRole": _allow(["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]),
    # Invoking any function: the policy AWS gives roles that invoke functions.
    "AWSLambdaRole": _allow(["lambda:InvokeFunction"]),
    # An SQS event source mapping's execution role: read and delete from any queue, and write logs.
    "AWSLambdaSQSQueueExecutionRole": _allow([
        "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
        "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
    ]),
    # A Kinesis event source mapping's execution role.
    "AWSLambdaKinesisExecutionRole": _allow([
        "kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords", "kinesis:GetShardIterator",
        "kinesis:ListShards", "kinesis:ListStreams", "kinesis:SubscribeToShard",
        "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
    ]),
    # A DynamoDB Streams event source mapping's execution role.
    "AWSLambdaDynamoDBExecutionRole": _allow([
        "dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams",
        "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
    ]),
}


def document(name: str) -> dict[str, Any] | None:
    """A fresh copy of the named AWS-managed policy's document, or None when it is not known here."""
    known = DOCUMENTS.get(name)
    if known is None:
        return None
    return {
        "Version": known["Version"],
        "Statement": [dict(statement) for statement in known["Statement"]],
    }
