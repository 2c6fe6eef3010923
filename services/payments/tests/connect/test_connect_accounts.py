"""Connect: accounts' state from webhooks (newest wins), destination charges with the
platform fee, and the creator travelling with the order. Real PostgreSQL, the real SDK against
the emulator."""

import uuid

import httpx
from dropwave_contracts.events import (
    CreatorPayoutsUpdated,
)
from dropwave_devstack.stripe_emulator import LocalStripe
from dropwave_runtime.db import Database
from payments.connect.handlers import on_account_updated, on_campaign_published
from payments.stripe_gateway import StripeGateway

from ..conftest import (
    authorize,
    campaign_owner_of,
    events,
    onboarded_campaign,
    placed,
    published,
)


async def test_account_updates_newest_wins_and_emit_on_change(
    db: Database, gateway: StripeGateway
) -> None:
    state = await gateway.create_express_account("user_acct")
    base = {"id": state.account_id, "metadata": {"creator_id": "user_acct"}}
    enabled = base | {"charges_enabled": True, "payouts_enabled": True, "details_submitted": True}
    disabled = base | {"charges_enabled": True, "payouts_enabled": False}
    async with db.unit_of_work() as uow:
        first = await on_account_updated(uow, "evt_2", 200, enabled)
    async with db.unit_of_work() as uow:
        older = await on_account_updated(uow, "evt_1", 100, disabled)  # late, older: ignored
    async with db.unit_of_work() as uow:
        same = await on_account_updated(uow, "evt_3", 300, enabled)  # no change: no event
    async with db.unit_of_work() as uow:
        stranger = await on_account_updated(uow, "evt_4", 300, {"id": "acct_other"})
    assert first is not None
    assert (first.creator_id, first.payouts_enabled, first.key) == ("user_acct", True, "user_acct")
    assert (older, same, stranger) == (None, None, None)
    [emitted] = await events(db, CreatorPayoutsUpdated)
    assert emitted.account_id == state.account_id


async def test_destination_charge_with_platform_fee_and_saved_card(
    db: Database, gateway: StripeGateway, localstripe: LocalStripe
) -> None:
    campaign_id, _ = await onboarded_campaign(db, gateway, localstripe)
    row = await authorize(db, gateway, placed("pm_card_visa", campaign_id, 2500))
    assert row.status == "authorized"
    assert (row.application_fee_cents, row.destination_account is not None) == (125, True)
    assert row.customer_id is not None
    assert row.payment_method_id is not None
    assert row.capture_before is not None
    assert row.payment_intent_id is not None
    intent = await gateway.client.v1.payment_intents.retrieve_async(row.payment_intent_id)
    assert intent.transfer_data is not None
    assert intent.transfer_data.destination == row.destination_account
    assert intent.application_fee_amount == 125
    assert (intent.customer, intent.setup_future_usage) == (row.customer_id, "off_session")

    # A campaign whose creator has no enabled account: a plain platform charge.
    plain = await authorize(db, gateway, placed("pm_card_visa", uuid.uuid4()))
    assert (plain.destination_account, plain.application_fee_cents) == (None, None)


async def test_order_placed_before_campaign_published_is_still_a_destination_charge(
    db: Database, gateway: StripeGateway, localstripe: LocalStripe
) -> None:
    """The race: OrderPlaced (orders' topic) handled before the campaign's CampaignPublished
    (campaigns' topic). The creator comes with the order, so the charge goes to them."""
    campaign_id = uuid.uuid4()
    creator = f"user_{uuid.uuid4().hex[:8]}"
    state = await gateway.create_express_account(creator)
    async with httpx.AsyncClient() as http:
        account = (
            await http.get(f"{localstripe.api_base}/_config/accounts/{state.account_id}/onboard")
        ).json()
    async with db.unit_of_work() as uow:
        await on_account_updated(uow, f"evt_{uuid.uuid4().hex}", 100, account)

    row = await authorize(db, gateway, placed("pm_card_visa", campaign_id, 2500, creator))
    assert row.status == "authorized"
    assert (row.destination_account, row.application_fee_cents) == (state.account_id, 125)
    assert row.payment_intent_id is not None
    intent = await gateway.client.v1.payment_intents.retrieve_async(row.payment_intent_id)
    assert intent.transfer_data is not None
    assert intent.transfer_data.destination == state.account_id
    assert intent.application_fee_amount == 125
    async with db.sessions() as s:
        assert await campaign_owner_of(s, campaign_id) == creator  # owner may refund already

    async with db.unit_of_work() as uow:  # the publish arrives late: harmless
        await on_campaign_published(published(campaign_id, creator), uow)
    async with db.sessions() as s:
        assert await campaign_owner_of(s, campaign_id) == creator

    # An older OrderPlaced without the creator still falls back to the campaign's map.
    old = await authorize(db, gateway, placed("pm_card_visa", campaign_id, 2500))
    assert old.destination_account == state.account_id
