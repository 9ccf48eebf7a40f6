"""Reading a DynamoDB table's stream for a stream mapping (DescribeStream, GetShardIterator, GetRecords).

Blocking boto3 calls (the `dynamodbstreams` client): the stream poller (sources/streams.py) runs
them in its executor.
"""

from __future__ import annotations

from typing import Any

from lambdabox.model.stream_sources import StreamSource
from lambdabox.sources.stream_records import DYNAMODB, Shard, StreamRecord, dynamodb_record

#: Most records one DynamoDB Streams GetRecords returns.
GET_RECORDS_MAX = 1000


class DynamoDBStreamReader:
    kind = DYNAMODB

    def __init__(self, client: Any, source: StreamSource) -> None:
        """`client`: a boto3 DynamoDB Streams client for the stream's region."""
        self._client = client
        self._source = source

    def shards(self) -> list[Shard]:
        """The stream's shards, parents before children."""
        found: list[Shard] = []
        arguments: dict[str, Any] = {"StreamArn": self._source.arn}
        while True:
            description = self._client.describe_stream(**arguments)["StreamDescription"]
            found += [_shard(shard) for shard in description.get("Shards", [])]
            if not description.get("LastEvaluatedShardId"):
                return found
            arguments["ExclusiveStartShardId"] = description["LastEvaluatedShardId"]

    def iterator(self, shard_id: str, kind: str, sequence: str | None = None, timestamp: float | None = None) -> str:
        """A shard iterator: TRIM_HORIZON, LATEST or AFTER_SEQUENCE_NUMBER (`sequence`); DynamoDB Streams have no
        AT_TIMESTAMP, so a timestamp reads from the trim horizon (records may repeat, none is lost)."""
        if kind == "AT_TIMESTAMP":
            kind = "TRIM_HORIZON"
        arguments: dict[str, Any] = {"StreamArn": self._source.arn, "ShardId": shard_id, "ShardIteratorType": kind}
        if sequence is not None:
            arguments["SequenceNumber"] = sequence
        return self._client.get_shard_iterator(**arguments)["ShardIterator"]

    def read(self, shard_id: str, iterator: str, limit: int) -> tuple[list[StreamRecord], str | None]:
        """Up to `limit` records from `iterator`, and the next iterator (None once a closed shard is read to its end)."""
        answer = self._client.get_records(ShardIterator=iterator, Limit=min(limit, GET_RECORDS_MAX))
        records = [dynamodb_record(raw, self._source.arn, self._source.scope.region) for raw in answer.get("Records", [])]
        return records, answer.get("NextShardIterator")


def _shard(shard: dict[str, Any]) -> Shard:
    parents = tuple(parent for parent in (shard.get("ParentShardId"),) if parent)
    return Shard(shard["ShardId"], parents, shard.get("SequenceNumberRange", {}).get("EndingSequenceNumber"))
