"""Group-commit order intake on a real PostgreSQL: numbering, idempotency, failure isolation."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from dropwave_contracts.topics import parse_event
from dropwave_runtime.db import Database, outbox_table
from dropwave_runtime.errors import Conflict, Invalid
from orders import domain, handlers
from orders.commands import PlaceOrder
from orders.handlers import Placed
from orders.intake import OrderIntake
from orders.models import CampaignSnapshot, Order
from sqlalchemy import select, text

from .conftest import MakeCampaign


def place_order(
    key: str | None = None, email: str = "buyer@example.com", referral_code: str | None = None
) -> PlaceOrder:
    return PlaceOrder(
        idempotency_key=key or str(uuid.uuid4()),
        fingerprint=domain.fingerprint("s", {"email": email, "referral_code": referral_code}),
        email=email,
        phone=None,
        sms_consent=False,
        payment_method_id="pm_card_visa",
        referral_code=referral_code,
        source=None,
        correlation_id=str(uuid.uuid4()),
        trace_headers={"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"},
    )


async def orders_of(db: Database, campaign_id: uuid.UUID) -> list[Order]:
    async with db.sessions() as session:
        rows = await session.scalars(
            select(Order).where(Order.campaign_id == campaign_id).order_by(Order.buyer_number)
        )
        return list(rows)


async def test_a_rush_is_numbered_in_placement_order_in_few_transactions(
    db: Database, make_campaign: MakeCampaign
) -> None:
    campaign_id = await make_campaign()
    intake = OrderIntake(db)
    # gather starts the coroutines in order; each queues before yielding.
    placed = await asyncio.gather(*(intake.place(campaign_id, place_order()) for _ in range(300)))
    assert [p.order.buyer_number for p in placed] == list(range(1, 301))
    assert not any(p.replayed for p in placed)
    assert intake.batches < 300  # grouped, not one transaction per order
    stored = await orders_of(db, campaign_id)
    assert [o.buyer_number for o in stored] == list(range(1, 301))
    assert {o.id for o in stored} == {p.order.id for p in placed}
    async with db.sessions() as session:
        snapshot = await session.get(CampaignSnapshot, campaign_id)
        events = [parse_event(p) for p in await session.scalars(select(outbox_table.c.payload))]
    assert snapshot is not None
    assert snapshot.last_buyer_number == 300
    placed_events = {e.order_id: e for e in events if e.event_type == "OrderPlaced"}  # type: ignore[attr-defined]
    assert len(placed_events) == 300
    assert all(placed_events[p.order.id].buyer_number == p.order.buyer_number for p in placed)  # type: ignore[attr-defined]


async def test_two_instances_never_share_or_skip_a_number(
    db_url: str, db: Database, make_campaign: MakeCampaign
) -> None:
    campaign_id = await make_campaign()
    other_db = Database(db_url, "orders", pool_size=4)
    try:
        a, b = OrderIntake(db), OrderIntake(other_db)
        results = await asyncio.gather(
            asyncio.gather(*(a.place(campaign_id, place_order()) for _ in range(150))),
            asyncio.gather(*(b.place(campaign_id, place_order()) for _ in range(150))),
        )
    finally:
        await other_db.dispose()
    for placed in results:  # each instance: strictly increasing in its placement order
        numbers = [p.order.buyer_number for p in placed]
        assert numbers == sorted(numbers)
        assert len(set(numbers)) == len(numbers)
    everyone = sorted(p.order.buyer_number for placed in results for p in placed)
    assert everyone == list(range(1, 301))


async def test_concurrent_requests_with_one_key_make_one_order(
    db_url: str, db: Database, make_campaign: MakeCampaign
) -> None:
    campaign_id = await make_campaign()
    other_db = Database(db_url, "orders", pool_size=4)
    same = place_order(key="key-1")
    try:
        a, b = OrderIntake(db), OrderIntake(other_db)
        placed = await asyncio.gather(
            *(intake.place(campaign_id, same) for intake in (a, b) for _ in range(10))
        )
    finally:
        await other_db.dispose()
    assert len({p.order.id for p in placed}) == 1
    assert sum(not p.replayed for p in placed) == 1
    assert len(await orders_of(db, campaign_id)) == 1


async def test_same_key_with_another_body_is_refused_even_in_one_batch(
    db: Database, make_campaign: MakeCampaign
) -> None:
    campaign_id = await make_campaign()
    intake = OrderIntake(db)
    first, second, later = await asyncio.gather(
        intake.place(campaign_id, place_order(key="k")),
        intake.place(campaign_id, place_order(key="k", email="other@example.com")),
        intake.place(campaign_id, place_order(key="k")),
        return_exceptions=True,
    )
    assert isinstance(first, Placed)
    assert not first.replayed
    assert isinstance(second, Invalid)
    assert second.code == "idempotency_key_reused"
    assert isinstance(later, Placed)
    assert later.replayed
    assert later.order.id == first.order.id
    with pytest.raises(Invalid) as exc:
        await intake.place(campaign_id, place_order(key="k", email="third@example.com"))
    assert exc.value.code == "idempotency_key_reused"
    assert len(await orders_of(db, campaign_id)) == 1


async def test_one_bad_order_does_not_fail_its_batch(
    db: Database, make_campaign: MakeCampaign
) -> None:
    campaign_id = await make_campaign()
    intake = OrderIntake(db)
    # Too long for its column (an HTTP body could not carry it): the batch's INSERT fails.
    bad = place_order(referral_code="x" * 100)
    commands = [place_order() for _ in range(5)] + [bad] + [place_order() for _ in range(5)]
    results = await asyncio.gather(
        *(intake.place(campaign_id, c) for c in commands), return_exceptions=True
    )
    assert not isinstance(results[5], Placed)
    good = [r for i, r in enumerate(results) if i != 5]
    assert all(isinstance(r, Placed) for r in good)
    numbers = [r.order.buyer_number for r in good if isinstance(r, Placed)]
    assert numbers == sorted(numbers)
    assert len(set(numbers)) == 10
    assert len(await orders_of(db, campaign_id)) == 10
    async with db.sessions() as session:
        assert len((await session.execute(select(outbox_table.c.id))).all()) == 10


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("cancelled", "campaign_cancelled"),
        ("failed", "campaign_closed"),
        ("successful", "campaign_closed"),
    ],
)
async def test_closed_campaigns_refuse_new_orders_but_replay_old_ones(
    db: Database, make_campaign: MakeCampaign, status: str, code: str
) -> None:
    campaign_id = await make_campaign()
    intake = OrderIntake(db)
    kept = place_order(key="before-close")
    placed = await intake.place(campaign_id, kept)
    async with db.unit_of_work() as uow:
        snapshot = await uow.session.get(CampaignSnapshot, campaign_id)
        assert snapshot is not None
        snapshot.status = status
    with pytest.raises(Conflict) as exc:
        await intake.place(campaign_id, place_order())
    assert exc.value.code == code
    again = await intake.place(campaign_id, kept)
    assert again.replayed
    assert again.order.id == placed.order.id
    assert len(await orders_of(db, campaign_id)) == 1


async def test_past_the_deadline_orders_are_refused(
    db: Database, make_campaign: MakeCampaign
) -> None:
    campaign_id = await make_campaign(deadline=datetime.now(UTC) - timedelta(seconds=1))
    with pytest.raises(Conflict) as exc:
        await OrderIntake(db).place(campaign_id, place_order())
    assert exc.value.code == "deadline_passed"
    assert await orders_of(db, campaign_id) == []


def _plan_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(n for child in plan.get("Plans", ()) for n in _plan_nodes(child))]


async def test_a_batch_looks_up_its_keys_without_reading_the_whole_drop(
    db: Database, make_campaign: MakeCampaign
) -> None:
    """A viral drop outgrows PostgreSQL's statistics (here there are none: the table was never
    analyzed); the batch's lookup of its idempotency keys must still read one entry of the
    (campaign, key) unique index per key, not every order of the campaign."""
    campaign_id = await make_campaign()
    intake = OrderIntake(db)
    await asyncio.gather(*(intake.place(campaign_id, place_order(f"k{i}")) for i in range(2000)))
    keys = sorted([f"new-{i}" for i in range(199)] + ["k1234"])
    explain = text("EXPLAIN (ANALYZE, FORMAT JSON) " + handlers._PRIOR_ORDERS.text)
    async with db.sessions() as session:
        [[result]] = await session.execute(explain, {"keys": keys, "campaign_id": campaign_id})
    nodes = _plan_nodes(result[0]["Plan"])
    assert {n["Index Name"] for n in nodes if "Index Name" in n} == {
        "orders_campaign_id_idempotency_key_key"
    }
    assert sum(n.get("Rows Removed by Filter", 0) for n in nodes) == 0
    assert result[0]["Plan"]["Actual Rows"] == 1  # k1234 found, once
