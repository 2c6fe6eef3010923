from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import DateTime, Integer, String, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Creator(Base):
    __tablename__ = "creators"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    # From payments' CreatorPayoutsUpdated (Stripe Connect): may the creator publish?
    payouts_enabled: Mapped[bool] = mapped_column(default=False, server_default="false")
    payouts_state_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The token's `email` claim (the latest one seen; kept when a token has none): put on
    # CampaignPublished so notifications can write to the creator. Contact data: never logged.
    email: Mapped[str | None] = mapped_column(String(320))
    # Their settings (campaigns/creators): an E.164 phone for SMS, how they hear about
    # milestones ("email", "sms": both, one or none), and the version every change of these
    # or of the email raises (CreatorSettingsChanged tells notifications). Never logged.
    phone: Mapped[str | None] = mapped_column(String(16))
    milestone_channels: Mapped[list[str]] = mapped_column(
        ARRAY(String(8)), default=lambda: ["email"], server_default="{email}"
    )
    settings_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[UUID] = mapped_column(primary_key=True)
    creator_id: Mapped[str] = mapped_column(String(255), index=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    title: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(5000), default="")
    price_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    min_orders: Mapped[int] = mapped_column(Integer)
    deadline: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(20), default="draft")
    current_orders: Mapped[int] = mapped_column(Integer, default=0)
    milestones_reached: Mapped[list[int]] = mapped_column(ARRAY(Integer), default=list)
    tipped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The latest confirmation time counted so far: confirmations of different orders are
    # handled concurrently, so the one that tips is not always the latest (see handlers).
    last_confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # https URLs (validated on the way in) and the theme with its custom CSS already sanitized.
    images: Mapped[list[str]] = mapped_column(JSONB, default=list)
    theme: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # Early-bird tiers ([{up_to_buyer, price_cents}], increasing) and stretch goals
    # ([{orders, message}], increasing, above min_orders): rules, frozen once published
    # (migration 0009). Goals reached so far (their `orders`), each announced once.
    price_tiers: Mapped[list[dict[str, int]]] = mapped_column(JSONB, default=list)
    stretch_goals: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    stretch_goals_reached: Mapped[list[int]] = mapped_column(ARRAY(Integer), default=list)
    # The highest buyer number confirmed so far: the public view prices the next buyer.
    highest_buyer_number: Mapped[int] = mapped_column(Integer, default=0)
    ship_to_countries: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")
    """Where the physical goods ship (ISO alpha-2); empty: a digital drop (migration 0012)."""
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_reason: Mapped[str | None] = mapped_column(String(500))
    # When the deadline scheduler settled it (successful/failed).
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
