"""Operator tools for a service's dead-letter topic: list, and replay to the original topic.

Replaying is safe: consumers dedupe by event id (inbox), so a letter whose event was
meanwhile handled has no second effect.
"""

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord
from dropwave_contracts.topics import dead_letter_topic

_DLQ_PREFIX = "dlq-"


async def _read_all(bootstrap: str, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[ConsumerRecord[bytes, bytes]] = []
        while True:
            batch = await consumer.getmany(*tps, timeout_ms=1000)
            if not batch:
                return sorted(records, key=lambda r: (r.partition, r.offset))
            for recs in batch.values():
                records.extend(recs)
    finally:
        await consumer.stop()


@dataclass(frozen=True)
class Letters:
    """Which letters an operator means: a partition, an offset range in it (inclusive), or
    listed offsets; nothing set: all of them."""

    partition: int | None = None
    first_offset: int | None = None
    last_offset: int | None = None
    offsets: frozenset[int] | None = None

    def __contains__(self, record: ConsumerRecord[bytes, bytes]) -> bool:
        return (
            (self.partition is None or record.partition == self.partition)
            and (self.first_offset is None or record.offset >= self.first_offset)
            and (self.last_offset is None or record.offset <= self.last_offset)
            and (self.offsets is None or record.offset in self.offsets)
        )


ALL = Letters()


def _describe(record: ConsumerRecord[bytes, bytes]) -> str:
    headers = {k: v.decode(errors="replace") for k, v in record.headers}
    event_type = None
    with contextlib.suppress(ValueError, AttributeError):
        event_type = json.loads(record.value or b"{}").get("event_type")
    return json.dumps(
        {
            "partition": record.partition,
            "offset": record.offset,
            "event_type": event_type,
            **{
                k.removeprefix(_DLQ_PREFIX): v
                for k, v in headers.items()
                if k.startswith(_DLQ_PREFIX)
            },
        },
        sort_keys=True,
    )


async def list_dead_letters(bootstrap: str, service: str, which: Letters = ALL) -> list[str]:
    records = await _read_all(bootstrap, dead_letter_topic(service).name)
    return [_describe(r) for r in records if r in which]


async def replay_dead_letters(
    bootstrap: str,
    service: str,
    which: Letters = ALL,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Send the chosen letters back to their original topics, in partition and offset
    order; ``progress(done, total)`` after each hundred and at the end."""
    records = [
        r
        for r in await _read_all(bootstrap, dead_letter_topic(service).name)
        if r in which and dict(r.headers).get("dlq-original-topic") is not None
    ]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    sent = 0
    try:
        for record in records:
            headers = [(k, v) for k, v in record.headers if not k.startswith(_DLQ_PREFIX)]
            original = dict(record.headers)["dlq-original-topic"]
            await producer.send_and_wait(
                original.decode(), record.value, key=record.key, headers=headers
            )
            sent += 1
            if progress is not None and (sent % 100 == 0 or sent == len(records)):
                progress(sent, len(records))
    finally:
        await producer.stop()
    return sent
