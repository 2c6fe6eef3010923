"""Every DropWave event (schema version 1).

Events are campaign-scoped (keyed by ``campaign_id``) except the creator-scoped ones
(``CreatorEvent``, keyed by ``creator_id``). Money is in integer minor
units (cents) with a 3-letter lowercase ISO 4217 ``currency`` (Stripe's convention).
Datetimes are timezone-aware.

Validation here is deliberately loose: services validate user input against the
product rules; a wire model only rejects what no producer of ours can legitimately send.
Fields that are nullable in v1 have no default: producers must state them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from .envelope import CampaignEvent, CreatorEvent, Event

__all__ = [
    "ALL_EVENTS",
    "BuyerNumber",
    "CampaignCancelled",
    "CampaignCreated",
    "CampaignFailed",
    "CampaignMilestoneReached",
    "CampaignPublished",
    "CampaignStretchGoalReached",
    "CampaignSucceeded",
    "CampaignTipped",
    "CampaignUpdated",
    "Cents",
    "Count",
    "CreatorPayoutsUpdated",
    "CreatorSettingsChanged",
    "Currency",
    "MinOrders",
    "NonEmptyStr",
    "NonNegativeCents",
    "NotificationSent",
    "OrderCancelled",
    "OrderConfirmed",
    "OrderPlaced",
    "OrdersTallied",
    "PagePresentation",
    "PaymentActionRequired",
    "PaymentAuthorized",
    "PaymentCaptureFailed",
    "PaymentCaptured",
    "PaymentFailed",
    "PaymentRefunded",
    "PaymentReleased",
    "PaymentReminderIssued",
    "PriceTier",
    "StretchGoal",
    "price_for_buyer",
    "price_outlook",
]

Cents = Annotated[int, Field(gt=0)]
"""A positive amount in minor units (cents)."""
NonNegativeCents = Annotated[int, Field(ge=0)]
"""An amount in minor units that may be zero (e.g. a fee)."""
Currency = Annotated[str, StringConstraints(to_lower=True, pattern=r"^[A-Za-z]{3}$")]
"""ISO 4217 code, lowercase (``eur``). Readers also accept upper case and normalise it to
lowercase, so events built here always carry lowercase."""
Count = Annotated[int, Field(ge=0)]
"""A number of orders."""
MinOrders = Annotated[int, Field(ge=1)]
"""A campaign's minimum number of orders."""
BuyerNumber = Annotated[int, Field(ge=1)]
"""The buyer's rank in the campaign ("you're buyer #24"), from 1."""
NonEmptyStr = Annotated[str, StringConstraints(min_length=1)]


class PriceTier(BaseModel):
    """An early-bird tier: buyers numbered up to ``up_to_buyer`` (inclusive, after the
    previous tier's bound) pay ``price_cents``; buyers after the last tier pay the campaign's
    ``price_cents``. Tiers come in increasing ``up_to_buyer`` order (campaigns checks it)."""

    model_config = ConfigDict(frozen=True, extra="ignore", use_attribute_docstrings=True)

    up_to_buyer: BuyerNumber
    """The last buyer number that pays this price."""
    price_cents: Cents


class StretchGoal(BaseModel):
    """A threshold of confirmed orders above the minimum, with what reaching it brings."""

    model_config = ConfigDict(frozen=True, extra="ignore", use_attribute_docstrings=True)

    orders: Annotated[int, Field(ge=1)]
    """Confirmed orders that reach the goal."""
    message: NonEmptyStr
    """What it brings, in the creator's words (plain text, one line)."""


def price_for_buyer(buyer_number: int, tiers: Sequence[PriceTier], price_cents: int) -> int:
    """The price of ``buyer_number``: the first tier whose bound covers it, else the
    campaign's ``price_cents``. The one place the tiers' meaning is written down; campaigns,
    orders and the storefront all price with it."""
    for tier in tiers:
        if buyer_number <= tier.up_to_buyer:
            return tier.price_cents
    return price_cents


