"""Activity feed, live notifications and counters against a real, migrated PostgreSQL."""

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import cast

import pytest
from campaigns import handlers
from campaigns.activity import store
from campaigns.activity.domain import Cursor
from campaigns.activity.handlers import on_campaign_tipped
from campaigns.activity.live import LiveHub
from campaigns.activity.models import increments_table
from dropwave_contracts.events import CampaignTipped, OrderConfirmed
from dropwave_contracts.topics import serialize, topic_for
from dropwave_runtime.consumer import EventConsumer, Handler, Record
from dropwave_runtime.db import Database
from sqlalchemy import select, text


async def new_campaign(db: Database, *, status: str = "active", min_orders: int = 5) -> uuid.UUID:
    """A campaign row through plain SQL (independent of the lifecycle code's ORM details)."""
    cid = uuid.uuid4()
    async with db.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO campaigns (id, creator_id, slug, title, description, price_cents,"
                " currency, min_orders, deadline, status, current_orders, milestones_reached)"
                " VALUES (:id, 'creator-1', :slug, 'Linen tote', '', 2500, 'usd', :min,"
                " :deadline, :status, 0, '{}')"
            ),
            {
                "id": cid,
                "slug": f"tote-{cid.hex[:8]}",
                "min": min_orders,
                "deadline": datetime.now(UTC) + timedelta(days=3),
                "status": status,
            },
        )
    return cid


async def add(db: Database, cid: uuid.UUID, n: int, at: datetime | None = None) -> None:
    async with db.unit_of_work() as uow:
        for i in range(n):
            await store.record(uow.session, cid, "buyer_joined", {"buyer_number": i + 1}, at)


async def where(db: Database, entry_id: int) -> str:
    async with db.engine.connect() as conn:
        name: str = (
            await conn.execute(
                text("SELECT tableoid::regclass::text FROM activity WHERE id = :i"), {"i": entry_id}
            )
        ).scalar_one()
    return name


async def test_migration_creates_this_and_next_months_and_a_default(db: Database) -> None:
    today = datetime.now(UTC).date()
    async with db.engine.connect() as conn:
        names = set(await store.partitions(conn))
    first = date(today.year, today.month, 1)
    expected = {f"activity_y{first:%Y}m{first:%m}", "activity_default"}
    assert expected <= names
    assert len(names) == 4  # this month, the next two, the default


