"""Every message notifications sends, one row each: the table is the catalogue.

To add a message:
1. a ``Message`` row in ``MESSAGES`` (unique name, event, recipients, context, channels);
2. its templates in ``templates/``: ``<template>.subject.j2``, ``.txt.j2``, ``.html.j2``
   (and ``.sms.j2`` when it goes by SMS too);
3. a function in ``contexts.py``, only if none there gives what its templates need.
The bootstrap consumes the row's event and ``handlers.handle`` enqueues its deliveries.
"""

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Generic, Literal, Protocol, TypeVar, runtime_checkable

from dropwave_contracts.envelope import CampaignEvent
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

from . import contexts
from .models import CampaignInfo

E = TypeVar("E", bound=CampaignEvent)
Channel = Literal["email", "sms"]
EMAIL: Final[tuple[Channel, ...]] = ("email",)
EMAIL_AND_SMS: Final[tuple[Channel, ...]] = ("email", "sms")
"""Email, and SMS to the buyers who gave a phone number and consented (to creators: as
their settings say)."""


@runtime_checkable
class OrderEvent(Protocol):
    """An event about one order."""

    order_id: uuid.UUID


@dataclass(frozen=True)
class OrderBuyer:
    """The buyer of the event's order. Unknown yet (no OrderPlaced/OrderConfirmed seen):
    the event fails and the runtime retries it."""


@dataclass(frozen=True)
class CampaignBuyers:
    """Every confirmed, not cancelled buyer of the campaign, in one ``INSERT ... SELECT``;
    only those confirmed by ``confirmed_by(event)`` when given."""

    confirmed_by: Callable[[Any], datetime] | None = None


@dataclass(frozen=True)
class CampaignCreator:
    """The campaign's creator, on the channels of the row they chose (their settings, from
    CreatorSettingsChanged: email, SMS, both or none); without settings, by email when
    CampaignPublished carried their address."""


Recipients = OrderBuyer | CampaignBuyers | CampaignCreator


@dataclass(frozen=True)
class Source:
    """The event a message is caused by: deliveries are exactly once per (its id,
    recipient, channel). ``context``: what this source adds to the message's context (a
    late stretch goal's own message)."""

    event_id: uuid.UUID
    correlation_id: str
    context: Mapping[str, Any] = field(default_factory=dict)


def the_event(event: CampaignEvent, campaign: CampaignInfo | None) -> Source:
    return Source(event.event_id, event.correlation_id)


def the_tipping(event: OrderConfirmed, campaign: CampaignInfo | None) -> Source | None:
    """Confirmed before the campaign tipped but seen after the tipping: the tipping's
    message is still owed, keyed by the tipping (so it is sent once, whichever comes)."""
    if (
        campaign is None
        or campaign.tipped_event_id is None
        or campaign.tipped_at is None
        or event.occurred_at > campaign.tipped_at
    ):
        return None
    return Source(campaign.tipped_event_id, event.correlation_id)


def tipped_at(event: CampaignTipped) -> datetime:
    return event.tipped_at


def reached_at(event: CampaignStretchGoalReached) -> datetime:
    return event.reached_at


def the_stretch_goals(event: OrderConfirmed, campaign: CampaignInfo | None) -> list[Source]:
    """Like ``the_tipping``, for each stretch goal reached by the time of this confirmation
    but seen before it: that goal's message is still owed, keyed by the goal's event."""
    if campaign is None:
        return []
    return [
        Source(
            uuid.UUID(goal["event_id"]),
            event.correlation_id,
            contexts.stretch_goal_fields(goal["goal_orders"], goal["message"]),
        )
        for goal in campaign.stretch_goals_reached or []
        if event.occurred_at <= datetime.fromisoformat(goal["reached_at"])
    ]


@dataclass(frozen=True)
class Message(Generic[E]):
    """One message type. ``context`` builds its templates' data from the event and the
    campaign's read model; ``source`` tells which event keys its deliveries (None: this
    event sends nothing); ``pay_later_link`` adds the buyer's ``pay_later_url``."""

    name: str
    event: type[E]
    recipients: Recipients
    context: Callable[[E, CampaignInfo | None], contexts.Context]
    template: str = ""
    """The templates' name; the message's name when empty."""
    channels: tuple[Channel, ...] = EMAIL
    pay_later_link: bool = False
    source: Callable[[E, CampaignInfo | None], Source | Sequence[Source] | None] = the_event
    """The event(s) its deliveries are keyed by: None, one, or several (each with its own
    context additions)."""

    def __post_init__(self) -> None:
        if not self.template:
            object.__setattr__(self, "template", self.name)
        if "email" not in self.channels:
            raise ValueError(f"{self.name}: every message goes by email")
        if isinstance(self.recipients, OrderBuyer) and "order_id" not in self.event.model_fields:
            raise ValueError(f"{self.name}: {self.event.__name__} names no order")


