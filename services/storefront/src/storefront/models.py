from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import DateTime, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class CampaignPage(Base):
    """The read model of one campaign's page, kept by the storefront's event handlers.

    A row may exist before its campaign is published (an ``OrderConfirmed`` read before
    ``CampaignPublished``, from another topic): it then only counts (``status`` null, no
    slug) and has no page."""

    __tablename__ = "campaign_pages"

    campaign_id: Mapped[UUID] = mapped_column(primary_key=True)
    slug: Mapped[str | None] = mapped_column(String(120), unique=True)
    # null: not published yet; active, successful, failed, cancelled.
    status: Mapped[str | None] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(Text, default="", server_default="")
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    images: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")
    theme_accent: Mapped[str | None] = mapped_column(String(7))
    # Sanitized and scoped by campaigns (campaigns/css.py); stored as received.
    custom_css: Mapped[str] = mapped_column(Text, default="", server_default="")
    price_cents: Mapped[int | None] = mapped_column(Integer)
    currency: Mapped[str | None] = mapped_column(String(3))
    min_orders: Mapped[int | None] = mapped_column(Integer)
    deadline: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Confirmed orders not cancelled ("N of M joined"); the closing tally once decided.
    joined: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    tipped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Early-bird tiers and stretch goals as CampaignPublished states them, the goals reached
    # (their `orders`) and the highest buyer number confirmed: the page prices the next
    # buyer and shows each goal's progress (migration 0002).
    price_tiers: Mapped[list[dict[str, int]]] = mapped_column(
        JSONB, default=list, server_default="[]"
    )
    stretch_goals: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, default=list, server_default="[]"
    )
    stretch_goals_reached: Mapped[list[int]] = mapped_column(
        ARRAY(Integer), default=list, server_default="{}"
    )
    highest_buyer_number: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Where the goods ship (CampaignPublished): the checkout asks for an address in one of
    # them; empty: a digital drop (migration 0003).
    ship_to_countries: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
