"""What each message's templates get, from its event and the campaign's read model (which
may be missing: messages then say "your drop"). Pure; no contact data, ever: the worker
adds the recipient's own details when it sends."""

from typing import Any

from dropwave_contracts.events import (
    CampaignCancelled,
    CampaignFailed,
    CampaignMilestoneReached,
    CampaignStretchGoalReached,
    CampaignSucceeded,
    CampaignTipped,
    OrderConfirmed,
    PaymentCaptured,
    PaymentCaptureFailed,
    PaymentRefunded,
    PaymentReminderIssued,
)

from .domain import format_deadline, format_money
from .models import CampaignInfo

Context = dict[str, Any]


def _title(campaign: CampaignInfo | None) -> str:
    return campaign.title if campaign is not None else "your drop"


def _known(campaign: CampaignInfo | None) -> CampaignInfo:
    # The projection of the event wrote the row before its messages are built.
    if campaign is None:
        raise LookupError("no campaign row for a message that needs one")
    return campaign


def order_confirmed(event: OrderConfirmed, campaign: CampaignInfo | None = None) -> Context:
    return {
        "buyer_number": event.buyer_number,
        "title": event.campaign_title,
        "amount": format_money(event.amount_cents, event.currency),
        "min_orders": event.campaign_min_orders,
        "deadline": format_deadline(event.campaign_deadline),
        "order_token": event.order_token,
    }


def campaign_tipped(
    event: CampaignTipped | OrderConfirmed, campaign: CampaignInfo | None
) -> Context:
    known = _known(campaign)
    return {
        "title": known.title,
        "min_orders": known.min_orders,
        "deadline": format_deadline(known.deadline) if known.deadline else "the deadline",
    }


def creator_tipped(event: CampaignTipped, campaign: CampaignInfo | None) -> Context:
    return {
        "title": _known(campaign).title,
        "current_orders": event.current_orders,
        "min_orders": event.min_orders,
    }


def stretch_goal_fields(goal_orders: int, message: str) -> Context:
    return {"goal_orders": goal_orders, "goal_message": message}


def stretch_goal(event: CampaignStretchGoalReached, campaign: CampaignInfo | None) -> Context:
    return {
        "title": _title(campaign),
        "current_orders": event.current_orders,
        **stretch_goal_fields(event.goal_orders, event.message),
    }


def title_only(event: OrderConfirmed, campaign: CampaignInfo | None) -> Context:
    """The campaign's title (the event's, as confirmed): a source adds the rest."""
    return {"title": event.campaign_title}


def hold_released(
    event: CampaignFailed | CampaignCancelled, campaign: CampaignInfo | None
) -> Context:
    return {
        "title": _title(campaign),
        "reason": "failed" if isinstance(event, CampaignFailed) else "cancelled",
        "min_orders": campaign.min_orders if campaign and campaign.min_orders else 0,
    }


def title_and_amount(
    event: PaymentCaptured | PaymentRefunded, campaign: CampaignInfo | None
) -> Context:
    return {"title": _title(campaign), "amount": format_money(event.amount_cents, event.currency)}


def capture_failed(event: PaymentCaptureFailed, campaign: CampaignInfo | None) -> Context:
    until = event.pay_later_until
    return {
        "title": _title(campaign),
        "pay_later_until": format_deadline(until) if until else None,
        "pay_token": event.pay_token if until else None,
    }


def payment_reminder(event: PaymentReminderIssued, campaign: CampaignInfo | None) -> Context:
    return {
        "title": _title(campaign),
        "pay_later_until": format_deadline(event.pay_later_until),
        "reminder_number": event.reminder_number,
        "pay_token": event.pay_token,
    }


def creator_milestone(event: CampaignMilestoneReached, campaign: CampaignInfo | None) -> Context:
    return {
        "title": _title(campaign),
        "percent": event.percent,
        "current_orders": event.current_orders,
        "min_orders": event.min_orders,
    }


def creator_result(
    event: CampaignSucceeded | CampaignFailed, campaign: CampaignInfo | None
) -> Context:
    price = campaign.price_cents if campaign and campaign.price_cents else 0
    currency = campaign.currency if campaign and campaign.currency else "usd"
    # With early-bird tiers buyers paid different prices: no one price times the orders.
    one_price = bool(price) and not (campaign is not None and campaign.price_tiers)
    return {
        "title": _title(campaign),
        "outcome": "succeeded" if isinstance(event, CampaignSucceeded) else "failed",
        "confirmed_orders": event.confirmed_orders,
        "min_orders": event.min_orders,
        "price": format_money(price, currency) if price else "the price",
        "gross": format_money(price * event.confirmed_orders, currency) if one_price else "",
    }
