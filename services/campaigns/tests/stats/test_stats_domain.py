"""Stats rules without I/O: source labels and the breakdowns."""

import uuid
from datetime import UTC, datetime

import pytest
from campaigns.stats.domain import Cell, Hour, rate, source_label, summarise


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        (None, "direct"),
        ("", "direct"),
        ("storefront", "direct"),
        ("TikTok", "tiktok"),
        ("tt", "tiktok"),
        ("IG", "instagram"),
        ("insta", "instagram"),
        ("twitter", "x"),
        ("newsletter", "email"),
        ("spring-fair", "spring-fair"),
    ],
)
def test_source_labels(raw: str | None, label: str) -> None:
    assert source_label(raw) == label


def test_rates_are_unknown_before_the_first_of_the_whole() -> None:
    assert rate(0, 0) is None
    assert rate(1, 3) == 0.3333
    assert rate(2, 2) == 1.0


def test_summarise_by_code_and_by_source() -> None:
    cells = [
        Cell("ANNA", "tiktok", views=10, shares=1, orders=2, authorized=1),
        Cell("ANNA", "instagram", views=5, orders=1, authorized=1, cancelled=1),
        Cell("", "tiktok", views=4, orders=0),
        Cell("", "direct", views=1, orders=1, authorized=1),
    ]
    hour = Hour(datetime(2026, 12, 1, 17, tzinfo=UTC), 4, 3)
    stats = summarise(uuid.uuid4(), cells, [hour])
    total = stats.total
    assert (total.views, total.shares, total.orders, total.authorized_orders) == (20, 1, 4, 3)
    assert (total.cancelled_orders, total.conversion_rate, total.authorized_share) == (1, 0.2, 0.75)
    assert [(b.key, b.views, b.orders) for b in stats.by_referral_code] == [
        ("ANNA", 15, 3),
        (None, 5, 1),
    ]
    assert [(b.key, b.views, b.orders, b.authorized_share) for b in stats.by_source] == [
        ("tiktok", 14, 2, 0.5),  # most orders first, then most views
        ("instagram", 5, 1, 1.0),
        ("direct", 1, 1, 1.0),
    ]
    assert stats.orders_per_hour == [hour]
    empty = summarise(uuid.uuid4(), [], [])
    assert (empty.total.orders, empty.total.conversion_rate, empty.by_source) == (0, None, [])
