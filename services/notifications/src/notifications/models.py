"""Tables owned by notifications (the outbox/inbox plumbing comes from the runtime).

``deliveries`` is the durable work queue: one row per message; no address, no content.
``buyers``, ``campaigns`` and ``creators`` are read models built from events (the only
place contact data lives); ``opt_outs`` keeps SHA-256 digests of addresses, not the addresses.
``rate_limits`` (migration 0003) is the runtime's shared provider limiter
(``dropwave_runtime.rate_limit``): one row per provider.
"""

import uuid
from datetime import datetime
from typing import Any, Final

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    Index,
    Integer,
    String,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

RECIPIENT_KINDS: Final = ("buyer", "creator")
CHANNELS: Final = ("email", "sms")
STATUSES: Final = ("pending", "sent", "failed", "skipped")

DELIVERY_UNIQUE: Final = "uq_deliveries_event_recipient_channel"


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    pass


class Delivery(Base):
    """One message to one recipient on one channel, caused by one event.

    ``UNIQUE(source_event_id, recipient_kind, recipient_ref, channel)`` makes a message
    exactly-once per (event, recipient, channel). ``recipient_ref`` is the order id for a
    buyer, the creator id for a creator. Workers claim ``pending`` rows whose
    ``next_attempt_at`` has come and whose lease (if any) has run out.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint(
            "source_event_id", "recipient_kind", "recipient_ref", "channel", name=DELIVERY_UNIQUE
        ),
        CheckConstraint(_in("recipient_kind", RECIPIENT_KINDS), name="ck_deliveries_recipient"),
        CheckConstraint(_in("channel", CHANNELS), name="ck_deliveries_channel"),
        CheckConstraint(_in("status", STATUSES), name="ck_deliveries_status"),
        Index(
            "ix_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_deliveries_provider_message_id", "provider_message_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    source_event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    campaign_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    recipient_kind: Mapped[str] = mapped_column(String(16))
    recipient_ref: Mapped[str] = mapped_column(String(255), server_default="")
    order_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    channel: Mapped[str] = mapped_column(String(16))
    template: Mapped[str] = mapped_column(String(100))
    context: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    correlation_id: Mapped[str] = mapped_column(String(128), server_default="")
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claimed_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    last_error: Mapped[str | None] = mapped_column(String(500))
    provider_message_id: Mapped[str | None] = mapped_column(String(128))
    provider_status: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Buyer(Base):
    """A buyer's contact for one order (from OrderPlaced / OrderConfirmed)."""

    __tablename__ = "buyers"

    order_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    campaign_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    buyer_number: Mapped[int] = mapped_column(Integer)
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    email: Mapped[str | None] = mapped_column(String(320))
    """None once erased (``retention.py``; migration 0006)."""
    phone: Mapped[str | None] = mapped_column(String(20))
    sms_consent: Mapped[bool] = mapped_column(Boolean, server_default="false")
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled: Mapped[bool] = mapped_column(Boolean, server_default="false")


class CampaignInfo(Base):
    """What messages say about a campaign, and who its creator is."""

    __tablename__ = "campaigns"

    campaign_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    creator_id: Mapped[str | None] = mapped_column(String(255))
    creator_email: Mapped[str | None] = mapped_column(String(320))
    min_orders: Mapped[int | None] = mapped_column(Integer)
    deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    price_cents: Mapped[int | None] = mapped_column(Integer)
    currency: Mapped[str | None] = mapped_column(String(3))
    tipped_event_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    tipped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """When it succeeded, failed or was cancelled: its buyers' contacts are erased
    ``PII_RETENTION_DAYS`` later (``retention.py``; migration 0006)."""
    pii_erased_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    price_tiers: Mapped[list[dict[str, int]]] = mapped_column(
        JSONB, default=list, server_default="[]"
    )
    """Early-bird tiers (from CampaignPublished): buyers pay different prices (0004)."""
    stretch_goals_reached: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, default=list, server_default="[]"
    )
    """Goals reached: ``{event_id, goal_orders, message, reached_at}`` each (0004)."""


class CreatorContact(Base):
    """A creator's contact settings (from CreatorSettingsChanged, the highest ``version``
    wins). Without a row, a creator is written to by email at their campaign's
    ``creator_email`` (from CampaignPublished)."""

    __tablename__ = "creators"

    creator_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(20))
    milestone_channels: Mapped[list[str]] = mapped_column(ARRAY(String(8)))
    """Channels of the creator's messages: ``email``, ``sms``, both or none."""
    version: Mapped[int] = mapped_column(Integer)


class OptOut(Base):
    """An address that asked for no more messages on a channel (digest, not the address)."""

    __tablename__ = "opt_outs"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    address_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
