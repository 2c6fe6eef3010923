import base64
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from campaigns.activity.domain import (
    BadCursor,
    Cursor,
    TokenBucket,
    conversion_rate,
    message,
    months_ahead,
)


def raw_token(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def test_cursor_round_trips_and_is_opaque() -> None:
    at = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=timezone(timedelta(hours=2)))
    token = Cursor(at, 42).encode()
    assert "2031" not in token
    back = Cursor.decode(token)
    assert back == Cursor(at, 42)
    assert back.occurred_at.tzinfo is not None


@pytest.mark.parametrize(
    "token",
    [
        "",
        "!!!",
        "bm90IGEgY3Vyc29y",
        Cursor(datetime(2031, 1, 1, tzinfo=UTC), 1).encode()[:-3],
        "MjAzMS0wMS0wMVQwMDowMDowMHwx",
        "x" * 201,
        # Decoded nonsense that used to reach the database (500s): an id beyond bigint, a
        # date whose offset overflows, a date out of range, a non-decimal id.
        raw_token("2031-01-01T00:00:00+00:00|99999999999999999999"),
        raw_token(f"2031-01-01T00:00:00+00:00|{2**63}"),
        raw_token("9999-12-31T23:59:59-14:00|1"),
        raw_token("0001-01-01T00:00:00+14:00|1"),
        raw_token("1900-01-01T00:00:00+00:00|1"),
        raw_token("2031-01-01T00:00:00+00:00|+1"),
        raw_token("2031-01-01T00:00:00+00:00|\u0661"),
        raw_token("2031-01-01T00:00:00+00:00|0"),
    ],
)
def test_bad_cursors_are_rejected(token: str) -> None:
    # the 5th is "2031-01-01T00:00:00|1": a naive time is not one we hand out
    with pytest.raises(BadCursor):
        Cursor.decode(token)


def test_the_largest_bigint_id_is_a_cursor() -> None:
    at = datetime(2031, 1, 1, tzinfo=UTC)
    assert Cursor.decode(raw_token(f"{at.isoformat()}|{2**63 - 1}")) == Cursor(at, 2**63 - 1)


def test_months_ahead_cross_the_year() -> None:
    assert months_ahead(date(2030, 11, 30), 2) == [
        date(2030, 11, 1),
        date(2030, 12, 1),
        date(2031, 1, 1),
    ]


def test_conversion_rate() -> None:
    assert conversion_rate(3, 0) is None
    assert conversion_rate(1, 3) == 0.3333
    assert conversion_rate(0, 10) == 0.0


def test_messages_carry_buyer_numbers_only() -> None:
    assert message("buyer_joined", {"buyer_number": 24}) == "Buyer #24 joined"
    assert message("milestone_reached", {"percent": 50}) == "50% of the goal reached"
    assert message("something_new", {}) == "something new"
    assert message("buyer_joined", {}) == "buyer joined"


def test_token_bucket_allows_a_burst_then_refills() -> None:
    bucket = TokenBucket(rate=2.0, burst=3)
    assert [bucket.take("a", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = bucket.take("a", 0.0)
    assert wait == pytest.approx(0.5)
    assert TokenBucket.retry_after(wait) == 1
    assert bucket.take("b", 0.0) == 0.0  # another client has its own bucket
    assert bucket.take("a", 0.5) == 0.0  # refilled one token
    assert bucket.take("a", 0.5) > 0


def test_token_bucket_forgets_the_least_recent_clients() -> None:
    bucket = TokenBucket(rate=1.0, burst=1, max_keys=2)
    bucket.take("a", 0.0)
    bucket.take("b", 0.0)
    bucket.take("c", 0.0)
    assert bucket.take("c", 0.0) > 0  # still tracked
    assert bucket.take("a", 0.0) == 0.0  # forgotten: a full bucket again
