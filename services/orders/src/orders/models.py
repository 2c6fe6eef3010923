from datetime import datetime
from uuid import UUID

from sqlalchemy import DateTime, Integer, String, UniqueConstraint, func
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
    creator_id: Mapped[str | None] = mapped_column(String(255), default=None)
    """The campaign's creator (from ``CampaignPublished``), carried on ``OrderPlaced`` so
    payments can route the charge without having seen the publish (migration 0002)."""
    intake_closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """Set at the deadline by the closing job: no order and no cancel is accepted after it."""
    authorizing_at_close: Mapped[int | None] = mapped_column(Integer)
    """Orders still authorizing when intake closed: the tally waits for them."""
    tallied_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """When ``OrdersTallied`` was emitted (once per campaign; migration 0004)."""


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("campaign_id", "buyer_number"),
        UniqueConstraint("campaign_id", "idempotency_key"),
    )

    id: Mapped[UUID] = mapped_column(primary_key=True)
    campaign_id: Mapped[UUID] = mapped_column(index=True)
    buyer_number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    buyer_email: Mapped[str] = mapped_column(String(320))
    buyer_phone: Mapped[str | None] = mapped_column(String(20))
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