def price_outlook(
    buyer_number: int, tiers: Sequence[PriceTier], price_cents: int
) -> tuple[int, int | None, int | None]:
    """What a page says of the price for ``buyer_number``: that price, the last buyer number
    paying it and the price after it (both None once past every tier)."""
    price = price_for_buyer(buyer_number, tiers, price_cents)
    tier = next((t for t in tiers if buyer_number <= t.up_to_buyer), None)
    if tier is None:
        return price, None, None
    return price, tier.up_to_buyer, price_for_buyer(tier.up_to_buyer + 1, tiers, price_cents)


# --- campaigns.events.v1 (producer: campaigns) ------------------------------------------


class CampaignCreated(CampaignEvent):
    """A creator created a draft. Not public yet: orders learns its slug so an order on it
    is refused as "not published" (409) rather than "no such campaign". The draft's rules
    may still change; CampaignPublished carries the final ones. Emitted by campaigns;
    added in v1 as a minor change (a new event type)."""

    event_type: Literal["CampaignCreated"] = "CampaignCreated"
    schema_version: Literal[1] = 1

    creator_id: NonEmptyStr
    slug: NonEmptyStr
    title: NonEmptyStr
    price_cents: Cents
    currency: Currency
    min_orders: MinOrders
    deadline: AwareDatetime
    price_tiers: list[PriceTier] = Field(default_factory=list)
    """Early-bird tiers by buyer number (``price_cents`` after the last). Optional (added in
    v1 as a minor change): absent or empty, every buyer pays ``price_cents``."""


class PagePresentation(BaseModel):
    """What a campaign's public page shows beyond its rules, carried by ``CampaignPublished``
    and ``CampaignUpdated`` for consumers that keep a copy of the page (the storefront).

    Optional (added in v1 as a minor change): campaigns states all four on every publish
    and update (``""``, ``[]``, ``null``, ``""`` when empty); an older event lacks them all,
    which a reader tells by ``description is None``."""

    model_config = ConfigDict(frozen=True, extra="ignore", use_attribute_docstrings=True)

    description: str | None = None
    """The product's description (plain text; may hold LF and TAB)."""
    images: list[str] | None = None
    """The product's images: https URLs, in order."""
    theme_accent: str | None = None
    """The page's accent colour, ``#rrggbb``, or null for none."""
    custom_css: str | None = None
    """The creator's CSS exactly as campaigns stores it: sanitized (``campaigns/css.py``)
    and scoped under ``.user-content``, so it can go into a page as is."""


class CampaignPublished(CampaignEvent, PagePresentation):
    """A creator published a draft; the campaign is active. Emitted by campaigns."""

    event_type: Literal["CampaignPublished"] = "CampaignPublished"
    schema_version: Literal[1] = 1

    creator_id: NonEmptyStr
    """The creator's id (the OIDC subject)."""
    slug: NonEmptyStr
    title: NonEmptyStr
    price_cents: Cents
    currency: Currency
    min_orders: MinOrders
    deadline: AwareDatetime
    published_at: AwareDatetime
    creator_email: str | None = None
    """The creator's email (the token's ``email`` claim) for notifications, if known.
    Optional (added in v1 as a minor change): older events lack it."""
    price_tiers: list[PriceTier] = Field(default_factory=list)
    """Early-bird tiers by buyer number, final (rules never change once published): orders
    prices each buyer by them (``price_for_buyer``), fixed when the number is assigned.
    Optional (added in v1 as a minor change): absent or empty, every buyer pays
    ``price_cents``."""
    stretch_goals: list[StretchGoal] = Field(default_factory=list)
    """Thresholds above the minimum, in increasing ``orders``. Optional (added in v1 as a
    minor change): absent or empty, none."""
    ship_to_countries: list[str] | None = None
    """The countries the campaign ships its physical goods to (ISO 3166-1 alpha-2, upper
    case): orders then requires a shipping address in one of them on every order. Empty or
    absent: a digital drop, no address is asked for. A rule: fixed once published.
    Optional (added in v1 as a minor change): older events lack it (digital)."""


class CampaignUpdated(CampaignEvent, PagePresentation):
    """An active campaign's public details changed (the rules never do once published).
    Carries the current values (the title, and the whole page's presentation), so consumers
    keeping a copy (order emails, the storefront's pages) stay in step.
    Emitted by campaigns; added in v1 as a minor change (a new event type)."""

    event_type: Literal["CampaignUpdated"] = "CampaignUpdated"
    schema_version: Literal[1] = 1

    title: NonEmptyStr


