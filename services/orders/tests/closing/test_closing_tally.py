"""The closing job on a real PostgreSQL (ADR 0007): at the deadline orders closes a
campaign's intake and publishes one closing tally once every order placed in time has its
outcome; a cancel or an order either lands before the tally or is refused, whatever the
interleaving; instances racing over the same campaigns tally each exactly once."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from dropwave_contracts.envelope import Event
from dropwave_contracts.events import OrderCancelled, OrdersTallied, PaymentAuthorized
from dropwave_contracts.topics import parse_event
from dropwave_runtime.db import Database, outbox_table
from dropwave_runtime.errors import Conflict
from orders import domain, handlers
from orders.closing.handlers import close_and_tally
from orders.commands import CancelOrder
from orders.intake import OrderIntake
from orders.models import CampaignSnapshot, Order
from sqlalchemy import insert, select

from ..conftest import MakeCampaign
from ..test_orders_intake import place_order

MAX_WAIT_S = 30.0


async def add_orders(db: Database, campaign_id: uuid.UUID, *statuses: str) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in statuses]
    rows = [
        {
            "id": order_id,
            "campaign_id": campaign_id,
            "buyer_number": n,
            "status": status,
            "amount_cents": 2500,
            "currency": "usd",
            "buyer_email": "buyer@example.com",
            "idempotency_key": order_id.hex,
            "request_fingerprint": "f" * 64,
        }
        for n, (order_id, status) in enumerate(zip(ids, statuses, strict=True), start=1)
    ]
    async with db.unit_of_work() as uow:
        await uow.session.execute(insert(Order), rows)
    return ids


async def events(db: Database) -> list[Event]:
    async with db.sessions() as s:
        payloads = await s.scalars(select(outbox_table.c.payload).order_by(outbox_table.c.id))
        return [parse_event(p) for p in payloads]


async def tallies(db: Database) -> list[OrdersTallied]:
    return [e for e in await events(db) if isinstance(e, OrdersTallied)]


async def close_round(db: Database, limit: int = 100) -> list[OrdersTallied]:
    async with db.unit_of_work() as uow:
        _, emitted = await close_and_tally(uow, limit, MAX_WAIT_S)
    return emitted


async def snapshot(db: Database, campaign_id: uuid.UUID) -> CampaignSnapshot:
    async with db.sessions() as s:
        row = await s.get(CampaignSnapshot, campaign_id)
    assert row is not None
    return row


def authorized(campaign_id: uuid.UUID, order_id: uuid.UUID) -> PaymentAuthorized:
    return PaymentAuthorized(
        producer="payments",
        correlation_id="c",
        campaign_id=campaign_id,
        order_id=order_id,
        payment_intent_id=f"pi_{order_id.hex[:8]}",
        amount_cents=2500,
        currency="usd",
        capture_before=None,
    )


def past(seconds: float = 1) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)


async def test_the_tally_counts_the_orders_that_stand(
    db: Database, make_campaign: MakeCampaign
) -> None:
    campaign_id = await make_campaign(deadline=past())
    await add_orders(db, campaign_id, "authorized", "authorized", "cancelled", "failed")
    future = await make_campaign()  # not due

    [tally] = await close_round(db)
    assert tally.campaign_id == campaign_id
    assert (tally.standing_orders, tally.placed_orders, tally.min_orders) == (2, 4, 5)
    assert (tally.cancelled_orders, tally.failed_orders) == (1, 1)
    assert (tally.authorizing_at_deadline, tally.not_authorized_in_time) == (0, 0)
    row = await snapshot(db, campaign_id)
    assert row.intake_closed_at is not None
    assert row.tallied_at is not None
    assert tally.intake_closed_at == row.intake_closed_at
    assert await close_round(db) == []  # once
    assert (await snapshot(db, future)).intake_closed_at is None


async def test_an_order_authorizing_at_the_deadline_is_waited_for_and_counted(
    db: Database, make_campaign: MakeCampaign
) -> None:
    """Four authorized before the deadline; the fifth was placed in time but its
    authorization arrives after it: the tally waits and counts 5."""
    campaign_id = await make_campaign(deadline=past())
    *_, late = await add_orders(db, campaign_id, *["authorized"] * 4, "pending")

    assert await close_round(db) == []  # intake closed, still waiting
    row = await snapshot(db, campaign_id)
    assert (row.intake_closed_at is not None, row.authorizing_at_close) == (True, 1)
    assert await close_round(db) == []  # nothing new: not taken again

    async with db.unit_of_work() as uow:
        await handlers.on_payment_authorized(authorized(campaign_id, late), uow)
    [tally] = await close_round(db)
    assert (tally.standing_orders, tally.authorizing_at_deadline) == (5, 1)
    assert tally.not_authorized_in_time == 0


async def test_orders_still_authorizing_after_the_max_wait_are_cancelled_before_the_tally(
    db: Database, make_campaign: MakeCampaign
) -> None:
    campaign_id = await make_campaign(deadline=past(MAX_WAIT_S + 1))
    ok, stuck, action = await add_orders(
        db, campaign_id, "authorized", "pending", "requires_action"
    )

    [tally] = await close_round(db)
    assert (tally.standing_orders, tally.not_authorized_in_time) == (1, 2)
    assert tally.cancelled_orders == 0  # none by a buyer
    async with db.sessions() as s:
        rows = {o.id: o for o in await s.scalars(select(Order))}
    assert rows[ok].status == "authorized"
    for order_id in (stuck, action):
        assert (rows[order_id].status, rows[order_id].cancel_reason) == (
            "cancelled",
            domain.NOT_AUTHORIZED_IN_TIME,
        )
    emitted = await events(db)
    cancels = [e for e in emitted if isinstance(e, OrderCancelled)]
    assert {c.order_id for c in cancels} == {stuck, action}
    assert all(c.reason == domain.NOT_AUTHORIZED_IN_TIME and not c.was_confirmed for c in cancels)
    assert isinstance(emitted[-1], OrdersTallied)  # after every order event of the campaign

    async with db.unit_of_work() as uow:  # too late: stays cancelled, nothing confirmed
        await handlers.on_payment_authorized(authorized(campaign_id, stuck), uow)
    assert len(await events(db)) == len(emitted)


async def test_no_order_and_no_cancel_once_intake_closed(
    db: Database, make_campaign: MakeCampaign
) -> None:
    campaign_id = await make_campaign(deadline=past())
    [order_id] = await add_orders(db, campaign_id, "authorized")
    await close_round(db)

    with pytest.raises(Conflict) as refused:
        async with db.unit_of_work() as uow:
            await handlers.cancel_order(CancelOrder(order_id), uow)
    assert refused.value.code == "deadline_passed"
    with pytest.raises(Conflict) as refused:
        await OrderIntake(db).place(campaign_id, place_order())
    assert refused.value.code == "deadline_passed"
    # the flag refuses even where a clock would not (another instance's clock may lag)
    ahead = datetime.now(UTC) + timedelta(hours=1)
    with pytest.raises(Conflict):
        domain.check_cancellable("authorized", "active", ahead, datetime.now(UTC), True)
    with pytest.raises(Conflict):
        domain.check_open("active", ahead, datetime.now(UTC), intake_closed=True)


@pytest.mark.timeout(30)
async def test_a_cancel_in_flight_at_the_deadline_is_left_out_of_the_tally(
    db: Database, make_campaign: MakeCampaign
) -> None:
    """The cancel is accepted just before the deadline and commits just after it: the
    closing round cannot take the campaign meanwhile (the cancel holds its row), so the
    tally that follows leaves the order out."""
    campaign_id = await make_campaign(deadline=datetime.now(UTC) + timedelta(seconds=0.5))
    *_, cancelled = await add_orders(db, campaign_id, *["authorized"] * 5)

    async with db.unit_of_work() as uow:
        await handlers.cancel_order(CancelOrder(cancelled), uow)  # the buyer's 200 on commit
        await asyncio.sleep(1.0)  # the deadline passes with the cancel uncommitted
        assert await close_round(db) == []  # skipped: the cancel holds the campaign
    [tally] = await close_round(db)
    assert (tally.standing_orders, tally.cancelled_orders) == (4, 1)


@pytest.mark.timeout(60)
async def test_racing_instances_tally_each_campaign_exactly_once(
    db: Database, db_url: str, make_campaign: MakeCampaign
) -> None:
    due = [await make_campaign(deadline=past()) for _ in range(30)]
    for k, campaign_id in enumerate(due):
        await add_orders(db, campaign_id, *["authorized"] * (k % 8), "cancelled")
    other = Database(db_url, "orders", pool_size=4)
    try:

        async def rounds(database: Database) -> list[OrdersTallied]:
            out: list[OrdersTallied] = []
            for _ in range(6):
                async with database.unit_of_work() as uow:
                    _, emitted = await close_and_tally(uow, 4, MAX_WAIT_S)
                out += emitted
            return out

        results = await asyncio.gather(rounds(db), rounds(other), rounds(db), rounds(other))
    finally:
        await other.dispose()
    emitted = [t for r in results for t in r]
    assert sorted(t.campaign_id for t in emitted) == sorted(due)
    stored = await tallies(db)
    assert sorted(t.campaign_id for t in stored) == sorted(due)  # each exactly once
    for k, campaign_id in enumerate(due):
        [t] = [t for t in stored if t.campaign_id == campaign_id]
        assert (t.standing_orders, t.cancelled_orders) == (k % 8, 1)
