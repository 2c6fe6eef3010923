"""Stats rules, free of I/O: what a source is called, and the rates.

``source`` comes from the client: the storefront sends the drop page's ``utm_source`` (or
``source``) query parameter, else the label of the site that linked to it (its ``Referer``,
``storefront/domain.py``), else nothing; an API client sends what it likes
(``[A-Za-z0-9_-]``, 1-64). Here it becomes a label: lower case, common spellings folded
(``ig`` and ``insta`` are ``instagram``, ``tt`` is ``tiktok``...), and no source at all (or
the storefront's old constant ``storefront``) is ``direct``.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from uuid import UUID

DIRECT: Final = "direct"

ALIASES: Final[Mapping[str, str]] = {
    "ig": "instagram",
    "insta": "instagram",
    "tt": "tiktok",
    "fb": "facebook",
    "meta": "facebook",
    "twitter": "x",
    "yt": "youtube",
    "mail": "email",
    "newsletter": "email",
    "storefront": DIRECT,
    "none": DIRECT,
}
"""Spellings of one source folded into its label; any other value is its own label."""


def source_label(raw: str | None) -> str:
    """The label a client's ``source`` is counted under."""
    value = (raw or "").strip().lower()
    if not value:
        return DIRECT
    return ALIASES.get(value, value)


def rate(part: int, whole: int) -> float | None:
    """``part / whole`` to four places; unknown (None) while ``whole`` is 0."""
    if whole <= 0:
        return None
    return round(part / whole, 4)


@dataclass
class Cell:
    """What one (referral code, source) pair brought: hits and orders."""

    referral_code: str
    source: str
    views: int = 0
    shares: int = 0
    orders: int = 0
    authorized: int = 0
    cancelled: int = 0


@dataclass(frozen=True)
class Hour:
    hour: datetime
    """The hour's start (UTC) the orders were placed in."""
    orders: int
    authorized: int


@dataclass(frozen=True)
class Breakdown:
    """The counts of one referral code, one source, or the whole campaign."""

    key: str | None
    views: int
    shares: int
    orders: int
    authorized_orders: int
    cancelled_orders: int
    conversion_rate: float | None
    """Orders placed per view."""
    authorized_share: float | None
    """Orders that reached authorized, per order placed."""


@dataclass(frozen=True)
class Stats:
    campaign_id: UUID
    total: Breakdown
    by_referral_code: list[Breakdown]
    by_source: list[Breakdown]
    orders_per_hour: list[Hour]


def _breakdown(key: str | None, cells: Iterable[Cell]) -> Breakdown:
    views = shares = orders = authorized = cancelled = 0
    for c in cells:
        views += c.views
        shares += c.shares
        orders += c.orders
        authorized += c.authorized
        cancelled += c.cancelled
    return Breakdown(
        key,
        views,
        shares,
        orders,
        authorized,
        cancelled,
        conversion_rate=rate(orders, views),
        authorized_share=rate(authorized, orders),
    )


def _grouped(cells: list[Cell], key: Callable[[Cell], str]) -> dict[str, list[Cell]]:
    groups: dict[str, list[Cell]] = {}
    for cell in cells:
        groups.setdefault(key(cell), []).append(cell)
    return groups


def _ranked(rows: Iterable[Breakdown]) -> list[Breakdown]:
    """Most orders first, then most views, then by name (stable for clients and tests)."""
    return sorted(rows, key=lambda b: (-b.orders, -b.views, b.key or ""))


def summarise(campaign_id: UUID, cells: list[Cell], hours: list[Hour]) -> Stats:
    """The whole, by referral code (None: came without one) and by source label."""
    by_code = _grouped(cells, lambda c: c.referral_code)
    by_source = _grouped(cells, lambda c: c.source)
    return Stats(
        campaign_id,
        _breakdown(None, cells),
        _ranked(_breakdown(code or None, group) for code, group in by_code.items()),
        _ranked(_breakdown(source, group) for source, group in by_source.items()),
        hours,
    )
