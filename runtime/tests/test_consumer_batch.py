"""Batch handling: different orders of one campaign side by side, everything else in order;
runs of a ``Batched`` type in one unit of work."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping

import pytest
from dropwave_contracts.envelope import Event
from dropwave_contracts.events import CampaignTipped, OrderCancelled
from dropwave_contracts.topics import serialize
from dropwave_runtime.consumer import Batched, EventConsumer, Record
from dropwave_runtime.db import Database, UnitOfWork
from sqlalchemy import exc as sa_exc

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


class Runs:
    """A ``Batched`` handler that records each call's events (and can be told to fail)."""

    def __init__(self) -> None:
        self.calls: list[list[uuid.UUID]] = []
        self.poisoned: set[uuid.UUID] = set()
        self.outages = 0

    async def handler(self, events: list[OrderCancelled], uow: UnitOfWork) -> None:
        if self.outages:
            self.outages -= 1
            raise sa_exc.TimeoutError("pool")  # as when PostgreSQL does not answer
        if any(e.order_id in self.poisoned for e in events):
            raise ValueError("bad order")
        await asyncio.sleep(0.02)
        self.calls.append([e.event_id for e in events])


async def test_runs_of_a_batched_type_take_one_call_each_in_order_per_order(
    db: Database,
) -> None:
    campaign = uuid.uuid4()
    order_a, order_b, order_c, order_d = (uuid.uuid4() for _ in range(4))
    a1, b1, a2, c1 = (cancelled(campaign, o) for o in (order_a, order_b, order_a, order_c))
    barrier = tipped(campaign)
    d1 = cancelled(campaign, order_d)
    runs, timeline = Runs(), Timeline()
    consumer = EventConsumer(
        "campaigns",
        db,
        {OrderCancelled: Batched(runs.handler), CampaignTipped: timeline.handler},  # type: ignore[dict-item]
        Sink(),
    )

    await consumer.handle_batch(records([a1, b1, a2, c1, barrier, d1]), 8)

    # order a twice: its second event starts a new run, which waits for the first
    assert runs.calls == [[a1.event_id, b1.event_id], [a2.event_id, c1.event_id], [d1.event_id]]
    assert barrier.event_id in timeline.spans

    # Redelivered with a new one: the inbox keeps the run to what was not handled.
    e1 = cancelled(campaign, uuid.uuid4())
    await consumer.handle_batch(records([b1, e1]), 8)
    assert runs.calls[-1] == [e1.event_id]
    await consumer.handle_batch(records([a1, b1]), 8)
    assert len(runs.calls) == 4  # all seen: no call at all


async def test_events_without_a_handler_do_not_split_a_run(db: Database) -> None:
    campaign = uuid.uuid4()
    first, second = (cancelled(campaign, uuid.uuid4()) for _ in range(2))
    runs = Runs()
    consumer = EventConsumer("campaigns", db, {OrderCancelled: Batched(runs.handler)}, Sink())

    await consumer.handle_batch(records([first, tipped(campaign), second]), 8)

    assert runs.calls == [[first.event_id, second.event_id]]


async def test_a_failing_run_is_handled_one_event_at_a_time(db: Database) -> None:
    """One bad event does not take the run down with it: the run's transaction is rolled
    back and each event goes on its own, the bad one to the dead letters."""
    campaign = uuid.uuid4()
    good_1, bad, good_2 = (cancelled(campaign, uuid.uuid4()) for _ in range(3))
    runs, sink = Runs(), Sink()
    runs.poisoned.add(bad.order_id)
    consumer = EventConsumer(
        "campaigns",
        db,
        {OrderCancelled: Batched(runs.handler)},
        sink,
        max_attempts=2,
        backoff_base_s=0.01,
    )

    await consumer.handle_batch(records([good_1, bad, good_2]), 8)

    assert runs.calls == [[good_1.event_id], [good_2.event_id]]
    assert sink.dead == [serialize(bad)]
    again = Runs()  # the bug fixed
    consumer.handlers["OrderCancelled"] = Batched(again.handler)
    await consumer.handle_batch(records([good_1, bad, good_2]), 8)
    # The two handled were claimed; the dead-lettered one was not (a replay handles it).
    assert again.calls == [[bad.event_id]]


async def test_a_run_waits_out_a_database_outage_whole(db: Database) -> None:
    campaign = uuid.uuid4()
    batch = [cancelled(campaign, uuid.uuid4()) for _ in range(3)]
    runs, sink = Runs(), Sink()
    runs.outages = 2
    consumer = EventConsumer(
        "campaigns",
        db,
        {OrderCancelled: Batched(runs.handler)},
        sink,
        max_attempts=1,
        backoff_base_s=0.01,
    )

    await consumer.handle_batch(records(batch), 8)

    assert runs.calls == [[e.event_id for e in batch]]  # no attempt used up, no split
    assert sink.dead == []


async def test_each_calls_the_per_event_handler_in_turn_in_the_runs_unit_of_work(
    db: Database,
) -> None:
    """``Batched(handler, each=True)``: a per-event handler (one that decides per event:
    counting, tipping) sees the run's events in order, in one unit of work; a failing
    run goes one event at a time."""
    campaign = uuid.uuid4()
    batch = [cancelled(campaign, uuid.uuid4()) for _ in range(4)]
    seen: list[tuple[uuid.UUID, int]] = []
    bad: set[uuid.UUID] = set()

    async def handler(event: OrderCancelled, uow: UnitOfWork) -> None:
        if event.order_id in bad:
            raise ValueError("bad order")
        seen.append((event.event_id, id(uow)))

    sink = Sink()
    consumer = EventConsumer(
        "campaigns",
        db,
        {OrderCancelled: Batched(handler, each=True)},
        sink,
        max_attempts=1,
    )

    await consumer.handle_batch(records(batch), 8)

    assert [e for e, _ in seen] == [e.event_id for e in batch]
    assert len({u for _, u in seen}) == 1  # one unit of work for the run

    seen.clear()
    more = [cancelled(campaign, uuid.uuid4()) for _ in range(3)]
    bad.add(more[1].order_id)
    await consumer.handle_batch(records(more), 8)
    # The run got as far as the bad event (rolled back), then each went on its own.
    assert [e for e, _ in seen] == [more[0].event_id, more[0].event_id, more[2].event_id]
    assert len({u for _, u in seen}) == 3
    assert sink.dead == [serialize(more[1])]
