"""Event models on the wire: round trips, old payloads, envelope rules."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from dropwave_contracts import (
    ALL_EVENTS,
    EVENT_TYPES,
    CampaignCancelled,
    CampaignCreated,
    CampaignFailed,
    CampaignMilestoneReached,
    CampaignPublished,
    CampaignStretchGoalReached,
    CampaignSucceeded,
    CampaignTipped,
    CampaignUpdated,
    CreatorEvent,
    CreatorPayoutsUpdated,
    CreatorSettingsChanged,
    Event,
    NotificationSent,
    OrderCancelled,
    OrderConfirmed,
    OrderPlaced,
    OrdersTallied,
    PaymentActionRequired,
    PaymentAuthorized,
    PaymentCaptured,
    PaymentCaptureFailed,
    PaymentFailed,
    PaymentRefunded,
    PaymentReleased,
    PaymentReminderIssued,
    PriceTier,
    UnknownEventType,
    UnsupportedSchemaVersion,
    event_type_of,
    follow,
    parse_event,
    price_for_buyer,
    price_outlook,
    serialize,
)
from pydantic import ValidationError

FIXTURES_V1 = Path(__file__).parent / "fixtures" / "v1"

CAMPAIGN = UUID("7d1f5b0e-3c1a-4a5e-9f2b-2f6f0c1d9a10")
ORDER = uuid4()
NOW = datetime(2025, 3, 2, 10, 15, tzinfo=UTC)
DEADLINE = NOW + timedelta(days=13)
CREATOR = "user_1"
ENVELOPE: dict[str, Any] = {"correlation_id": f"order-{ORDER}", "campaign_id": CAMPAIGN}


def _samples() -> list[Event]:
    pi = "pi_123"
    money: dict[str, Any] = {"amount_cents": 3500, "currency": "eur"}
    buyer: dict[str, Any] = {"buyer_email": "ada@example.com", "buyer_phone": "+4915112345678"}
    return [
        CampaignCreated(
            producer="campaigns",
            **ENVELOPE,
            creator_id="user_1",
            slug="mugs",
            title="Mugs",
            price_cents=3500,
            currency="eur",
            min_orders=40,
            deadline=DEADLINE,
        ),
        CampaignPublished(
            producer="campaigns",
            **ENVELOPE,
            creator_id="user_1",
            slug="mugs",
            title="Mugs",
            price_cents=3500,
            currency="eur",
            min_orders=40,
            deadline=DEADLINE,
            published_at=NOW,
        ),
        CampaignMilestoneReached(
            producer="campaigns", **ENVELOPE, percent=50, current_orders=20, min_orders=40
        ),
        CampaignTipped(
            producer="campaigns", **ENVELOPE, current_orders=40, min_orders=40, tipped_at=NOW
        ),
        CampaignStretchGoalReached(
            producer="campaigns",
            **ENVELOPE,
            goal_orders=60,
            message="Everyone gets the enamel pin",
            current_orders=60,
            reached_at=NOW,
        ),
        CampaignUpdated(producer="campaigns", **ENVELOPE, title="Limited vinyl, second run"),
        CampaignSucceeded(
            producer="campaigns", **ENVELOPE, confirmed_orders=41, min_orders=40, closed_at=NOW
        ),
        CampaignFailed(
            producer="campaigns", **ENVELOPE, confirmed_orders=0, min_orders=40, closed_at=NOW
        ),
        CampaignCancelled(producer="campaigns", **ENVELOPE, reason=None, cancelled_at=NOW),
        OrderPlaced(
            producer="orders",
            **ENVELOPE,
            order_id=ORDER,
            buyer_number=1,
            **money,
            **buyer,
            payment_method_id=None,
        ),
        OrderConfirmed(
            producer="orders",
            **ENVELOPE,
            order_id=ORDER,
            buyer_number=1,
            **money,
            **buyer,
            campaign_title="Mugs",
            campaign_min_orders=40,
            campaign_deadline=DEADLINE,
        ),
        OrderCancelled(
            producer="orders",
            **ENVELOPE,
            order_id=ORDER,
            buyer_number=1,
            reason="changed my mind",
            was_confirmed=False,
        ),
        OrdersTallied(
            producer="orders",
            **ENVELOPE,
            min_orders=40,
            standing_orders=41,
            placed_orders=45,
            cancelled_orders=2,
            failed_orders=1,
            authorizing_at_deadline=3,
            not_authorized_in_time=1,
            intake_closed_at=NOW,
        ),
        PaymentAuthorized(
            producer="payments",
            **ENVELOPE,
            order_id=ORDER,
            payment_intent_id=pi,
            **money,
            capture_before=NOW + timedelta(days=7),
        ),
        PaymentFailed(
            producer="payments",
            **ENVELOPE,
            order_id=ORDER,
            payment_intent_id=None,
            failure_code="card_declined",
            decline_code=None,
            message="Your card was declined.",
        ),
        PaymentActionRequired(
            producer="payments",
            **ENVELOPE,
            order_id=ORDER,
            payment_intent_id=pi,
            client_secret=f"{pi}_secret_x",
            next_action="use_stripe_sdk",
        ),
        PaymentCaptured(
            producer="payments",
            **ENVELOPE,
            order_id=ORDER,
            payment_intent_id=pi,
            **money,
            application_fee_cents=0,
        ),
        PaymentCaptureFailed(
            producer="payments",
            **ENVELOPE,
            order_id=ORDER,
            payment_intent_id=pi,
            failure_code=None,
            message="expired",
            pay_later_until=None,
        ),
        PaymentReleased(producer="payments", **ENVELOPE, order_id=ORDER, payment_intent_id=pi),
        PaymentRefunded(
            producer="payments",
            **ENVELOPE,
            order_id=ORDER,
            payment_intent_id=pi,
            refund_id="re_1",
            **money,
        ),
        PaymentReminderIssued(
            producer="payments",
            **ENVELOPE,
            order_id=ORDER,
            payment_intent_id=pi,
            client_secret=f"{pi}_secret_1",
            pay_later_until=DEADLINE,
            reminder_number=1,
            pay_token="1742662800.c2lnbmF0dXJl",
        ),
        CreatorPayoutsUpdated(
            producer="payments",
            correlation_id="evt_1",
            creator_id=CREATOR,
            account_id="acct_1",
            charges_enabled=True,
            payouts_enabled=False,
            details_submitted=True,
        ),
        CreatorSettingsChanged(
            producer="campaigns",
            correlation_id="req_1",
            creator_id=CREATOR,
            version=2,
            email="creator@example.com",
            phone="+15551234567",
            milestone_channels=["sms"],
        ),
        NotificationSent(
            producer="notifications",
            **ENVELOPE,
            notification_id=uuid4(),
            source_event_id=uuid4(),
            channel="sms",
            template="campaign_tipped",
            recipient_kind="creator",
        ),
    ]


SAMPLES = _samples()
ORDER_PLACED = next(e for e in SAMPLES if isinstance(e, OrderPlaced))


def test_samples_cover_every_event_class() -> None:
    assert sorted(type(e).__name__ for e in SAMPLES) == sorted(c.__name__ for c in ALL_EVENTS)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_round_trip(event: Event) -> None:
    raw = serialize(event)
    assert isinstance(raw, bytes)
    for wire in (raw, raw.decode("utf-8"), json.loads(raw)):
        parsed = parse_event(wire)
        assert type(parsed) is type(event)
        assert parsed == event


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_key_is_campaign_or_creator_id(event: Event) -> None:
    assert event.key == (CREATOR if isinstance(event, CreatorEvent) else str(CAMPAIGN))


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_ordering_key_is_the_order_or_else_the_partition_key(event: Event) -> None:
    order_id = getattr(event, "order_id", None)
    want = event.key if order_id is None else f"{event.key}/{order_id}"
    assert event.ordering_key == want


@pytest.mark.parametrize("event_cls", ALL_EVENTS, ids=lambda c: c.__name__)
def test_v1_fixture_parses(event_cls: type[Event]) -> None:
    path = FIXTURES_V1 / f"{event_type_of(event_cls)}.json"
    assert path.is_file(), f"write a hand-made v1 fixture {path.name}"
    raw = path.read_bytes()
    event = parse_event(raw)
    assert type(event) is event_cls
    sent = json.loads(raw)
    assert event.event_id == UUID(sent["event_id"])
    assert event.key == sent[event_cls.partition_key]
    # every field a v1 producer sent is read back; fields added since are optional ones
    read_back = json.loads(serialize(event))
    assert sent.keys() <= read_back.keys()
    for added in read_back.keys() - sent.keys():
        assert not event_cls.model_fields[added].is_required(), added


def test_every_fixture_is_a_known_event() -> None:
    for path in FIXTURES_V1.glob("*.json"):
        assert type(parse_event(path.read_text())).__name__ in EVENT_TYPES


def test_pay_token_is_optional_and_read_when_sent() -> None:
    """``pay_token`` (a minor change): v1 payloads without it read ``None``; a producer that
    sends it is read back."""
    old = parse_event((FIXTURES_V1 / "PaymentCaptureFailed.json").read_bytes())
    assert isinstance(old, PaymentCaptureFailed)
    assert old.pay_token is None
    new = parse_event((FIXTURES_V1 / "PaymentCaptureFailed.with-pay-token.json").read_bytes())
    assert isinstance(new, PaymentCaptureFailed)
    assert new.pay_token == "1742317200.q1vJ2lC8mRk0w6ZbUu3yVh9xT4nEo7sA5dGfHpLiKjM"
    assert new.client_secret is not None


def test_page_presentation_is_optional_and_read_when_sent() -> None:
    """``description``, ``images``, ``theme_accent``, ``custom_css`` (a minor change): a v1
    ``CampaignPublished`` without them reads ``None`` (``description is None`` tells an
    older event); a producer that sends them is read back."""
    old = parse_event((FIXTURES_V1 / "CampaignPublished.json").read_bytes())
    assert isinstance(old, CampaignPublished)
    assert (old.description, old.images, old.theme_accent, old.custom_css) == (None,) * 4
    new = parse_event((FIXTURES_V1 / "CampaignPublished.with-presentation.json").read_bytes())
    assert isinstance(new, CampaignPublished)
    assert new.description == "Six mugs.\nGlazed in blue."
    assert new.images == ["https://images.example/mug-1.jpg", "https://images.example/mug-2.jpg"]
    assert (new.theme_accent, new.custom_css) == ("#1a5fb4", ".user-content h1 { color: #1a5fb4 }")
    updated = CampaignUpdated(
        producer="campaigns", correlation_id="c", campaign_id=uuid4(), title="T", description=""
    )
    assert parse_event(serialize(updated)) == updated


def test_tiers_and_stretch_goals_are_optional_and_read_when_sent() -> None:
    """``price_tiers`` and ``stretch_goals`` (a minor change): a v1 ``CampaignPublished``
    without them reads empty lists; a producer that sends them is read back."""
    old = parse_event((FIXTURES_V1 / "CampaignPublished.json").read_bytes())
    assert isinstance(old, CampaignPublished)
    assert (old.price_tiers, old.stretch_goals) == ([], [])
    new = parse_event((FIXTURES_V1 / "CampaignPublished.with-tiers.json").read_bytes())
    assert isinstance(new, CampaignPublished)
    assert [(t.up_to_buyer, t.price_cents) for t in new.price_tiers] == [(50, 2000), (100, 2200)]
    assert [(g.orders, g.message) for g in new.stretch_goals] == [
        (60, "Everyone gets the enamel pin")
    ]
    assert parse_event(serialize(new)) == new


def test_price_for_buyer_is_the_tier_of_the_buyer_number() -> None:
    tiers = [PriceTier(up_to_buyer=2, price_cents=2000), PriceTier(up_to_buyer=4, price_cents=2200)]
    prices = [price_for_buyer(n, tiers, 2500) for n in range(1, 7)]
    assert prices == [2000, 2000, 2200, 2200, 2500, 2500]
    assert price_for_buyer(1, [], 2500) == 2500
    assert price_outlook(1, tiers, 2500) == (2000, 2, 2200)
    assert price_outlook(3, tiers, 2500) == (2200, 4, 2500)
    assert price_outlook(5, tiers, 2500) == (2500, None, None)


def test_unknown_fields_are_ignored() -> None:
    raw = (FIXTURES_V1 / "OrderPlaced.with-unknown-fields.json").read_bytes()
    event = parse_event(raw)
    assert isinstance(event, OrderPlaced)
    assert event.currency == "eur"  # readers normalise upper case codes
    assert event.causation_id is None  # may be left out
    assert event.payment_method_id is None
    unknown = {"tenant", "loyalty_tier", "gift_wrap"}
    # Still unknown: a field added under one of these names needs new ones here.
    assert not unknown & set(OrderPlaced.model_fields)
    assert unknown <= set(json.loads(raw))
    dumped = json.loads(serialize(event))
    assert not unknown & set(dumped)
    assert event.referral_code is None
    assert event.source is None


def test_unknown_event_type() -> None:
    payload = json.loads(serialize(SAMPLES[0])) | {"event_type": "CampaignExploded"}
    with pytest.raises(UnknownEventType, match="CampaignExploded") as info:
        parse_event(payload)
    assert isinstance(info.value, ValueError)
    assert info.value.event_type == "CampaignExploded"


def test_newer_schema_version_is_not_silently_accepted() -> None:
    payload = json.loads(serialize(SAMPLES[0])) | {"schema_version": 2}
    with pytest.raises(UnsupportedSchemaVersion, match="schema_version 2"):
        parse_event(payload)
    # a model validated directly also refuses a version it does not implement
    with pytest.raises(ValidationError):
        CampaignPublished.model_validate(payload)


@pytest.mark.parametrize(
    "field", ["event_id", "event_type", "schema_version", "occurred_at", "producer"]
)
def test_wire_envelope_fields_are_required(field: str) -> None:
    payload = json.loads(serialize(ORDER_PLACED))
    del payload[field]
    with pytest.raises(ValidationError, match=field):
        parse_event(payload)


@pytest.mark.parametrize(
    "change",
    [
        {"amount_cents": 0},
        {"amount_cents": -100},
        {"currency": "euro"},
        {"buyer_number": 0},
        {"order_id": "not-a-uuid"},
        {"occurred_at": "2025-03-02T10:15:00"},  # naive datetime
        {"correlation_id": ""},
        {"correlation_id": "x" * 129},
    ],
)
def test_bad_payloads_raise_validation_error(change: dict[str, Any]) -> None:
    payload = json.loads(serialize(ORDER_PLACED)) | change
    with pytest.raises(ValidationError):
        parse_event(json.dumps(payload))


@pytest.mark.parametrize("raw", [b"not json", b"[]", b'"OrderPlaced"', {}])
def test_garbage_raises_validation_error(raw: bytes | dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        parse_event(raw)


def test_events_are_frozen() -> None:
    with pytest.raises(ValidationError):
        SAMPLES[0].producer = "someone else"  # type: ignore[misc]


def test_envelope_defaults() -> None:
    a, b = _samples()[0], _samples()[0]
    assert a.event_id != b.event_id
    assert a.schema_version == 1
    assert a.event_type == "CampaignCreated"
    assert a.occurred_at.tzinfo is not None
    assert a.causation_id is None


def test_follow_copies_correlation_and_sets_causation() -> None:
    placed = ORDER_PLACED
    assert isinstance(placed, OrderPlaced)
    authorized = follow(
        placed,
        PaymentAuthorized,
        producer="payments",
        campaign_id=placed.campaign_id,
        order_id=placed.order_id,
        payment_intent_id="pi_9",
        amount_cents=placed.amount_cents,
        currency=placed.currency,
        capture_before=None,
    )
    assert isinstance(authorized, PaymentAuthorized)
    assert authorized.correlation_id == placed.correlation_id
    assert authorized.causation_id == str(placed.event_id)
    assert authorized.producer == "payments"
    assert authorized.event_id != placed.event_id

    released = PaymentReleased.caused_by(
        authorized,
        producer="payments",
        campaign_id=authorized.campaign_id,
        order_id=authorized.order_id,
        payment_intent_id=authorized.payment_intent_id,
    )
    assert released.correlation_id == placed.correlation_id
    assert released.causation_id == str(authorized.event_id)


def test_follow_refuses_to_override_correlation() -> None:
    with pytest.raises(TypeError, match="correlation_id"):
        follow(SAMPLES[0], CampaignTipped, producer="campaigns", correlation_id="other")
