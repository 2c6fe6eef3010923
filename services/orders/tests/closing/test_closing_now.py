"""An operator closes a campaign's intake now (``python -m orders close-now``): its deadline
becomes now and the closing round closes and tallies it as at any deadline."""

import uuid

import pytest
from dropwave_runtime.db import Database
from dropwave_runtime.errors import Conflict, NotFound
from orders.closing.cli import close_now
from orders.closing.commands import CloseNow
from orders.settings import Settings

from ..conftest import AUTH, MakeCampaign
from .test_closing_tally import add_orders, snapshot, tallies


def settings(db_url: str) -> Settings:
    return Settings(
        database_url=db_url,
        kafka_bootstrap_servers="127.0.0.1:1",
        order_token_secret="x" * 32,
        **AUTH,
        close_max_wait_s=30,
    )


async def test_close_now_closes_and_tallies_a_campaign_before_its_deadline(
    db: Database, db_url: str, make_campaign: MakeCampaign
) -> None:
    campaign_id = await make_campaign()  # three days to go
    other = await make_campaign()
    await add_orders(db, campaign_id, "authorized", "authorized", "cancelled")
    before = (await snapshot(db, campaign_id)).deadline

    said = await close_now(db, settings(db_url), CloseNow(campaign_id))

    assert "tallied" in said
    row = await snapshot(db, campaign_id)
    assert row.deadline < before
    assert row.intake_closed_at is not None
    [tally] = await tallies(db)
    assert (tally.campaign_id, tally.standing_orders, tally.cancelled_orders) == (campaign_id, 2, 1)
    assert (await snapshot(db, other)).intake_closed_at is None  # only the one asked for


async def test_close_now_waits_for_authorizing_orders_like_any_deadline(
    db: Database, db_url: str, make_campaign: MakeCampaign
) -> None:
    campaign_id = await make_campaign()
    await add_orders(db, campaign_id, "authorized", "pending")
    said = await close_now(db, settings(db_url), CloseNow(campaign_id))
    assert "1 order(s) still authorizing" in said
    assert await tallies(db) == []


async def test_close_now_refuses_unknown_and_closed_campaigns(
    db: Database, db_url: str, make_campaign: MakeCampaign
) -> None:
    with pytest.raises(NotFound, match="knows no campaign"):
        await close_now(db, settings(db_url), CloseNow(uuid.uuid4()))
    campaign_id = await make_campaign()
    await close_now(db, settings(db_url), CloseNow(campaign_id))
    with pytest.raises(Conflict, match="already tallied"):
        await close_now(db, settings(db_url), CloseNow(campaign_id))
    assert len(await tallies(db)) == 1
