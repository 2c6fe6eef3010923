"""Payments' tables for Stripe Connect, refunds and the pay-later flow (same metadata as
``models``; migration 0003_connect_refunds). Kept apart from ``models`` so settlement and
Connect can evolve their tables without editing one shared class list."""

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Uuid, func
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base


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