class CampaignMilestoneReached(CampaignEvent):
    """Confirmed orders crossed 25/50/75/100 % of the minimum. Emitted by campaigns, once per
    milestone and campaign."""

    event_type: Literal["CampaignMilestoneReached"] = "CampaignMilestoneReached"
    schema_version: Literal[1] = 1

    percent: Literal[25, 50, 75, 100]
    current_orders: Count
    min_orders: MinOrders


class CampaignTipped(CampaignEvent):
    """Confirmed orders reached the minimum: the drop will happen if it holds until the
    deadline. Emitted by campaigns, once per campaign."""

    event_type: Literal["CampaignTipped"] = "CampaignTipped"
    schema_version: Literal[1] = 1

    current_orders: Count
    min_orders: MinOrders
    tipped_at: AwareDatetime


class CampaignStretchGoalReached(CampaignEvent):
    """Confirmed orders reached one of the campaign's stretch goals. Emitted by campaigns
    once per goal and campaign (where it counts confirmed orders, like ``CampaignTipped``);
    added in v1 as a minor change (a new event type)."""

    event_type: Literal["CampaignStretchGoalReached"] = "CampaignStretchGoalReached"
    schema_version: Literal[1] = 1

    goal_orders: Annotated[int, Field(ge=1)]
    """The goal's threshold (``StretchGoal.orders``)."""
    message: NonEmptyStr
    """The goal's message."""
    current_orders: Count
    reached_at: AwareDatetime
    """The latest confirmation counted when it was reached (like ``tipped_at``): the buyers
    confirmed by then are the ones it is announced to."""


class CampaignSucceeded(CampaignEvent):
    """The closing tally has at least ``min_orders`` standing orders: payments captures
    every standing authorization. Emitted by campaigns on orders' ``OrdersTallied``."""

    event_type: Literal["CampaignSucceeded"] = "CampaignSucceeded"
    schema_version: Literal[1] = 1

    confirmed_orders: Count
    """The tally's ``standing_orders``."""
    min_orders: MinOrders
    closed_at: AwareDatetime
    tally_event_id: UUID | None = None
    """The ``OrdersTallied`` the outcome was decided on: payments captures only once it has
    handled that tally (so every buyer cancel before it). Optional (added in v1 as a minor
    change): absent on outcomes decided before tallies existed."""


class CampaignFailed(CampaignEvent):
    """The closing tally is below the minimum: payments releases every authorization.
    Emitted by campaigns on orders' ``OrdersTallied``."""

    event_type: Literal["CampaignFailed"] = "CampaignFailed"
    schema_version: Literal[1] = 1

    confirmed_orders: Count
    """The tally's ``standing_orders``."""
    min_orders: MinOrders
    closed_at: AwareDatetime
    tally_event_id: UUID | None = None
    """The ``OrdersTallied`` the outcome was decided on. Optional (added in v1 as a minor
    change)."""


class CampaignCancelled(CampaignEvent):
    """The creator cancelled an active campaign: payments releases every authorization.
    Emitted by campaigns."""

    event_type: Literal["CampaignCancelled"] = "CampaignCancelled"
    schema_version: Literal[1] = 1

    reason: str | None
    cancelled_at: AwareDatetime


# --- orders.events.v1 (producer: orders) ------------------------------------------------


