import uuid
from datetime import UTC, datetime, timedelta

import pytest
from payments.domain import (
    AUTHORIZATION_DONE,
    TRANSITIONS,
    CardSaving,
    PaymentStatus,
    authorization_idempotency_key,
    can_transition,
    declined,
    outcome_of_intent_status,
    stripe_event_uuid,
    webhook_target,
)

S = PaymentStatus
DAY = 24 * 3600
CAPTURABLE = "payment_intent.amount_capturable_updated"


@pytest.mark.parametrize(
    ("intent_status", "expected"),
    [
        ("requires_capture", S.AUTHORIZED),
        ("succeeded", S.AUTHORIZED),
        ("requires_action", S.REQUIRES_ACTION),
        ("requires_payment_method", S.REQUIRES_ACTION),
        ("requires_confirmation", S.REQUIRES_ACTION),
        ("processing", S.REQUIRES_ACTION),
        ("canceled", S.FAILED),
    ],
)
def test_intent_status_maps_to_outcome(intent_status: str, expected: PaymentStatus) -> None:
    assert outcome_of_intent_status(intent_status) is expected


def test_decline_is_failed_with_codes() -> None:
    result = declined("pi_1", "card_declined", "insufficient_funds", "Your card has no funds.")
    assert result.status is S.FAILED
    assert result.payment_intent_id == "pi_1"
    assert (result.failure_code, result.decline_code) == ("card_declined", "insufficient_funds")
    assert result.message == "Your card has no funds."


def test_decline_without_details_gets_defaults() -> None:
    result = declined(None, None, None)
    assert result.failure_code == "card_declined"
    assert result.decline_code is None
    assert result.message


def test_idempotency_key_is_stable_per_order_and_short() -> None:
    order_id = uuid.uuid4()
    key = authorization_idempotency_key(order_id)
    assert key == authorization_idempotency_key(order_id)
    assert key != authorization_idempotency_key(uuid.uuid4())
    assert str(order_id) in key
    assert len(key) <= 255


def test_transitions_never_go_backwards() -> None:
    order = [S.PENDING, S.REQUIRES_ACTION, S.AUTHORIZED, S.CAPTURED, S.REFUNDED]
    for i, current in enumerate(order):
        for earlier in order[: i + 1]:
            assert not can_transition(current, earlier)
    for terminal in (S.FAILED, S.RELEASED, S.REFUNDED):
        assert TRANSITIONS[terminal] == frozenset()
    assert set(TRANSITIONS) == set(S)


def test_authorization_done_is_everything_but_pending() -> None:
    assert S.PENDING not in AUTHORIZATION_DONE
    assert {S.AUTHORIZED, S.REQUIRES_ACTION, S.FAILED} <= AUTHORIZATION_DONE


@pytest.mark.parametrize(
    ("event_type", "intent_status", "current", "expected"),
    [
        (CAPTURABLE, "requires_capture", S.REQUIRES_ACTION, S.AUTHORIZED),
        (CAPTURABLE, "requires_capture", S.PENDING, S.AUTHORIZED),
        (CAPTURABLE, "requires_capture", S.AUTHORIZED, None),
        # the object's status decides: `succeeded` on a still-capturable intent authorizes
        ("payment_intent.succeeded", "requires_capture", S.REQUIRES_ACTION, S.AUTHORIZED),
        ("payment_intent.succeeded", "requires_capture", S.AUTHORIZED, None),
        ("payment_intent.succeeded", "succeeded", S.AUTHORIZED, S.CAPTURED),
        ("payment_intent.succeeded", "succeeded", S.CAPTURED, None),
        ("payment_intent.payment_failed", "requires_payment_method", S.REQUIRES_ACTION, S.FAILED),
        ("payment_intent.payment_failed", "requires_payment_method", S.AUTHORIZED, None),
        ("payment_intent.canceled", "canceled", S.AUTHORIZED, S.RELEASED),
        ("payment_intent.canceled", "canceled", S.REQUIRES_ACTION, S.FAILED),
        ("payment_intent.canceled", "canceled", S.CAPTURED, None),
        ("payment_intent.canceled", "canceled", S.RELEASED, None),
        ("payment_intent.created", "requires_payment_method", S.PENDING, None),
        ("charge.refunded", "succeeded", S.CAPTURED, None),
    ],
)
def test_webhook_target(
    event_type: str, intent_status: str, current: PaymentStatus, expected: PaymentStatus | None
) -> None:
    assert webhook_target(event_type, intent_status, current) == expected


def test_stripe_event_uuid_is_deterministic() -> None:
    assert stripe_event_uuid("evt_1") == stripe_event_uuid("evt_1")
    assert stripe_event_uuid("evt_1") != stripe_event_uuid("evt_2")


def test_card_saved_only_when_the_campaign_can_outlive_the_hold() -> None:
    """Saved when deadline + settlement margin is later than now + the hold window; an
    unknown deadline (an older OrderPlaced) saves it as before."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    rule = CardSaving(hold_s=6 * DAY, settlement_margin_s=DAY)
    assert not rule.needed(now + timedelta(hours=2), now), "a short drop: PaymentIntent alone"
    assert not rule.needed(now + timedelta(seconds=5 * DAY), now), "exactly at the bound"
    assert rule.needed(now + timedelta(seconds=5 * DAY + 1), now)
    assert rule.needed(now + timedelta(days=30), now)
    assert rule.needed(None, now)
    assert not CardSaving(hold_s=6 * DAY, settlement_margin_s=0).needed(
        now + timedelta(seconds=6 * DAY), now
    )
