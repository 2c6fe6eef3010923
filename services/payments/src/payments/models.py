"""The payments service's tables, every feature's, on one metadata (migrations' ``env.py``
imports this module)."""

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, String, Uuid, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Payment(Base):
    """One order's payment: its PaymentIntent and where it stands (see domain.PaymentStatus)."""

    __tablename__ = "payments"

    order_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    campaign_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    payment_intent_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(32))
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    failure_code: Mapped[str | None] = mapped_column(String(255))
    decline_code: Mapped[str | None] = mapped_column(String(255))
    correlation_id: Mapped[str | None] = mapped_column(String(128))
    """The order flow's correlation id, carried onto events emitted from webhooks."""
    # Connect, saved card, refunds (migration 0003_connect_refunds).
    destination_account: Mapped[str | None] = mapped_column(String(255))
    application_fee_cents: Mapped[int | None] = mapped_column(Integer)
    customer_id: Mapped[str | None] = mapped_column(String(255))
    payment_method_id: Mapped[str | None] = mapped_column(String(255))
    capture_before: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    hold_expired: Mapped[bool] = mapped_column(default=False, server_default="false")
    """Stripe canceled the authorization when its window passed (not a release of ours)."""
    captured_cents: Mapped[int | None] = mapped_column(Integer)
    refunded_cents: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Durable authorization and cancels (migration 0004_authorize_queue).
    cancel_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """When the order's ``OrderCancelled`` was handled: from then on the payment is never
    captured; its ``release`` item releases whatever Stripe holds."""
    save_card: Mapped[bool] = mapped_column(default=True, server_default="true")
    """Authorize with the card saved on a Customer for an off-session charge: the campaign
    can outlive the authorization's hold (migration 0006; decided once, on ``OrderPlaced``)."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Settlement(Base):
    """A campaign's settlement (``capture``) or release run: started by the campaign's outcome,
    done when every item is; the summary (gross, fee, net, failures) is stored on completion."""

    __tablename__ = "settlements"

    campaign_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    correlation_id: Mapped[str] = mapped_column(String(128))
    causation_id: Mapped[str] = mapped_column(String(128))
    items: Mapped[int] = mapped_column(Integer, default=0)
    succeeded: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    currency: Mapped[str | None] = mapped_column(String(3))
    gross_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    fee_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    net_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    tally_event_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    """The ``OrdersTallied`` a capture run was decided on: its items are not claimed before
    that tally is recorded (``campaign_tallies``). ``None``: an outcome from before tallies."""


class SettlementItem(Base):
    """One Stripe call still to make (or made) for one order: the durable work queue of
    authorization (``authorize``), settlement (``capture``) and release (``release``),
    claimed with ``FOR UPDATE SKIP LOCKED``."""

    __tablename__ = "settlement_items"

    order_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    campaign_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    needed_by: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """When the item's answer is needed: an authorization's campaign deadline (where orders
    closes the tally). Lanes claim authorizations earliest first (migration 0009), so a drop
    closing soon is never queued behind another drop's backlog; none: after those that have
    one."""
    last_error: Mapped[str | None] = mapped_column(String(255))
    amount_cents: Mapped[int | None] = mapped_column(Integer)
    fee_cents: Mapped[int | None] = mapped_column(Integer)
    correlation_id: Mapped[str | None] = mapped_column(String(128))
    causation_id: Mapped[str | None] = mapped_column(String(128))
    """The event that queued an item outside a campaign's run (``OrderPlaced`` for
    ``authorize``, ``OrderCancelled`` for a buyer's ``release``); ``None``: the run's."""
    traceparent: Mapped[str | None] = mapped_column(String(55))
    """The trace context of the work that queued the item: the worker's attempt continues
    it (its Stripe call and the events it emits are in the order's trace)."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class AuthorizationAttempt(Base):
    """An order whose authorization was sent to Stripe at least once, committed *before* the
    call (on its own connection): an attempt that crashed, timed out or lost its answer may
    have left a PaymentIntent, so giving up or cancelling must look for it at Stripe. An
    order without a row was never sent: nothing to look for."""

    __tablename__ = "authorization_attempts"

    order_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    first_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class CampaignTally(Base):
    """Orders' closing tally of a campaign (``OrdersTallied``) as handled here: every
    ``OrderCancelled`` of the campaign was handled before it. A capture run decided on a
    tally waits for its row."""

    __tablename__ = "campaign_tallies"

    tally_event_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    campaign_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    standing_orders: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class RateLimit(Base):
    """A rate limiter shared by every instance (GCRA): the bucket's theoretical arrival time."""

    __tablename__ = "rate_limits"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    tat: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# --- Connect, refunds, pay-later (migration 0003_connect_refunds) -----------------------


class CreatorAccount(Base):
    """A creator's Stripe Connect Express account and its last known state (webhooks)."""

    __tablename__ = "creator_accounts"

    creator_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(255), unique=True)
    charges_enabled: Mapped[bool] = mapped_column(default=False)
    payouts_enabled: Mapped[bool] = mapped_column(default=False)
    details_submitted: Mapped[bool] = mapped_column(default=False)
    state_at: Mapped[int] = mapped_column(Integer, default=0)
    """``created`` of the Stripe event the state comes from: older events are ignored."""
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class CampaignCreator(Base):
    """Which creator owns a campaign (from ``CampaignPublished``): the destination of its
    charges and who may refund its orders."""

    __tablename__ = "campaign_creators"

    campaign_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    creator_id: Mapped[str] = mapped_column(String(255), index=True)


class Refund(Base):
    """One refund of a captured payment (Stripe ``re_...``)."""

    __tablename__ = "refunds"

    refund_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    order_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    amount_cents: Mapped[int] = mapped_column(Integer)
    requested_by: Mapped[str] = mapped_column(String(300))
    """``creator:<id>`` or ``operator`` (no personal data)."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PayLater(Base):
    """A buyer who must pay through a link after their capture failed at settlement."""

    __tablename__ = "pay_later"

    order_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    campaign_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    payment_intent_id: Mapped[str] = mapped_column(String(255))
    client_secret: Mapped[str] = mapped_column(String(255))
    until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="open")
    """``open`` (waiting for the buyer), ``paid`` or ``expired``."""
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    next_reminder_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    correlation_id: Mapped[str] = mapped_column(String(128))
