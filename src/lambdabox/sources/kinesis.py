"""Reading an Amazon Kinesis data stream's shards for a stream mapping (ListShards, GetShardIterator, GetRecords).

Blocking boto3 calls: the stream poller (sources/streams.py) runs them in its executor.
"""

from __future__ import annotations

from typing import Any

from lambdabox.model.stream_sources import StreamSource
from lambdabox.sources.stream_records import KINESIS, Shard, StreamRecord, kinesis_record

#: Most records one Kinesis GetRecords returns.
GET_RECORDS_MAX = 10_000


class KinesisReader:
    kind = KINESIS

    def __init__(self, client: Any, source: StreamSource, role_arn: str) -> None:
        """`client`: a boto3 Kinesis client for the stream's region; `role_arn`: the function's execution role,
        which each record names as its `invokeIdentityArn`."""
        self._client = client
        self._source = source
        self._role_arn = role_arn

    def shards(self) -> list[Shard]:
        """The stream's shards, parents before children."""
        found: list[Shard] = []
        answer = self._client.list_shards(StreamName=self._source.name)
        while True:
            found += [_shard(shard) for shard in answer.get("Shards", [])]
            if not answer.get("NextToken"):
                return found
            answer = self._client.list_shards(NextToken=answer["NextToken"])

    def iterator(self, shard_id: str, kind: str, sequence: str | None = None, timestamp: float | None = None) -> str:
        """A shard iterator: TRIM_HORIZON, LATEST, AT_TIMESTAMP (`timestamp`) or AFTER_SEQUENCE_NUMBER (`sequence`)."""
        arguments: dict[str, Any] = {"StreamName": self._source.name, "ShardId": shard_id, "ShardIteratorType": kind}
        if sequence is not None:
            arguments["StartingSequenceNumber"] = sequence
        if timestamp is not None:
            arguments["Timestamp"] = timestamp
        return self._client.get_shard_iterator(**arguments)["ShardIterator"]

    def read(self, shard_id: str, iterator: str, limit: int) -> tuple[list[StreamRecord], str | None]:
        """Up to `limit` records from `iterator`, and the next iterator (None once a closed shard is read to its end)."""
        answer = self._client.get_records(ShardIterator=iterator, Limit=min(limit, GET_RECORDS_MAX))
        source = self._source
        records = [
            kinesis_record(raw, shard_id, source.arn, source.scope.region, self._role_arn)
            for raw in answer.get("Records", [])
        ]
        return records, answer.get("NextShardIterator")


def _shard(shard: dict[str, Any]) -> Shard:
    parents = tuple(parent for parent in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId")) if parent)
    return Shard(shard["ShardId"], parents, shard.get("SequenceNumberRange", {}).get("EndingSequenceNumber"))
