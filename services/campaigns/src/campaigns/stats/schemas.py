"""The stats' HTTP body (``GET /api/v1/campaigns/{id}/stats``)."""

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field

from .domain import Breakdown, Stats


class Counts(BaseModel):
    views: int
    shares: int
    orders: int = Field(description="Orders placed (buyer numbers taken)")
    authorized_orders: int = Field(description="Orders whose payment was ever authorized")
    cancelled_orders: int
    conversion_rate: float | None = Field(description="orders / views; null before a view")
    authorized_share: float | None = Field(
        description="authorized_orders / orders; null before an order"
    )

    @classmethod
    def of(cls, b: Breakdown) -> dict[str, object]:
        return {
            "views": b.views,
            "shares": b.shares,
            "orders": b.orders,
            "authorized_orders": b.authorized_orders,
            "cancelled_orders": b.cancelled_orders,
            "conversion_rate": b.conversion_rate,
            "authorized_share": b.authorized_share,
        }


class ReferralCounts(Counts):
    referral_code: str | None = Field(description="null: came without a referral code")


class SourceCounts(Counts):
    source: str = Field(description="tiktok, instagram, direct... (README: Creator stats)")


class HourCounts(BaseModel):
    hour: datetime = Field(description="Start of the hour (UTC) the orders were placed in")
    orders: int
    authorized_orders: int


class CampaignStats(Counts):
    campaign_id: UUID
    by_referral_code: list[ReferralCounts]
    by_source: list[SourceCounts]
    orders_per_hour: list[HourCounts]

    @classmethod
    def from_stats(cls, s: Stats) -> "CampaignStats":
        return cls.model_validate(
            {
                "campaign_id": s.campaign_id,
                **Counts.of(s.total),
                "by_referral_code": [
                    {"referral_code": b.key, **Counts.of(b)} for b in s.by_referral_code
                ],
                "by_source": [{"source": b.key, **Counts.of(b)} for b in s.by_source],
                "orders_per_hour": [
                    {"hour": h.hour, "orders": h.orders, "authorized_orders": h.authorized}
                    for h in s.orders_per_hour
                ],
            }
        )
