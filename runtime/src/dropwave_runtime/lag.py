"""Consumer lag and dead letters, as gauges: how far behind a service's consumer group is on
each partition it reads, and how many letters its dead-letter topic holds.

Measured from the broker (the group's committed offsets against each partition's end), so
it tells the truth even when every instance of the service is stuck or down; one worker of
each service publishes it (any worker may: the figures are the same).
"""

import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import Gauge

log = logging.getLogger(__name__)

CONSUMER_LAG = Gauge(
    "dropwave_consumer_lag",
    "Messages of a partition not yet consumed by the service's group (end offset minus the "
    "group's committed offset; the whole partition when the group has committed nothing)",
    ["group", "topic", "partition"],
)
DLQ_MESSAGES = Gauge(
    "dropwave_dlq_messages",
    "Letters held in the service's dead-letter topic (replayed ones too, until retention "
    "drops them; dropwave_events_dead_lettered_total counts new ones)",
    ["topic"],
)


class LagProbe:
    """Reads offsets from the broker with clients held open between rounds."""

    def __init__(self, bootstrap: str, group: str, topics: list[str], dlq_topic: str) -> None:
        self.group = group
        self.topics = topics
        self.dlq_topic = dlq_topic
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self._offsets = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self._started = False

    async def _start(self) -> None:
        if not self._started:
            await self._admin.start()
            await self._offsets.start()
            self._started = True

    async def close(self) -> None:
        if self._started:
            await self._offsets.stop()
            await self._admin.close()
            self._started = False

    def _partitions(self, topic: str) -> list[TopicPartition]:
        return [
            TopicPartition(topic, p)
            for p in sorted(self._offsets.partitions_for_topic(topic) or ())
        ]

    async def measure(self) -> tuple[dict[TopicPartition, int], int]:
        """The lag of each partition the group reads, and the letters in its DLQ."""
        await self._start()
        await self._offsets.topics()  # refresh metadata: topics may have been created since
        read = [tp for topic in self.topics for tp in self._partitions(topic)]
        ends = await self._offsets.end_offsets(read) if read else {}
        committed = await self._admin.list_consumer_group_offsets(self.group, partitions=read)
        lag = {}
        for tp in read:
            done = committed.get(tp)
            lag[tp] = max(ends[tp] - (done.offset if done and done.offset >= 0 else 0), 0)
        dlq = self._partitions(self.dlq_topic)
        letters = 0
        if dlq:
            first = await self._offsets.beginning_offsets(dlq)
            last = await self._offsets.end_offsets(dlq)
            letters = sum(last[tp] - first[tp] for tp in dlq)
        return lag, letters

    async def publish(self) -> None:
        """One round: measure and set the gauges."""
        lag, letters = await self.measure()
        for tp, behind in lag.items():
            CONSUMER_LAG.labels(self.group, tp.topic, str(tp.partition)).set(behind)
        DLQ_MESSAGES.labels(self.dlq_topic).set(letters)
