import uuid
from datetime import UTC, datetime, timedelta

import pytest
from dropwave_runtime.errors import Conflict
from orders import domain


def test_order_state_machine_never_goes_backwards() -> None:
    assert domain.can_move("pending", "authorized")
    assert domain.can_move("requires_action", "authorized")
    assert not domain.can_move("authorized", "pending")
    assert not domain.can_move("authorized", "failed")
    assert not domain.can_move("failed", "authorized")
    assert not domain.can_move("cancelled", "authorized")


def test_only_active_campaigns_before_deadline_take_orders() -> None:
    now = datetime.now(UTC)
    domain.check_open("active", now + timedelta(seconds=1), now)
    expected = {
        "draft": "campaign_not_published",
        "successful": "campaign_closed",
        "failed": "campaign_closed",
        "cancelled": "campaign_cancelled",
        "archived": "campaign_not_open",
    }
    for status, code in expected.items():
        with pytest.raises(Conflict) as exc:
            domain.check_open(status, now + timedelta(days=1), now)
        assert exc.value.code == code
    with pytest.raises(Conflict) as exc:
        domain.check_open("active", now, now)
    assert exc.value.code == "deadline_passed"


def test_fingerprint_tells_bodies_apart() -> None:
    a = domain.fingerprint("s", {"email": "a@b.co", "phone": None})
    assert a == domain.fingerprint("s", {"phone": None, "email": "a@b.co"})
    assert a != domain.fingerprint("s", {"email": "c@b.co", "phone": None})
    assert a != domain.fingerprint("t", {"email": "a@b.co", "phone": None})


def test_order_token_is_bound_to_order_and_secret() -> None:
    order_id = uuid.uuid4()
    token = domain.order_token("secret", order_id)
    assert domain.token_matches("secret", order_id, token)
    assert not domain.token_matches("other", order_id, token)
    assert not domain.token_matches("secret", uuid.uuid4(), token)
    # Any text is simply no match (non-ASCII used to raise TypeError: a 500).
    for junk in ("é", "\x00", "\ud800", token[:-1] + "é", ""):
        assert not domain.token_matches("secret", order_id, junk)


def test_buyers_cancel_only_open_orders_before_the_deadline() -> None:
    now = datetime.now(UTC)
    later = now + timedelta(hours=1)
    for status in ("pending", "requires_action", "authorized"):
        domain.check_cancellable(status, "active", later, now)
    for status in ("captured", "capture_failed", "cancelled", "failed", "refunded"):
        with pytest.raises(Conflict) as exc:
            domain.check_cancellable(status, "active", later, now)
        assert exc.value.code == "order_not_cancellable"
    with pytest.raises(Conflict) as exc:
        domain.check_cancellable("authorized", "active", now, now)
    assert exc.value.code == "deadline_passed"
    for campaign_status in ("successful", "failed", "cancelled"):
        with pytest.raises(Conflict) as exc:
            domain.check_cancellable("authorized", campaign_status, later, now)
        assert exc.value.code == "campaign_closed"


def test_buyer_numbers_follow_the_last_one_taken() -> None:
    assert list(domain.buyer_numbers(5, 3)) == [3, 4, 5]
    assert list(domain.buyer_numbers(1, 1)) == [1]


def test_refunds_covering_the_amount_make_the_order_refunded() -> None:
    assert domain.status_after_refunds("captured", 2500, 1000) == "captured"
    assert domain.status_after_refunds("captured", 2500, 2500) == "refunded"
    assert domain.status_after_refunds("capture_failed", 2500, 2600) == "refunded"
    assert domain.status_after_refunds("refunded", 2500, 2500) == "refunded"
    assert domain.status_after_refunds("authorized", 2500, 2500) == "authorized"