class OrderPlaced(CampaignEvent):
    """A buyer placed an order (buyer number assigned); payments authorizes it next.
    Emitted by orders."""

    event_type: Literal["OrderPlaced"] = "OrderPlaced"
    schema_version: Literal[1] = 1

    order_id: UUID
    buyer_number: BuyerNumber
    amount_cents: Cents
    currency: Currency
    buyer_email: NonEmptyStr
    buyer_phone: str | None
    """E.164 phone number for SMS, if the buyer gave one and agreed to SMS (orders states
    null without consent: nobody downstream may use it then)."""
    payment_method_id: str | None
    """Stripe PaymentMethod id (``pm_...``); ``None``: the client confirms with the
    ``client_secret`` itself."""
    sms_consent: bool = False
    """The buyer agreed to SMS about this order (only then is ``buyer_phone`` texted).
    Optional (added in v1 as a minor change): absent means no consent."""
    creator_id: str | None = None
    """The campaign's creator (the OIDC subject, from ``CampaignPublished``), so payments can
    route the charge to the creator's Connect account without having seen the campaign's
    ``CampaignPublished`` first. Optional (added in v1 as a minor change): absent on older
    events; payments then falls back to its campaign -> creator map."""
    referral_code: str | None = None
    """The referral code the buyer came with (``?ref=`` of the drop page), as given; for the
    creator's stats. Optional (added in v1 as a minor change): absent on older events."""
    source: str | None = None
    """Where the buyer came from (``tiktok``, ``instagram``, ``direct``...), as the client
    said it (``utm_source``/``source`` of the drop page, or its referrer's classification;
    README "Creator stats"); for the creator's stats. Optional (added in v1 as a minor
    change): absent on older events."""
    campaign_deadline: AwareDatetime | None = None
    """The campaign's deadline (from ``CampaignPublished``; it never changes once published),
    so payments knows at authorization time whether the campaign can outlive the card's
    authorization window and the card must be saved for an off-session charge. Optional
    (added in v1 as a minor change): absent on older events; payments then saves the card."""


class OrderConfirmed(CampaignEvent):
    """The order's payment is authorized: it counts towards the minimum. Emitted by orders.

    Carries the campaign facts notifications needs (event-carried state), so consumers need
    no lookup."""

    event_type: Literal["OrderConfirmed"] = "OrderConfirmed"
    schema_version: Literal[1] = 1

    order_id: UUID
    buyer_number: BuyerNumber
    amount_cents: Cents
    currency: Currency
    buyer_email: NonEmptyStr
    buyer_phone: str | None
    """As on ``OrderPlaced``: only with the buyer's SMS consent."""
    campaign_title: NonEmptyStr
    campaign_min_orders: MinOrders
    campaign_deadline: AwareDatetime
    order_token: str | None = None
    """The buyer's order token (orders' HMAC of the order id; what the API's
    ``X-Order-Token`` takes): notifications puts it in the confirmation mail's link to the
    order page, in the URL's fragment (``/orders/{id}#t=...``), never in a logged URL. A bearer
    credential for reading and cancelling this order: never log it. Opaque to consumers.
    Optional (added in v1 as a minor change): ``None`` on older events."""


class OrderCancelled(CampaignEvent):
    """The order was cancelled (by the buyer before the deadline, or after its payment
    failed). Emitted by orders."""

    event_type: Literal["OrderCancelled"] = "OrderCancelled"
    schema_version: Literal[1] = 1

    order_id: UUID
    buyer_number: BuyerNumber
    reason: str | None
    """``buyer_cancelled`` (before the deadline, with the order token) or
    ``not_authorized_in_time`` (still authorizing when the closing tally's wait ended)."""
    was_confirmed: bool
    """Whether the order had been confirmed (counted); campaigns decrements only then."""


class OrdersTallied(CampaignEvent):
    """The campaign's closing tally: orders' intake for it is over and every order placed in
    time has its outcome. Emitted by orders once per campaign that reached its deadline
    while active; added in v1 as a minor change (a new event type).

    From the deadline on, orders accepts no new order and no cancel for the campaign (the
    check and the tally take the same row lock, so a cancel answered 200 is never counted).
    Orders still authorizing at the deadline are waited for, at most ``CLOSE_MAX_WAIT_S``;
    those still open then are cancelled (``OrderCancelled`` with reason
    ``not_authorized_in_time``) and do not stand. The tally is keyed by ``campaign_id`` like
    every order event and emitted after all of them: a consumer handling it has handled
    every earlier order event of the campaign (campaigns decides the outcome from
    ``standing_orders`` alone; payments captures nothing before it)."""

    event_type: Literal["OrdersTallied"] = "OrdersTallied"
    schema_version: Literal[1] = 1

    min_orders: MinOrders
    standing_orders: Count
    """Orders that stand: authorized, not cancelled. The outcome is ``standing_orders >=
    min_orders``."""
    placed_orders: Count
    """Every order placed (buyer numbers taken)."""
    cancelled_orders: Count
    """Orders cancelled by their buyers before the deadline."""
    failed_orders: Count
    """Orders whose authorization failed (declined, or given up on)."""
    authorizing_at_deadline: Count
    """Orders still authorizing when intake closed: the tally waited for them."""
    not_authorized_in_time: Count
    """Of those, the ones still open when the wait ended: cancelled, not standing."""
    intake_closed_at: AwareDatetime
    """When orders stopped accepting orders and cancels (at or just after the deadline)."""


