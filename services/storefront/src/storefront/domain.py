"""The storefront's pure rules: what a page says in which state, referral codes, the pages'
Content-Security-Policy. No I/O."""

import re
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from dropwave_contracts.events import PriceTier, price_outlook
from dropwave_runtime.inputs import is_slug

MAX_SLUG = 120
MAX_REF = 64
_REF = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ACCENT = re.compile(r"#[0-9a-fA-F]{6}")

STRIPE_JS_ORIGIN = "https://js.stripe.com"
STRIPE_API_ORIGIN = "https://api.stripe.com"
STRIPE_HOOKS_ORIGIN = "https://hooks.stripe.com"

Phase = Literal["open", "counting", "successful", "failed", "cancelled", "unpublished"]

# How long a browser or CDN may keep each kind of answer (ADR 0011):
CACHE_OPEN = "public, max-age=5, stale-while-revalidate=30"
"""A running drop: its count moves, a few seconds late is fine and absorbs a viral spike."""
CACHE_FINAL = "public, max-age=60"
"""Successful, failed (and cancelled, 410): final, but a minute so an operator's fix shows."""
CACHE_NOT_FOUND = "no-store"
"""Unknown or not yet published: a drop published this second must show at once."""


NO_REFERRER = "no-referrer"
"""The order and pay pages: their URL names an order, so no ``Referer`` leaves them at all
(their token is in the fragment, which a ``Referer`` never carries, but the id alone is
nobody else's business)."""


def order_id_or_none(value: str) -> str | None:
    """The order id of a path in its canonical spelling, or None when it is not a UUID (a
    404 without asking anyone)."""
    try:
        return str(uuid.UUID(value)) if len(value) == 36 else None
    except ValueError:
        return None


def slug_or_none(value: str) -> str | None:
    """The path's slug when it can be one (campaigns' pattern), else None (a 404 without a
    database query)."""
    return value if is_slug(value, MAX_SLUG) else None


def clean_ref(value: str | None) -> str:
    """A referral code as given when it is 1-64 of ``[A-Za-z0-9_-]``, else ``""`` (a mangled
    link still shows the page, without a referral)."""
    if value is None or _REF.fullmatch(value) is None:
        return ""
    return value


SOURCE_SITES: dict[str, str] = {
    "tiktok.com": "tiktok",
    "instagram.com": "instagram",
    "facebook.com": "facebook",
    "fb.com": "facebook",
    "fb.me": "facebook",
    "x.com": "x",
    "twitter.com": "x",
    "t.co": "x",
    "youtube.com": "youtube",
    "youtu.be": "youtube",
    "pinterest.com": "pinterest",
    "reddit.com": "reddit",
    "google.com": "search",
    "bing.com": "search",
    "duckduckgo.com": "search",
}
"""Sites (and their subdomains) whose links count under a source label in the creator's
stats; any other site is ``other``."""


def visitor_source(given: str | None, referer: str | None, own_host: str | None) -> str:
    """Where the visitor came from, for the creator's stats (campaigns folds spellings): the
    link's ``utm_source``/``source`` when it is 1-64 of ``[A-Za-z0-9_-]``; else the label of
    the site in the ``Referer`` (``SOURCE_SITES``, any other site ``other``); else ``""``
    (direct: typed, bookmarked, an app that sends no referrer, or our own pages)."""
    explicit = clean_ref(given)
    if explicit:
        return explicit
    try:
        host = (urlsplit(referer).hostname or "") if referer else ""
    except ValueError:
        return ""
    if not host or host == own_host:
        return ""
    for site, label in SOURCE_SITES.items():
        if host == site or host.endswith(f".{site}"):
            return label
    return "other"


def clean_accent(value: str | None) -> str | None:
    """The accent colour when it is ``#rrggbb`` (campaigns checks it too), else None."""
    return value if value is not None and _ACCENT.fullmatch(value) else None


def css_for_style_element(css: str) -> str:
    """CSS that cannot end its ``<style>`` element: campaigns' sanitizer already emits no
    ``<`` (it escapes the last ones as ``\\3c ``); the page does the same, whatever it got."""
    return css.replace("<", "\\3c ")


def phase(status: str | None, deadline: datetime | None, now: datetime) -> Phase:
    """What the page says: open for orders, past its deadline while the result is counted,
    its outcome, or nothing (not published)."""
    if status is None or deadline is None:
        return "unpublished"
    if status == "active":
        return "open" if now < deadline else "counting"
    if status in ("successful", "failed", "cancelled"):
        return status  # type: ignore[return-value]
    return "unpublished"


def status_code(p: Phase) -> int:
    return {"unpublished": 404, "cancelled": 410}.get(p, 200)


def cache_control(p: Phase) -> str:
    if p in ("open", "counting"):
        return CACHE_OPEN
    if p == "unpublished":
        return CACHE_NOT_FOUND
    return CACHE_FINAL


def progress(joined: int, min_orders: int) -> int:
    """The progress bar's value: joined, capped at the minimum (the bar is full once it
    tipped)."""
    return max(0, min(joined, min_orders))


@dataclass(frozen=True)
class Pricing:
    """The page's price: the next buyer's (``price_cents`` in minor units), and the tier
    ahead when there is one (``until_buyer`` pays it, ``next_cents`` after)."""

    price_cents: int
    until_buyer: int | None
    next_cents: int | None


def pricing(price_cents: int, tiers: Sequence[Mapping[str, int]], highest_buyer: int) -> Pricing:
    """The next buyer's price (after the highest buyer number confirmed) and the tier ahead."""
    parsed = [PriceTier.model_validate(t) for t in tiers]
    return Pricing(*price_outlook(highest_buyer + 1, parsed, price_cents))


@dataclass(frozen=True)
class GoalProgress:
    orders: int
    message: str
    reached: bool
    progress: int
    """The goal's bar: orders joined, capped at the goal."""


def stretch_goals(
    goals: Sequence[Mapping[str, Any]], reached: Collection[int], joined: int
) -> list[GoalProgress]:
    """Each goal with its progress; reached once campaigns announced it (a count that drops
    afterwards does not un-reach it)."""
    return [
        GoalProgress(
            g["orders"],
            g["message"],
            g["orders"] in reached,
            g["orders"] if g["orders"] in reached else max(0, min(joined, g["orders"])),
        )
        for g in goals
    ]


def origin(url: str) -> str:
    """``https://js.stripe.com/v3/`` -> ``https://js.stripe.com``."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass(frozen=True)
class PagePolicy:
    """The pages' Content-Security-Policy around a per-response nonce: scripts only by nonce
    and from Stripe.js's origin, styles from us or by nonce, Stripe's frames and API."""

    stripe_js_origin: str = STRIPE_JS_ORIGIN

    def header(self, nonce: str) -> str:
        stripe = self.stripe_js_origin
        # An emulator's Stripe.js (the dev stack) talks to its own origin, not Stripe's API.
        api = STRIPE_API_ORIGIN if stripe == STRIPE_JS_ORIGIN else f"{STRIPE_API_ORIGIN} {stripe}"
        return (
            "default-src 'self'; "
            f"script-src 'nonce-{nonce}' {stripe}; "
            f"style-src 'self' 'nonce-{nonce}'; "
            "img-src https: data:; "
            f"frame-src {stripe} {STRIPE_HOOKS_ORIGIN}; "
            f"connect-src 'self' {api}; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        )
