from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Boolean, DateTime, Integer, String, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class CampaignSnapshot(Base):
    """What orders knows of a campaign, kept from campaign events (no cross-service reads)."""

    __tablename__ = "campaigns"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    title: Mapped[str] = mapped_column(String(100))
    price_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    min_orders: Mapped[int] = mapped_column(Integer)
    deadline: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20))
    last_buyer_number: Mapped[int] = mapped_column(Integer, default=0)
    price_tiers: Mapped[list[dict[str, int]]] = mapped_column(
        JSONB, default=list, server_default="[]"
    )
    """Early-bird tiers (``[{up_to_buyer, price_cents}]``, from ``CampaignPublished``): an
    order's price is its buyer number's (``price_for_buyer``), fixed when the number is
    assigned (migration 0006)."""
    creator_id: Mapped[str | None] = mapped_column(String(255), default=None)
    """The campaign's creator (from ``CampaignPublished``), carried on ``OrderPlaced`` so
    payments can route the charge without having seen the publish (migration 0002)."""
    intake_closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """Set at the deadline by the closing job: no order and no cancel is accepted after it."""
    authorizing_at_close: Mapped[int | None] = mapped_column(Integer)
    """Orders still authorizing when intake closed: the tally waits for them."""
    tallied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """When ``OrdersTallied`` was emitted (once per campaign; migration 0004)."""
    ship_to_countries: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")
    """Where the goods ship (``CampaignPublished``); empty: a digital drop (migration 0007)."""
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """When the campaign succeeded, failed or was cancelled: buyers' personal data is erased
    ``PII_RETENTION_DAYS`` after it (``fulfilment/jobs.py``)."""
    pii_erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """When its orders' personal data was erased (once)."""


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("campaign_id", "buyer_number"),
        UniqueConstraint("campaign_id", "idempotency_key"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True)
    campaign_id: Mapped[UUID] = mapped_column()
    """Indexed as the first column of both unique constraints (no index of its own: migration
    0008)."""
    buyer_number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    buyer_email: Mapped[str | None] = mapped_column(String(320))
    """None once erased (``pii_erased_at``)."""
    buyer_phone: Mapped[str | None] = mapped_column(String(20))
    sms_consent: Mapped[bool | None] = mapped_column(Boolean, default=False)
    """The buyer agreed to SMS; None: placed before migration 0007 (unknown)."""
    shipping_address: Mapped[dict[str, Any] | None] = mapped_column(JSONB, default=None)
    """The normalized shipping address (``fulfilment.domain``) of a shipping campaign's order."""
    pii_erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    payment_method_id: Mapped[str | None] = mapped_column(String(255))
    referral_code: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str | None] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    request_fingerprint: Mapped[str] = mapped_column(String(64))
    payment_intent_id: Mapped[str | None] = mapped_column(String(255))
    client_secret: Mapped[str | None] = mapped_column(String(255))
    failure_code: Mapped[str | None] = mapped_column(String(100))
    decline_code: Mapped[str | None] = mapped_column(String(100))
    cancel_reason: Mapped[str | None] = mapped_column(String(64))
    client_ip: Mapped[str | None] = mapped_column(String(45), default=None)
    """The buyer's address when placing it (migration 0005): declines count against it."""
    refunded_cents: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Refunded so far (sum of ``PaymentRefunded``, each refund once; migration 0004)."""
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class OrderRefund(Base):
    """One refund counted on an order (Stripe ``re_...``): a refund seen again, under another
    event id, is not counted twice (migration 0004)."""

    __tablename__ = "order_refunds"

    refund_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    order_id: Mapped[UUID] = mapped_column(index=True)
    amount_cents: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
