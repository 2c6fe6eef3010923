import base64
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from campaigns import domain
from dropwave_runtime.errors import Conflict, Invalid


@pytest.mark.parametrize(
    ("reached", "current", "min_orders", "expected"),
    [
        ([], 0, 8, []),
        ([], 2, 8, [25]),
        ([], 8, 8, [25, 50, 75, 100]),
        ([25, 50], 6, 8, [75]),
        ([25, 50, 75, 100], 20, 8, []),
        ([], 1, 5, []),  # 20 % is below the first milestone
        ([], 3, 5, [25, 50]),  # 60 %
    ],
)
def test_milestones_are_crossed_once(
    reached: list[int], current: int, min_orders: int, expected: list[int]
) -> None:
    assert domain.milestones_crossed(reached, current, min_orders) == expected


def test_slugify() -> None:
    assert domain.slugify("Walnut Desk Organiser!") == "walnut-desk-organiser"
    assert domain.slugify("Café  déjà vu") == "cafe-deja-vu"
    assert domain.slugify("!!!") == "drop"


def test_publish_rules() -> None:
    now = datetime.now(UTC)
    domain.check_publishable("draft", now + timedelta(hours=2), now, 3600)
    with pytest.raises(Conflict) as exc:
        domain.check_publishable("active", now + timedelta(hours=2), now, 3600)
    assert exc.value.code == "not_draft"
    with pytest.raises(Conflict) as exc:
        domain.check_publishable("draft", now + timedelta(minutes=30), now, 3600)
    assert exc.value.code == "deadline_too_soon"


def test_deadline_must_be_future_and_min_duration_away() -> None:
    now = datetime.now(UTC)
    domain.check_deadline(now + timedelta(seconds=61), now, 60)
    domain.check_deadline(now + timedelta(seconds=1), now, 0)
    for deadline, min_s in (
        (now, 0),
        (now - timedelta(days=1), 0),
        (now + timedelta(30), 31 * 86400),
    ):
        with pytest.raises(Invalid) as exc:
            domain.check_deadline(deadline, now, min_s)
        assert exc.value.code == "deadline_too_soon"
    with pytest.raises(Conflict) as conflict:
        domain.check_publishable("draft", now, now, 0)  # a stale draft: a state conflict
    assert conflict.value.code == "deadline_too_soon"


@pytest.mark.parametrize(
    ("status", "changed", "code"),
    [
        ("draft", {"title", "price_cents", "deadline", "min_orders", "currency"}, None),
        ("active", {"title", "description", "images", "theme"}, None),
        ("active", {"title", "price_cents"}, "rules_locked"),
        ("active", {"deadline"}, "rules_locked"),
        ("successful", {"title"}, "campaign_closed"),
        ("failed", set(), "campaign_closed"),
        ("cancelled", {"theme"}, "campaign_closed"),
    ],
)
def test_edit_rules(status: str, changed: set[str], code: str | None) -> None:
    if code is None:
        domain.check_editable(status, changed)
        return
    with pytest.raises(Conflict) as exc:
        domain.check_editable(status, changed)
    assert exc.value.code == code


def test_cancel_rules_and_outcome() -> None:
    domain.check_cancellable("draft")
    domain.check_cancellable("active")
    for status in ("successful", "failed", "cancelled"):
        with pytest.raises(Conflict) as exc:
            domain.check_cancellable(status)
        assert exc.value.code == "not_cancellable"
    assert domain.outcome(5, 5) == "successful"
    assert domain.outcome(6, 5) == "successful"
    assert domain.outcome(4, 5) == "failed"
    assert domain.outcome(0, 5) == "failed"


def test_cursor_round_trip_and_garbage() -> None:
    stamp = datetime(2030, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)
    ident = uuid.uuid4()
    assert domain.decode_cursor(domain.encode_cursor(stamp, ident)) == (stamp, ident)
    for bad in ("", "!!!", "bm90LWEtY3Vyc29y", domain.encode_cursor(stamp, ident)[:-3], "é"):
        with pytest.raises(Invalid):
            domain.decode_cursor(bad)
    # Well-formed, but dates the database driver cannot take (these were 500s).
    for stamp_text in ("9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "1800-01-01Z"):
        nonsense = f"{stamp_text}|{ident}".encode()
        with pytest.raises(Invalid):
            domain.decode_cursor(base64.urlsafe_b64encode(nonsense).decode())


def test_three_decimal_currencies_take_prices_in_tens() -> None:
    domain.check_price(1234, "usd")
    domain.check_price(1230, "kwd")
    with pytest.raises(Invalid) as caught:
        domain.check_price(1234, "kwd")
    assert caught.value.code == "price_not_chargeable"
