"""A tiered campaign that ships: in one group commit each order is checked for its address
and priced by its buyer number's tier; a refused address takes no number (the next buyer
gets the price it would have had), and the batch costs the same statements whatever its
size (no query per order)."""

import dataclasses
from collections.abc import Iterator

import pytest
from dropwave_runtime.db import Database
from dropwave_runtime.errors import Invalid
from orders.commands import PlaceOrder
from orders.handlers import Placed, place_orders
from sqlalchemy import event as sa_event

from ..conftest import MakeCampaign
from ..test_orders_intake import orders_of, place_order
from .test_fulfilment_routes import ADDRESS

TIERS = [{"up_to_buyer": 1, "price_cents": 2000}, {"up_to_buyer": 2, "price_cents": 2200}]
PRICE = 2500  # the snapshot's price_cents (conftest)


def shipped_to(address: dict[str, str] | None) -> PlaceOrder:
    return dataclasses.replace(place_order(), shipping=address)


@pytest.fixture
def statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        seen.append(statement)

    sa_event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    yield seen
    sa_event.remove(db.engine.sync_engine, "before_cursor_execute", count)


async def test_each_order_is_checked_for_its_address_and_priced_by_its_number(
    db: Database, make_campaign: MakeCampaign
) -> None:
    campaign_id = await make_campaign(price_tiers=TIERS, ship_to=["US"])
    commands = [
        shipped_to(ADDRESS),
        shipped_to({**ADDRESS, "country_code": "DE", "postal_code": "10115", "city": "Berlin"}),
        shipped_to(None),
        shipped_to({**ADDRESS, "postal_code": "90210"}),  # a California ZIP in Illinois
        shipped_to(ADDRESS),
        shipped_to(ADDRESS),
    ]
    async with db.unit_of_work() as uow:
        outcomes = await place_orders(commands, uow, campaign_id=campaign_id)
    refused = [o.code for o in outcomes if isinstance(o, Invalid)]
    assert refused == [
        "country_not_shipped",
        "shipping_address_required",
        "shipping_address_invalid",
    ]
    placed = [o.order for o in outcomes if isinstance(o, Placed)]
    assert [(o.buyer_number, o.amount_cents) for o in placed] == [(1, 2000), (2, 2200), (3, PRICE)]
    assert all(o.shipping_address and o.shipping_address["postal_code"] == "62701" for o in placed)
    stored = await orders_of(db, campaign_id)
    assert [(o.buyer_number, o.amount_cents, o.shipping_address) for o in stored] == [
        (o.buyer_number, o.amount_cents, o.shipping_address) for o in placed
    ]


async def test_a_batch_with_addresses_and_tiers_costs_the_same_statements_whatever_its_size(
    db: Database, make_campaign: MakeCampaign, statements: list[str]
) -> None:
    sizes = []
    for n in (1, 40):
        campaign_id = await make_campaign(price_tiers=TIERS, ship_to=["US"])
        commands = [shipped_to(ADDRESS) for _ in range(n)] + [shipped_to(None)]
        statements.clear()
        async with db.unit_of_work() as uow:
            outcomes = await place_orders(commands, uow, campaign_id=campaign_id)
        assert sum(isinstance(o, Placed) for o in outcomes) == n
        sizes.append(len(statements))
    assert sizes[0] == sizes[1]
