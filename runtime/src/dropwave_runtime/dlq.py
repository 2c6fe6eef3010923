"""Operator tools for a service's dead-letter topic: list, and replay to the original topic.

Replaying is safe: consumers dedupe by event id (inbox), so a letter whose event was
meanwhile handled has no second effect.
"""

import contextlib
import json
from collections.abc import Iterable

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


async def list_dead_letters(bootstrap: str, service: str) -> list[str]:
    return [_describe(r) for r in await _read_all(bootstrap, dead_letter_topic(service).name)]


async def replay_dead_letters(bootstrap: str, service: str, offsets: Iterable[int] | None) -> int:
    wanted = set(offsets) if offsets else None
    records = await _read_all(bootstrap, dead_letter_topic(service).name)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    sent = 0
    try:
        for record in records:
            if wanted is not None and record.offset not in wanted:
                continue
            headers = [(k, v) for k, v in record.headers if not k.startswith(_DLQ_PREFIX)]
            original = dict(record.headers).get("dlq-original-topic")
            if original is None:
                continue
            await producer.send_and_wait(
                original.decode(), record.value, key=record.key, headers=headers
            )
            sent += 1
    finally:
        await producer.stop()
    return sent
