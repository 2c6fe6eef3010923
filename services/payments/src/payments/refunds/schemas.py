"""Refunds' HTTP bodies."""

from pydantic import BaseModel, ConfigDict, Field


class RefundRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_cents: int | None = Field(None, gt=0, le=100_000_000)
    """``None``: everything still refundable."""