# Not annotated: mypy infers each row's type, so it checks its context and source
# functions against its event.
MESSAGES: Final = (
    # Buyers.
    Message(
        "order_confirmed",
        event=OrderConfirmed,
        recipients=OrderBuyer(),
        context=contexts.order_confirmed,
        channels=EMAIL_AND_SMS,
    ),
    Message(
        "campaign_tipped",
        event=CampaignTipped,
        recipients=CampaignBuyers(confirmed_by=tipped_at),
        context=contexts.campaign_tipped,
        channels=EMAIL_AND_SMS,
    ),
    Message(
        "campaign_tipped_late",
        event=OrderConfirmed,
        recipients=OrderBuyer(),
        context=contexts.campaign_tipped,
        template="campaign_tipped",
        channels=EMAIL_AND_SMS,
        source=the_tipping,
    ),
    Message(
        "payment_captured",
        event=PaymentCaptured,
        recipients=OrderBuyer(),
        context=contexts.title_and_amount,
        channels=EMAIL_AND_SMS,
    ),
    Message(
        "capture_failed",
        event=PaymentCaptureFailed,
        recipients=OrderBuyer(),
        context=contexts.capture_failed,
        channels=EMAIL_AND_SMS,
        pay_later_link=True,
    ),
    # Each reminder is its own event, so each is sent once per channel.
    Message(
        "payment_reminder",
        event=PaymentReminderIssued,
        recipients=OrderBuyer(),
        context=contexts.payment_reminder,
        channels=EMAIL_AND_SMS,
        pay_later_link=True,
    ),
    Message(
        "refunded",
        event=PaymentRefunded,
        recipients=OrderBuyer(),
        context=contexts.title_and_amount,
        channels=EMAIL_AND_SMS,
    ),
    # Payments releases the holds on the same decisions; a buyer's own cancel (also a
    # PaymentReleased) needs no message.
    Message(
        "hold_released_failed",
        event=CampaignFailed,
        recipients=CampaignBuyers(),
        context=contexts.hold_released,
        template="hold_released",
        channels=EMAIL_AND_SMS,
    ),
    Message(
        "hold_released_cancelled",
        event=CampaignCancelled,
        recipients=CampaignBuyers(),
        context=contexts.hold_released,
        template="hold_released",
        channels=EMAIL_AND_SMS,
    ),
    Message(
        "stretch_goal_reached",
        event=CampaignStretchGoalReached,
        recipients=CampaignBuyers(confirmed_by=reached_at),
        context=contexts.stretch_goal,
        channels=EMAIL_AND_SMS,
    ),
    Message(
        "stretch_goal_reached_late",
        event=OrderConfirmed,
        recipients=OrderBuyer(),
        context=contexts.title_only,
        template="stretch_goal_reached",
        channels=EMAIL_AND_SMS,
        source=the_stretch_goals,
    ),
    # Creators: their milestones, on the channels they chose (email, SMS, both, none).
    Message(
        "creator_stretch_goal",
        event=CampaignStretchGoalReached,
        recipients=CampaignCreator(),
        context=contexts.stretch_goal,
        channels=EMAIL_AND_SMS,
    ),
    Message(
        "creator_milestone",
        event=CampaignMilestoneReached,
        recipients=CampaignCreator(),
        context=contexts.creator_milestone,
        channels=EMAIL_AND_SMS,
    ),
    Message(
        "creator_tipped",
        event=CampaignTipped,
        recipients=CampaignCreator(),
        context=contexts.creator_tipped,
        channels=EMAIL_AND_SMS,
    ),
    Message(
        "creator_succeeded",
        event=CampaignSucceeded,
        recipients=CampaignCreator(),
        context=contexts.creator_result,
        template="creator_result",
        channels=EMAIL_AND_SMS,
    ),
    Message(
        "creator_failed",
        event=CampaignFailed,
        recipients=CampaignCreator(),
        context=contexts.creator_result,
        template="creator_result",
        channels=EMAIL_AND_SMS,
    ),
)

PAY_LATER_TEMPLATES: Final = frozenset(m.template for m in MESSAGES if m.pay_later_link)
"""The templates whose deliveries carry the buyer's pay-later link (PAY_LATER_URL_TEMPLATE
with the order id and the link's token, kept as ``pay_token`` in the delivery's context)."""
