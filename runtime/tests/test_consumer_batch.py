"""Batch handling: different orders of one campaign side by side, everything else in order."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping

import pytest
from dropwave_contracts.envelope import Event
from dropwave_contracts.events import CampaignTipped, OrderCancelled
from dropwave_contracts.topics import serialize
from dropwave_runtime.consumer import EventConsumer, Record
from dropwave_runtime.db import Database, UnitOfWork

from tests.factories import event

pytestmark = pytest.mark.timeout(60)


class Sink:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.dead: list[bytes] = []

    async def dead_letter(
        self, topic: str, key: bytes | None, value: bytes, headers: Mapping[str, str]
    ) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        self.dead.append(value)


@pytest.fixture
async def db(plumbing_database: str) -> AsyncIterator[Database]:
    database = Database(plumbing_database, "campaigns", pool_size=20)
    yield database
    await database.dispose()


def cancelled(campaign_id: uuid.UUID, order_id: uuid.UUID) -> OrderCancelled:
    return event(OrderCancelled, campaign_id=campaign_id, order_id=order_id)


def tipped(campaign_id: uuid.UUID) -> CampaignTipped:
    return event(CampaignTipped, campaign_id=campaign_id)


def records(events: list[Event]) -> list[Record]:
    return [
        Record("t", 0, offset, e.key.encode(), serialize(e), []) for offset, e in enumerate(events)
    ]


class Timeline:
    """Records when each event's handler started and ended, and how many ran at once."""

    def __init__(self) -> None:
        self.spans: dict[uuid.UUID, tuple[int, int]] = {}
        self.clock = 0
        self.running = 0
        self.peak = 0

    async def handler(self, event: Event, uow: UnitOfWork) -> None:
        self.running += 1
        self.peak = max(self.peak, self.running)
        self.clock += 1
        start = self.clock
        await asyncio.sleep(0.05)
        self.clock += 1
        self.spans[event.event_id] = (start, self.clock)
        self.running -= 1

    def before(self, first: Event, second: Event) -> bool:
        return self.spans[first.event_id][1] < self.spans[second.event_id][0]

    def overlap(self, a: Event, b: Event) -> bool:
        return not (self.before(a, b) or self.before(b, a))


async def test_orders_run_side_by_side_one_order_and_campaign_events_in_order(
    db: Database,
) -> None:
    campaign = uuid.uuid4()
    order_a, order_b, order_c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    a1, b1, a2 = (cancelled(campaign, o) for o in (order_a, order_b, order_a))
    barrier = tipped(campaign)
    c1 = cancelled(campaign, order_c)
    other_campaign = tipped(uuid.uuid4())
    timeline = Timeline()
    handlers = {OrderCancelled: timeline.handler, CampaignTipped: timeline.handler}
    consumer = EventConsumer("campaigns", db, handlers, Sink())  # type: ignore[arg-type]

    await consumer.handle_batch(records([a1, b1, a2, barrier, c1, other_campaign]), 8)

    assert len(timeline.spans) == 6
    assert timeline.overlap(a1, b1)  # two orders: side by side
    assert timeline.before(a1, a2)  # one order: in order
    assert timeline.before(b1, barrier)  # a barrier waits for what came before
    assert timeline.before(a2, barrier)
    assert timeline.before(barrier, c1)  # and holds back what follows
    assert timeline.overlap(a1, other_campaign)  # another key: not held back


async def test_concurrency_is_bounded(db: Database) -> None:
    campaign = uuid.uuid4()
    timeline = Timeline()
    consumer = EventConsumer("campaigns", db, {OrderCancelled: timeline.handler}, Sink())  # type: ignore[dict-item]
    batch = [cancelled(campaign, uuid.uuid4()) for _ in range(12)]

    await consumer.handle_batch(records(batch), 3)

    assert len(timeline.spans) == 12
    assert timeline.peak == 3


async def test_a_failed_dead_letter_fails_the_batch_after_the_rest_is_handled(
    db: Database,
) -> None:
    campaign = uuid.uuid4()
    handled: list[uuid.UUID] = []

    async def handler(event: OrderCancelled, uow: UnitOfWork) -> None:
        if event.order_id == poisoned:
            raise ValueError("bad order")
        handled.append(event.order_id)

    poisoned = uuid.uuid4()
    healthy = [uuid.uuid4() for _ in range(3)]
    consumer = EventConsumer(
        "campaigns",
        db,
        {OrderCancelled: handler},  # type: ignore[dict-item]
        Sink(fail=True),
        max_attempts=2,
        backoff_base_s=0.01,
    )
    batch = [cancelled(campaign, o) for o in [poisoned, *healthy]]

    with pytest.raises(ConnectionError):
        await consumer.handle_batch(records(batch), 4)
    assert sorted(handled) == sorted(healthy)  # other orders were not held back


async def test_unparseable_record_is_dead_lettered_and_the_rest_handled(db: Database) -> None:
    campaign = uuid.uuid4()
    timeline = Timeline()
    sink = Sink()
    consumer = EventConsumer("campaigns", db, {OrderCancelled: timeline.handler}, sink)  # type: ignore[dict-item]
    good = cancelled(campaign, uuid.uuid4())
    batch = [Record("t", 0, 0, campaign.hex.encode(), b"{not json", []), *records([good])]
    batch[1] = Record("t", 0, 1, batch[1].key, batch[1].value, [])

    await consumer.handle_batch(batch, 4)

    assert sink.dead == [b"{not json"]
    assert list(timeline.spans) == [good.event_id]


async def test_an_event_type_newer_than_this_build_is_counted_not_dead_lettered(
    db: Database,
) -> None:
    """A new event type on a topic is a minor contract change: consumers built before it
    have no handler for it, so it is counted and passed over. An unknown *version* of a
    known type is different: it may matter, so it is dead-lettered."""
    import json

    from dropwave_runtime.metrics import EVENTS_CONSUMED

    campaign = uuid.uuid4()
    timeline = Timeline()
    sink = Sink()
    consumer = EventConsumer("campaigns", db, {OrderCancelled: timeline.handler}, sink)  # type: ignore[dict-item]
    good = cancelled(campaign, uuid.uuid4())
    wire = json.loads(serialize(good))
    newer_type = json.dumps({**wire, "event_type": "OrderGiftWrapped"}).encode()
    newer_version = json.dumps({**wire, "schema_version": 7}).encode()
    counted = EVENTS_CONSUMED.labels("campaigns", "OrderGiftWrapped", "unknown_type")
    before = counted._value.get()
    batch = [
        Record("t", 0, 0, campaign.bytes, newer_type, []),
        Record("t", 0, 1, campaign.bytes, newer_version, []),
        Record("t", 0, 2, campaign.bytes, serialize(good), []),
    ]

    await consumer.handle_batch(batch, 4)

    assert counted._value.get() == before + 1
    assert sink.dead == [newer_version]
    assert list(timeline.spans) == [good.event_id]
