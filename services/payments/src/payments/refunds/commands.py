"""Refunds' commands."""

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class RefundOrder:
    """Refund an order's captured payment, fully (``amount_cents=None``) or partly."""

    order_id: uuid.UUID
    amount_cents: int | None
    creator_id: str | None
    """Who asks: the campaign's owner must be them; ``None``: an operator."""