# --- payments.events.v1 (producer: payments) --------------------------------------------


class PaymentAuthorized(CampaignEvent):
    """The card was authorized (PaymentIntent ``requires_capture``), not charged.
    Emitted by payments."""

    event_type: Literal["PaymentAuthorized"] = "PaymentAuthorized"
    schema_version: Literal[1] = 1

    order_id: UUID
    payment_intent_id: NonEmptyStr
    amount_cents: Cents
    currency: Currency
    capture_before: AwareDatetime | None
    """When the authorization expires (Stripe's ``capture_before``), if known."""


class PaymentFailed(CampaignEvent):
    """The authorization failed (declined, error). Emitted by payments."""

    event_type: Literal["PaymentFailed"] = "PaymentFailed"
    schema_version: Literal[1] = 1

    order_id: UUID
    payment_intent_id: str | None
    """``None`` when the PaymentIntent could not even be created."""
    failure_code: str | None
    """Stripe error code, e.g. ``card_declined``."""
    decline_code: str | None
    """Stripe decline code, e.g. ``insufficient_funds``."""
    message: str
    """A message safe to show the buyer."""


class PaymentActionRequired(CampaignEvent):
    """The buyer must act (3-D Secure): the client finishes with ``client_secret``.
    Emitted by payments."""

    event_type: Literal["PaymentActionRequired"] = "PaymentActionRequired"
    schema_version: Literal[1] = 1

    order_id: UUID
    payment_intent_id: NonEmptyStr
    client_secret: NonEmptyStr
    next_action: str | None
    """Stripe's ``next_action.type``, e.g. ``use_stripe_sdk``."""


class PaymentCaptured(CampaignEvent):
    """The authorization was captured at settlement; the creator is paid through Connect.
    Emitted by payments."""

    event_type: Literal["PaymentCaptured"] = "PaymentCaptured"
    schema_version: Literal[1] = 1

    order_id: UUID
    payment_intent_id: NonEmptyStr
    amount_cents: Cents
    currency: Currency
    application_fee_cents: NonNegativeCents
    """The platform fee kept from the amount."""


class PaymentCaptureFailed(CampaignEvent):
    """Capture at settlement failed; the campaign stays successful and the buyer gets a
    pay-later link. Emitted by payments."""

    event_type: Literal["PaymentCaptureFailed"] = "PaymentCaptureFailed"
    schema_version: Literal[1] = 1

    order_id: UUID
    payment_intent_id: NonEmptyStr
    failure_code: str | None
    message: str
    pay_later_until: AwareDatetime | None
    """End of the grace period to pay through the link; ``None``: no link offered."""
    client_secret: str | None = None
    """The pay-later link's PaymentIntent ``client_secret`` (the client confirms with it);
    ``None``: no link offered."""
    pay_token: str | None = None
    """The signed, expiring token of the pay-later link (payments signs it over the order and
    ``pay_later_until``; ``GET /api/v1/payments/{order_id}/pay-later?token=...`` checks it):
    notifications puts it in the buyer's link. Opaque to consumers. Optional (added in v1 as
    a minor change): ``None`` on older events and when no link is offered."""


class PaymentReleased(CampaignEvent):
    """The authorization was released (campaign failed/cancelled, order cancelled).
    Emitted by payments."""

    event_type: Literal["PaymentReleased"] = "PaymentReleased"
    schema_version: Literal[1] = 1

    order_id: UUID
    payment_intent_id: NonEmptyStr


class PaymentRefunded(CampaignEvent):
    """A captured payment was refunded, fully or partly. Emitted by payments."""

    event_type: Literal["PaymentRefunded"] = "PaymentRefunded"
    schema_version: Literal[1] = 1

    order_id: UUID
    payment_intent_id: NonEmptyStr
    refund_id: NonEmptyStr
    amount_cents: Cents
    """The amount refunded by this refund."""
    currency: Currency


