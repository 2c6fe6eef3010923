"""Publishing needs a creator who can receive payouts (payments' CreatorPayoutsUpdated),
unless the setting waives it: handlers and domain on a real, migrated PostgreSQL."""

from datetime import UTC, datetime, timedelta

import pytest
from campaigns import handlers
from campaigns.commands import CreateCampaign, PublishCampaign
from campaigns.models import Creator
from campaigns.settings import Settings
from dropwave_contracts.events import CreatorPayoutsUpdated
from dropwave_runtime.db import Database
from dropwave_runtime.errors import Conflict


def payouts(creator: str, enabled: bool, at: datetime) -> CreatorPayoutsUpdated:
    return CreatorPayoutsUpdated(
        producer="payments",
        correlation_id="evt_1",
        occurred_at=at,
        creator_id=creator,
        account_id="acct_1",
        charges_enabled=enabled,
        payouts_enabled=enabled,
        details_submitted=enabled,
    )


async def publish(db: Database, creator: str, require: bool) -> str:
    draft = CreateCampaign(
        creator_id=creator,
        title="Walnut desk organiser",
        price_cents=2500,
        currency="usd",
        min_orders=8,
        deadline=datetime.now(UTC) + timedelta(days=3),
    )
    async with db.unit_of_work() as uow:
        campaign = await handlers.create_campaign(
            draft, uow, now=datetime.now(UTC), min_duration_s=60
        )
    try:
        async with db.unit_of_work() as uow:
            published = await handlers.publish_campaign(
                PublishCampaign(campaign.id, creator),
                uow,
                now=datetime.now(UTC),
                min_duration_s=0,
                require_payouts=require,
            )
            return published.status
    except Conflict as exc:
        return exc.code


async def test_publish_waits_for_payouts_when_required(db: Database) -> None:
    now = datetime.now(UTC)
    assert await publish(db, "bob", require=True) == "payouts_not_enabled"
    assert await publish(db, "bob", require=False) == "active"  # dev: waived

    async with db.unit_of_work() as uow:
        await handlers.on_creator_payouts_updated(payouts("bob", True, now), uow)
    async with db.unit_of_work() as uow:  # a late, older "disabled" changes nothing
        await handlers.on_creator_payouts_updated(payouts("bob", False, now - timedelta(1)), uow)
    assert await publish(db, "bob", require=True) == "active"

    async with db.unit_of_work() as uow:  # Stripe disabled payouts later: publishing stops
        await handlers.on_creator_payouts_updated(payouts("bob", False, now + timedelta(1)), uow)
    assert await publish(db, "bob", require=True) == "payouts_not_enabled"


async def test_event_for_an_unknown_creator_creates_the_row(db: Database) -> None:
    async with db.unit_of_work() as uow:
        await handlers.on_creator_payouts_updated(payouts("carol", True, datetime.now(UTC)), uow)
    async with db.sessions() as s:
        creator = await s.get(Creator, "carol")
    assert creator is not None
    assert creator.payouts_enabled


def test_setting_defaults_to_required(monkeypatch: pytest.MonkeyPatch) -> None:
    values = {
        "database_url": "postgresql+asyncpg://u/d",
        "kafka_bootstrap_servers": "k:9",
        "auth_jwks_url": "https://issuer.test/jwks.json",
        "auth_issuer": "i",
        "auth_audience": "a",
    }
    assert Settings.model_validate(values).require_payouts_to_publish is True
    monkeypatch.setenv("REQUIRE_PAYOUTS_TO_PUBLISH", "false")
    assert Settings.model_validate(values).require_payouts_to_publish is False