async def test_partitions_across_a_month_boundary(db: Database) -> None:
    cid = await new_campaign(db)
    last_of_jan = datetime(2040, 1, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    first_of_feb = datetime(2040, 2, 1, tzinfo=UTC)
    async with db.unit_of_work() as uow:
        jan = await store.record(uow.session, cid, "buyer_joined", {"buyer_number": 1}, last_of_jan)
        feb = await store.record(
            uow.session, cid, "buyer_joined", {"buyer_number": 2}, first_of_feb
        )
    # No partition yet for 2040: the default partition took them, nothing failed.
    assert await where(db, jan.id) == "activity_default"

    async with db.engine.begin() as conn:
        created = await store.ensure_partitions(conn, date(2040, 1, 20), ahead=1)
    assert created == [date(2040, 1, 1), date(2040, 2, 1)]
    assert await where(db, jan.id) == "activity_y2040m01"  # moved out of the default
    assert await where(db, feb.id) == "activity_y2040m02"
    async with db.engine.begin() as conn:
        assert await store.ensure_partitions(conn, date(2040, 1, 20), ahead=1) == []

    # New rows route straight to their month; the feed reads across partitions.
    async with db.unit_of_work() as uow:
        later = await store.record(
            uow.session, cid, "buyer_joined", {"buyer_number": 3}, first_of_feb + timedelta(days=1)
        )
    assert await where(db, later.id) == "activity_y2040m02"
    async with db.sessions() as session:
        entries, nxt = await store.page(session, cid, None, 10)
    assert [e.id for e in entries] == [later.id, feb.id, jan.id]
    assert nxt is None


async def test_pages_newest_first_without_gaps_or_duplicates_under_inserts(db: Database) -> None:
    cid = await new_campaign(db)
    other = await new_campaign(db)
    await add(db, cid, 23)
    await add(db, other, 5)
    same = datetime.now(UTC) - timedelta(seconds=1)
    await add(db, cid, 4, at=same)  # ties on occurred_at: the id breaks them
    async with db.sessions() as session:
        everything, _ = await store.page(session, cid, None, 100)
    assert len(everything) == 27

    seen: list[store.Entry] = []
    cursor: Cursor | None = None
    while True:
        async with db.sessions() as session:
            entries, cursor = await store.page(session, cid, cursor, 10)
        seen += entries
        await add(db, cid, 2)  # newer entries keep arriving while the client pages down
        if cursor is None:
            break
    assert [e.id for e in seen] == [e.id for e in everything]
    keys = [(e.occurred_at, e.id) for e in seen]
    assert keys == sorted(keys, reverse=True)
    assert len(set(keys)) == len(keys)
    assert {e.campaign_id for e in seen} == {cid}


async def test_resume_reads_oldest_first_after_a_cursor(db: Database) -> None:
    cid = await new_campaign(db)
    await add(db, cid, 5)
    async with db.sessions() as session:
        entries, _ = await store.page(session, cid, None, 5)
        resumed = await store.after(session, cid, entries[2].cursor)
    assert [e.id for e in resumed] == [entries[1].id, entries[0].id]


async def test_notifications_reach_every_instance_only_on_commit(db: Database, db_url: str) -> None:
    cid = await new_campaign(db)
    other_instance = Database(db_url, "campaigns", pool_size=2)
    hubs = [LiveHub(queue_size=10), LiveHub(queue_size=10)]
    tasks = [
        asyncio.create_task(hubs[0].run(db)),
        asyncio.create_task(hubs[1].run(other_instance)),
    ]
    try:
        await asyncio.wait_for(asyncio.gather(*(h.listening.wait() for h in hubs)), timeout=10)
        subs = [sub for h in hubs if (sub := h.subscribe(str(cid))) is not None]
        assert len(subs) == 2

        async def rolled_back() -> None:
            async with db.unit_of_work() as uow:
                await store.record(uow.session, cid, "buyer_joined", {"buyer_number": 9})
                raise RuntimeError("roll back")

        with pytest.raises(RuntimeError):
            await rolled_back()
        await add(db, cid, 1)
        for sub in subs:
            message = await sub.get(5)
            assert message is not None
            assert message["type"] == "activity"
            assert message["data"]["message"] == "Buyer #1 joined"  # not #9: rolled back
            assert sub.queue.empty()
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await other_instance.dispose()


def test_a_slow_client_is_dropped_and_others_keep_going() -> None:
    hub = LiveHub(queue_size=3)
    slow, fast = hub.subscribe("c1"), hub.subscribe("c1")
    elsewhere = hub.subscribe("c2")
    assert slow
    assert fast
    assert elsewhere
    for i in range(5):
        hub.dispatch(f'{{"campaign_id":"c1","type":"counter","data":{{"n":{i}}}}}')
        assert fast.queue.get_nowait() == {"type": "counter", "data": {"n": i}}
    assert slow.dropped
    assert slow.queue.get_nowait() is None  # the stream ends instead of lagging
    assert not fast.dropped
    assert elsewhere.queue.empty()
    assert hub.clients == 2
    hub.dispatch("not json")  # ignored, never raises
    assert LiveHub(max_clients=1).subscribe("a") is not None


async def test_counters_append_then_roll_up_and_announce(db: Database) -> None:
    cid = await new_campaign(db)
    async with db.sessions() as session:
        slug = (
            await session.execute(text("SELECT slug FROM campaigns WHERE id = :i"), {"i": cid})
        ).scalar_one()
    for kind in ("view", "view", "view", "share"):
        async with db.unit_of_work() as uow:
            assert await store.count_hit(uow.session, slug, kind)
    async with db.unit_of_work() as uow:
        assert not await store.count_hit(uow.session, "no-such-drop", "view")
    draft = await new_campaign(db, status="draft")
    async with db.unit_of_work() as uow:
        draft_slug = f"tote-{draft.hex[:8]}"
        assert not await store.count_hit(uow.session, draft_slug, "view")

    async with db.sessions() as session:
        assert await store.stats(session, cid) == (3, 1)  # pending hits count already
    async with db.unit_of_work() as uow:
        assert await store.roll_up(uow.session) == [cid]
    async with db.sessions() as session:
        assert await store.stats(session, cid) == (3, 1)
        pending = (await session.execute(select(increments_table.c.id))).all()
        assert pending == []
    async with db.unit_of_work() as uow:
        assert await store.count_hit(uow.session, slug, "view")
        assert await store.roll_up(uow.session) == [cid]
    async with db.sessions() as session:
        assert await store.stats(session, cid) == (4, 1)


def consumer_record(event: OrderConfirmed | CampaignTipped) -> Record:
    return Record(topic_for(event).name, 0, 0, event.key.encode(), serialize(event), [])


async def test_order_and_campaign_events_write_the_feed_exactly_once(db: Database) -> None:
    cid = await new_campaign(db, min_orders=5)
    consumer = EventConsumer(
        "campaigns",
        db,
        {
            OrderConfirmed: cast(Handler, handlers.on_order_confirmed),
            CampaignTipped: cast(Handler, on_campaign_tipped),
        },
        sink=None,  # type: ignore[arg-type]  # nothing is dead-lettered here
    )
    confirmed = OrderConfirmed(
        producer="orders",
        correlation_id="c-1",
        campaign_id=cid,
        order_id=uuid.uuid4(),
        buyer_number=24,
        amount_cents=2500,
        currency="usd",
        buyer_email="secret-buyer@example.com",
        buyer_phone="+15555550123",
        campaign_title="Linen tote",
        campaign_min_orders=5,
        campaign_deadline=datetime.now(UTC) + timedelta(days=3),
    )
    tipped = CampaignTipped(
        producer="campaigns",
        correlation_id="c-1",
        campaign_id=cid,
        current_orders=5,
        min_orders=5,
        tipped_at=datetime.now(UTC),
    )
    for record in (consumer_record(confirmed), consumer_record(confirmed), consumer_record(tipped)):
        await consumer.handle(record)
        await consumer.handle(record)

    async with db.sessions() as session:
        entries, _ = await store.page(session, cid, None, 10)
    assert [(e.kind, e.data) for e in entries] == [
        ("tipped", {"current_orders": 5, "min_orders": 5}),
        ("buyer_joined", {"buyer_number": 24}),
    ]
    public = entries[1].public()
    assert public["message"] == "Buyer #24 joined"
    assert "secret-buyer" not in str(public)
    assert "5555" not in str(public)