class PaymentReminderIssued(CampaignEvent):
    """A buyer whose capture failed has not paid through the pay-later link yet: remind
    them before the grace period ends. Emitted by payments, once per reminder."""

    event_type: Literal["PaymentReminderIssued"] = "PaymentReminderIssued"
    schema_version: Literal[1] = 1

    order_id: UUID
    payment_intent_id: NonEmptyStr
    client_secret: NonEmptyStr
    pay_later_until: AwareDatetime
    reminder_number: Annotated[int, Field(ge=1)]
    pay_token: str | None = None
    """The signed, expiring token of the pay-later link (payments signs it over the order and
    ``pay_later_until``; ``GET /api/v1/payments/{order_id}/pay-later?token=...`` checks it):
    notifications puts it in the buyer's link. Opaque to consumers. Optional (added in v1 as
    a minor change): ``None`` on older events and when no link is offered."""


# --- payments.accounts.v1 (producer: payments) ------------------------------------------


class CreatorPayoutsUpdated(CreatorEvent):
    """A creator's Stripe Connect account changed (from Stripe's ``account.updated``):
    whether it can take charges and receive payouts. Campaigns lets a creator publish
    only once ``payouts_enabled``. Emitted by payments, keyed by ``creator_id``."""

    event_type: Literal["CreatorPayoutsUpdated"] = "CreatorPayoutsUpdated"
    schema_version: Literal[1] = 1

    account_id: NonEmptyStr
    """The connected account (``acct_...``)."""
    charges_enabled: bool
    payouts_enabled: bool
    details_submitted: bool


# --- campaigns.creators.v1 (producer: campaigns) ----------------------------------------


class CreatorSettingsChanged(CreatorEvent):
    """A creator's contact data or milestone preference changed (the settings endpoint, or
    a new ``email`` claim in their token): notifications writes to the creator as it says
    from now on, for every campaign of theirs. Carries the whole current state, so the
    newest ``version`` alone is the truth. Emitted by campaigns, keyed by ``creator_id``;
    added in v1 as a minor change (a new event type on a new topic)."""

    event_type: Literal["CreatorSettingsChanged"] = "CreatorSettingsChanged"
    schema_version: Literal[1] = 1

    version: Annotated[int, Field(ge=1)]
    """Increases with every change of the creator's settings: a consumer keeps the highest
    it has seen and ignores older ones."""
    email: str | None
    """The creator's email, if known (contact data: never logged)."""
    phone: str | None
    """The creator's phone number for SMS, E.164 (``+15551234567``), if given."""
    milestone_channels: list[Literal["email", "sms"]]
    """How the creator hears about milestones (milestones, tipping, the outcome): email,
    SMS, both, or none (``[]``)."""


# --- notifications.events.v1 (producer: notifications) ----------------------------------


class NotificationSent(CampaignEvent):
    """A message was handed to the email/SMS provider. Emitted by notifications.

    Deliberately carries no personal data (no address, no content)."""

    event_type: Literal["NotificationSent"] = "NotificationSent"
    schema_version: Literal[1] = 1

    notification_id: UUID
    source_event_id: UUID
    """The event that triggered the message."""
    channel: Literal["email", "sms"]
    template: NonEmptyStr
    recipient_kind: Literal["buyer", "creator"]


ALL_EVENTS: tuple[type[Event], ...] = (
    CampaignCreated,
    CampaignPublished,
    CampaignUpdated,
    CampaignMilestoneReached,
    CampaignTipped,
    CampaignStretchGoalReached,
    CampaignSucceeded,
    CampaignFailed,
    CampaignCancelled,
    OrderPlaced,
    OrderConfirmed,
    OrderCancelled,
    OrdersTallied,
    PaymentAuthorized,
    PaymentFailed,
    PaymentActionRequired,
    PaymentCaptured,
    PaymentCaptureFailed,
    PaymentReleased,
    PaymentRefunded,
    PaymentReminderIssued,
    CreatorPayoutsUpdated,
    CreatorSettingsChanged,
    NotificationSent,
)
"""Every event class defined here, in declaration order."""
