"""Tables owned by notifications (the outbox/inbox plumbing comes from the runtime)."""

import uuid
from datetime import datetime
from typing import Final

from sqlalchemy import CheckConstraint, DateTime, Integer, String, UniqueConstraint, Uuid, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

RECIPIENT_KINDS: Final = ("buyer", "creator")
CHANNELS: Final = ("email", "sms")
STATUSES: Final = ("pending", "sent", "failed")

DELIVERY_UNIQUE: Final = "uq_deliveries_source_event_recipient_channel"


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    pass


class Delivery(Base):
    """One message to one recipient on one channel, caused by one event.

    ``UNIQUE(source_event_id, recipient_kind, channel)`` makes a message exactly-once per
    (event, recipient, channel): a duplicate event, a redelivery or a second instance finds
    the row instead of sending again. No personal data (address, content) is stored.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("source_event_id", "recipient_kind", "channel", name=DELIVERY_UNIQUE),
        CheckConstraint(_in("recipient_kind", RECIPIENT_KINDS), name="ck_deliveries_recipient"),
        CheckConstraint(_in("channel", CHANNELS), name="ck_deliveries_channel"),
        CheckConstraint(_in("status", STATUSES), name="ck_deliveries_status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    source_event_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    campaign_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    recipient_kind: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    template: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
