"""Dead letters through the operator CLI: list and replay by partition and offset range,
against a real Kafka-protocol broker."""

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from dropwave_contracts.topics import dead_letter_topic
from dropwave_runtime.bootstrap import Service
from dropwave_runtime.cli import run
from dropwave_runtime.settings import ServiceSettings
from fastapi import FastAPI

pytestmark = pytest.mark.timeout(60)

ORIGINAL = "campaigns.events.v1"


def no_app(settings: ServiceSettings) -> FastAPI:
    raise AssertionError("dlq commands never build the app")


async def write_letters(bootstrap: str, marker: str) -> list[int]:
    dlq = dead_letter_topic("orders").name
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        offsets = []
        for n in range(5):
            meta = await producer.send_and_wait(
                dlq,
                json.dumps({"event_type": "OrderPlaced", "n": n, "marker": marker}).encode(),
                key=b"campaign-1",
                partition=0,
                headers=[("dlq-original-topic", ORIGINAL.encode()), ("dlq-error", b"boom")],
            )
            offsets.append(meta.offset)
    finally:
        await producer.stop()
    return offsets


async def ends_of_original(bootstrap: str) -> dict[TopicPartition, int]:
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await reader.start()
    try:
        await reader.topics()
        tps = [
            TopicPartition(ORIGINAL, p) for p in sorted(reader.partitions_for_topic(ORIGINAL) or ())
        ]
        return dict(await reader.end_offsets(tps))
    finally:
        await reader.stop()


async def read_since(bootstrap: str, ends: dict[TopicPartition, int], marker: str) -> list[int]:
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await reader.start()
    found: list[int] = []
    try:
        reader.assign(list(ends))
        for tp, end in ends.items():
            reader.seek(tp, end)
        batch = await reader.getmany(*ends, timeout_ms=3000)
        for records in batch.values():
            for r in records:
                value = json.loads(r.value or b"{}")
                if value.get("marker") == marker:
                    assert dict(r.headers).get("dlq-error") is None  # error headers stay behind
                    found.append(value["n"])
    finally:
        await reader.stop()
    return sorted(found)


def test_replay_sends_back_exactly_the_chosen_range(
    kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = uuid.uuid4().hex
    offsets = asyncio.run(write_letters(kafka_bootstrap, marker))
    ends = asyncio.run(ends_of_original(kafka_bootstrap))
    settings = ServiceSettings(
        database_url="postgresql+asyncpg://unused@127.0.0.1:1/x",
        kafka_bootstrap_servers=kafka_bootstrap,
    )
    spec = Service("orders", "orders", lambda: settings, Path("."))
    chosen = ["--partition", "0", "--from-offset", str(offsets[1]), "--to-offset", str(offsets[3])]

    run(spec, no_app, ["dlq", "list", *chosen])
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(x["offset"], x["error"]) for x in listed] == [(o, "boom") for o in offsets[1:4]]

    run(spec, no_app, ["dlq", "replay", *chosen])
    out = capsys.readouterr()
    assert out.out == "replayed 3 dead letter(s)\n"
    assert out.err == "replayed 3/3\n"

    assert asyncio.run(read_since(kafka_bootstrap, ends, marker)) == [1, 2, 3]
