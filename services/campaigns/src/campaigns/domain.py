"""Campaign rules, free of I/O. A broken rule raises a domain error
(``dropwave_runtime.errors``): ``Conflict`` when the state forbids it now, ``Invalid`` when
the input is wrong whatever the state; the routes decide what HTTP answers."""

import base64
import binascii
import itertools
import re
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from dropwave_contracts.events import PriceTier, price_outlook
from dropwave_runtime.errors import Conflict, Invalid, NotAllowed
from dropwave_runtime.inputs import utc_instant

from .currencies import THREE_DECIMAL

MILESTONES = (25, 50, 75, 100)
RULES_FIELDS = frozenset(
    {
        "price_cents",
        "currency",
        "min_orders",
        "deadline",
        "price_tiers",
        "stretch_goals",
        "ship_to_countries",
    }
)
"""What buyers commit to; frozen once the campaign is published."""
PRESENTATION_FIELDS = frozenset({"title", "description", "images", "theme"})
EDITABLE_STATUSES = frozenset({"draft", "active"})
CANCELLABLE_STATUSES = frozenset({"draft", "active"})


RESERVED_SLUGS = frozenset(
    {"api", "static", "healthz", "readyz", "metrics", "docs", "orders", "pay", "unsubscribe"}
)
"""First path segments the gateway and the storefront use themselves: a drop page at
``/<slug>`` can never be one of them."""


def check_slug_free_of_routes(slug: str) -> None:
    if slug in RESERVED_SLUGS:
        raise Invalid("slug_reserved", f"The slug {slug!r} is a path of the site itself.")


def slugify(title: str) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    return slug[:80] or "drop"


def deadline_ok(deadline: datetime, now: datetime, min_duration_s: int) -> bool:
    """In the future and at least the minimum campaign duration away."""
    return deadline > now and deadline >= now + timedelta(seconds=min_duration_s)


def check_deadline(deadline: datetime, now: datetime, min_duration_s: int) -> None:
    """On create and edit: a bad deadline is bad input."""
    if not deadline_ok(deadline, now, min_duration_s):
        raise Invalid(
            "deadline_too_soon",
            f"The deadline must be in the future and at least {min_duration_s}s away.",
        )


def check_price(price_cents: int, currency: str) -> None:
    """A price Stripe can charge: in a three-decimal currency, a multiple of 10."""
    if currency in THREE_DECIMAL and price_cents % 10:
        raise Invalid(
            "price_not_chargeable",
            f"Prices in {currency.upper()} must end in 0 (Stripe charges them in tens).",
        )


def check_tiers(tiers: Sequence[Mapping[str, int]], currency: str) -> None:
    """Early-bird tiers: strictly increasing buyer-number bounds, each price chargeable in
    the campaign's currency (``check_price``; the range is the schema's)."""
    bounds = [t["up_to_buyer"] for t in tiers]
    if any(b >= after for b, after in itertools.pairwise(bounds)):
        raise Invalid(
            "tiers_not_increasing",
            "Each tier's up_to_buyer must be higher than the one before it.",
        )
    for tier in tiers:
        check_price(tier["price_cents"], currency)


def check_stretch_goals(goals: Sequence[Mapping[str, Any]], min_orders: int) -> None:
    """Stretch goals: above the minimum, strictly increasing."""
    thresholds = [g["orders"] for g in goals]
    if any(t <= min_orders for t in thresholds):
        raise Invalid(
            "stretch_goal_not_above_minimum",
            f"Stretch goals must be above the minimum of {min_orders} orders.",
        )
    if any(t >= after for t, after in itertools.pairwise(thresholds)):
        raise Invalid(
            "stretch_goals_not_increasing",
            "Each stretch goal's orders must be higher than the one before it.",
        )


def stretch_goals_crossed(
    goals: Sequence[Mapping[str, Any]], reached: Collection[int], current: int
) -> list[Mapping[str, Any]]:
    """Stretch goals now reached and not announced before, lowest first."""
    return [g for g in goals if g["orders"] not in reached and current >= g["orders"]]


class Terms(Protocol):
    price_cents: int
    price_tiers: list[dict[str, int]]
    stretch_goals: list[dict[str, Any]]
    stretch_goals_reached: list[int]
    highest_buyer_number: int


def public_terms(campaign: Terms) -> dict[str, Any]:
    """The public view's price for the next buyer (after the highest buyer number confirmed)
    with the tier ahead, and each stretch goal with whether it was reached."""
    tiers = [PriceTier.model_validate(t) for t in campaign.price_tiers or []]
    price, until, after = price_outlook(
        (campaign.highest_buyer_number or 0) + 1, tiers, campaign.price_cents
    )
    reached = set(campaign.stretch_goals_reached or [])
    goals = [{**g, "reached": g["orders"] in reached} for g in campaign.stretch_goals or []]
    return {
        "current_price_cents": price,
        "current_price_until_buyer": until,
        "next_price_cents": after,
        "stretch_goals": goals,
    }


def check_publishable(status: str, deadline: datetime, now: datetime, min_duration_s: int) -> None:
    """On publish the deadline is checked again: a draft may have gone stale (a conflict)."""
    if status != "draft":
        raise Conflict("not_draft", f"Only a draft can be published (status is {status}).")
    if not deadline_ok(deadline, now, min_duration_s):
        raise Conflict(
            "deadline_too_soon",
            f"The deadline must be in the future and at least {min_duration_s}s away.",
        )


def check_payouts(payouts_enabled: bool, required: bool) -> None:
    """A campaign's money goes to its creator's Stripe account: no publishing before the
    creator can receive payouts (unless the setting waives it, e.g. in dev)."""
    if required and not payouts_enabled:
        raise Conflict(
            "payouts_not_enabled",
            "Finish the payout onboarding (POST /api/v1/creators/me/payouts/onboarding) "
            "before publishing.",
        )


def check_owner(owner_id: str, creator_id: str) -> None:
    """Only a campaign's creator may edit, publish or cancel it."""
    if owner_id != creator_id:
        raise NotAllowed("not_owner", "Only the campaign's creator may do this")


def check_editable(status: str, changed: Collection[str]) -> None:
    """Presentation fields while draft or active; rules fields only while draft."""
    if status not in EDITABLE_STATUSES:
        raise Conflict("campaign_closed", f"A {status} campaign cannot be edited.")
    locked = sorted(set(changed) & RULES_FIELDS)
    if locked and status != "draft":
        raise Conflict(
            "rules_locked",
            f"{', '.join(locked)} cannot change once the campaign is published.",
        )


def check_cancellable(status: str) -> None:
    if status not in CANCELLABLE_STATUSES:
        raise Conflict("not_cancellable", f"A {status} campaign cannot be cancelled.")


def outcome(confirmed_orders: int, min_orders: int) -> str:
    """The status a campaign closes with at its deadline."""
    return "successful" if confirmed_orders >= min_orders else "failed"


def encode_cursor(created_at: datetime, campaign_id: UUID) -> str:
    """An opaque keyset cursor: the (created_at, id) of the last item of a page."""
    raw = f"{created_at.isoformat()}|{campaign_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    """Raise Invalid for anything we did not hand out."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, _, ident = raw.partition("|")
        created_at = utc_instant(datetime.fromisoformat(stamp))  # aware, in range
        return created_at, UUID(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise Invalid("bad_cursor", "The cursor is invalid.") from exc


def milestones_crossed(reached: list[int], current: int, min_orders: int) -> list[int]:
    """Milestones (percent of min_orders) now reached and not announced before."""
    return [p for p in MILESTONES if p not in reached and current * 100 >= p * min_orders]
