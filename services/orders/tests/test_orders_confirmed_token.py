"""OrderConfirmed carries the buyer's order token (what ``X-Order-Token`` takes), so the
confirmation mail can link to the order page; without the secret at hand it carries none."""

from dropwave_contracts.events import OrderConfirmed, PaymentAuthorized
from dropwave_contracts.topics import parse_event
from dropwave_runtime.db import Database, outbox_table
from orders import domain
from orders.handlers import on_campaign_published, on_payment_authorized, place_orders
from orders.settings import Settings
from sqlalchemy import select

from .conftest import AUTH
from .test_orders_creator_on_order_placed import publish_event
from .test_orders_intake import place_order

SECRET = "order-token-secret-0123456789abcdef"


async def test_the_confirmation_carries_the_order_token(db: Database) -> None:
    published = publish_event()
    campaign_id = published.campaign_id
    async with db.unit_of_work() as uow:
        await on_campaign_published(published, uow)
    async with db.unit_of_work() as uow:
        placed = await place_orders([place_order(), place_order()], uow, campaign_id=campaign_id)
    settings = Settings.model_validate(
        {
            "database_url": "postgresql+asyncpg://unused/unused",
            "kafka_bootstrap_servers": "127.0.0.1:1",
            "order_token_secret": SECRET,
            **AUTH,
        }
    )
    ids = []
    for n, outcome in enumerate(placed):
        assert not isinstance(outcome, Exception)
        ids.append(outcome.order.id)
        authorized = PaymentAuthorized.caused_by(
            published,
            producer="payments",
            campaign_id=campaign_id,
            order_id=outcome.order.id,
            payment_intent_id=f"pi_{n}",
            amount_cents=2500,
            currency="eur",
            capture_before=None,
        )
        async with db.unit_of_work() as uow:
            await on_payment_authorized(authorized, uow, settings if n == 0 else None)
    async with db.sessions() as session:
        events = [parse_event(p) for p in await session.scalars(select(outbox_table.c.payload))]
    tokens = {e.order_id: e.order_token for e in events if isinstance(e, OrderConfirmed)}
    assert tokens == {ids[0]: domain.order_token(SECRET, ids[0]), ids[1]: None}
    assert domain.token_matches(SECRET, ids[0], tokens[ids[0]] or "")
