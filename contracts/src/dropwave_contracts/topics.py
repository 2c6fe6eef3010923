"""The topic registry, and decoding/encoding of events on the wire.

Topic names are explicit strings, never derived from class names. Every event topic is
owned by one producing service (it publishes through its outbox) and keyed by
``campaign_id``, so one campaign's events stay in order on one partition; the
creator-scoped topics (``campaigns.creators.v1``, ``payments.accounts.v1``) are keyed by
``creator_id``.

Schema versions
---------------
``parse_event`` dispatches on ``(event_type, schema_version)``; each event class implements
exactly one version (its ``schema_version`` is a ``Literal``).

* Adding an optional field (with a default) is compatible: same version, same class.
  Old payloads still parse (the field takes its default) and old consumers ignore the new
  field (``extra="ignore"``).
* Anything else (removing or renaming a field, changing a type or meaning, making a field
  required) is a new version: add a new class (e.g. ``OrderPlacedV2`` with
  ``event_type: Literal["OrderPlaced"]`` and ``schema_version: Literal[2]``) to the same
  topic, keep the old class. Consumers are upgraded to accept both before any producer
  emits v2; the old class is removed only once no v1 message can still be in a topic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from .envelope import Event
from .events import (
    CampaignCancelled,
    CampaignCreated,
    CampaignFailed,
    CampaignMilestoneReached,
    CampaignPublished,
    CampaignStretchGoalReached,
    CampaignSucceeded,
    CampaignTipped,
    CampaignUpdated,
    CreatorPayoutsUpdated,
    CreatorSettingsChanged,
    NotificationSent,
    OrderCancelled,
    OrderConfirmed,
    OrderPlaced,
    OrdersTallied,
    PaymentActionRequired,
    PaymentAuthorized,
    PaymentCaptured,
    PaymentCaptureFailed,
    PaymentFailed,
    PaymentRefunded,
    PaymentReleased,
    PaymentReminderIssued,
)

__all__ = [
    "CAMPAIGNS_CREATORS",
    "CAMPAIGNS_EVENTS",
    "CONSUMING_SERVICES",
    "DLQ_PARTITIONS",
    "EVENT_PARTITIONS",
    "EVENT_TOPICS",
    "EVENT_TYPES",
    "EVENT_VERSIONS",
    "NOTIFICATIONS_EVENTS",
    "ORDERS_EVENTS",
    "PAYMENTS_ACCOUNTS",
    "PAYMENTS_EVENTS",
    "TopicSpec",
    "UnknownEventType",
    "UnsupportedSchemaVersion",
    "all_topic_specs",
    "dead_letter_topic",
    "event_type_of",
    "parse_event",
    "schema_version_of",
    "serialize",
    "topic_for",
]

EVENT_PARTITIONS = 6
DLQ_PARTITIONS = 3


@dataclass(frozen=True)
class TopicSpec:
    """A Kafka topic: its name, key field, partition count and the events it carries."""

    name: str
    key: str
    """Name of the event field used as the message key."""
    partitions: int
    events: tuple[type[Event], ...]
    """Event classes published on the topic (empty for dead-letter topics)."""
    description: str
    producer: str | None = None
    """The one service that publishes on the topic; ``None`` for dead-letter topics."""


CAMPAIGNS_EVENTS = TopicSpec(
    name="campaigns.events.v1",
    key="campaign_id",
    partitions=EVENT_PARTITIONS,
    events=(
        CampaignCreated,
        CampaignPublished,
        CampaignUpdated,
        CampaignMilestoneReached,
        CampaignTipped,
        CampaignStretchGoalReached,
        CampaignSucceeded,
        CampaignFailed,
        CampaignCancelled,
    ),
    description=(
        "Campaign lifecycle: created (draft), published, updated, milestones, tipped, "
        "stretch goals reached, closed, cancelled."
    ),
    producer="campaigns",
)
CAMPAIGNS_CREATORS = TopicSpec(
    name="campaigns.creators.v1",
    key="creator_id",
    partitions=EVENT_PARTITIONS,
    events=(CreatorSettingsChanged,),
    description="Creators' settings: contact data and how they hear about milestones.",
    producer="campaigns",
)
ORDERS_EVENTS = TopicSpec(
    name="orders.events.v1",
    key="campaign_id",
    partitions=EVENT_PARTITIONS,
    events=(OrderPlaced, OrderConfirmed, OrderCancelled, OrdersTallied),
    description=(
        "Order lifecycle: placed, confirmed (counted), cancelled; a campaign's closing "
        "tally after all of them."
    ),
    producer="orders",
)
PAYMENTS_EVENTS = TopicSpec(
    name="payments.events.v1",
    key="campaign_id",
    partitions=EVENT_PARTITIONS,
    events=(
        PaymentAuthorized,
        PaymentFailed,
        PaymentActionRequired,
        PaymentCaptured,
        PaymentCaptureFailed,
        PaymentReleased,
        PaymentRefunded,
        PaymentReminderIssued,
    ),
    description="Stripe outcomes: authorization, capture at settlement, release, refund.",
    producer="payments",
)
PAYMENTS_ACCOUNTS = TopicSpec(
    name="payments.accounts.v1",
    key="creator_id",
    partitions=EVENT_PARTITIONS,
    events=(CreatorPayoutsUpdated,),
    description="Creators' Stripe Connect accounts: can they take charges, receive payouts.",
    producer="payments",
)
NOTIFICATIONS_EVENTS = TopicSpec(
    name="notifications.events.v1",
    key="campaign_id",
    partitions=EVENT_PARTITIONS,
    events=(NotificationSent,),
    description="Messages handed to an email/SMS provider (no personal data).",
    producer="notifications",
)

EVENT_TOPICS: tuple[TopicSpec, ...] = (
    CAMPAIGNS_EVENTS,
    CAMPAIGNS_CREATORS,
    ORDERS_EVENTS,
    PAYMENTS_EVENTS,
    PAYMENTS_ACCOUNTS,
    NOTIFICATIONS_EVENTS,
)

CONSUMING_SERVICES: tuple[str, ...] = (
    "campaigns",
    "orders",
    "payments",
    "notifications",
    "storefront",
)
"""Services that consume events, each with its own dead-letter topic."""


def dead_letter_topic(service: str) -> TopicSpec:
    """The dead-letter topic of a consuming service: ``dlq.<service>.v1``.

    A dead letter is the original message (same key, value and headers) plus error headers,
    so it keeps ``campaign_id`` as key and can be replayed as is.
    """
    if service not in CONSUMING_SERVICES:
        raise ValueError(
            f"no dead-letter topic for service {service!r}; known: {', '.join(CONSUMING_SERVICES)}"
        )
    return TopicSpec(
        name=f"dlq.{service}.v1",
        key="campaign_id",
        partitions=DLQ_PARTITIONS,
        events=(),
        description=f"Messages the {service} service gave up on after bounded retries.",
    )


def all_topic_specs() -> list[TopicSpec]:
    """Every topic to create: the event topics, then one dead-letter topic per consumer."""
    return [*EVENT_TOPICS, *(dead_letter_topic(s) for s in CONSUMING_SERVICES)]


def event_type_of(event_cls: type[Event]) -> str:
    """The ``event_type`` an event class carries (its field default)."""
    value = event_cls.model_fields["event_type"].default
    if not isinstance(value, str):
        raise TypeError(f"{event_cls.__name__} must give event_type a literal default")
    return value


def schema_version_of(event_cls: type[Event]) -> int:
    """The ``schema_version`` an event class implements (its field default)."""
    value = event_cls.model_fields["schema_version"].default
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{event_cls.__name__} must give schema_version a literal default")
    return value


def _build_registry() -> tuple[
    dict[type[Event], TopicSpec], dict[tuple[str, int], type[Event]], dict[str, type[Event]]
]:
    by_class: dict[type[Event], TopicSpec] = {}
    by_version: dict[tuple[str, int], type[Event]] = {}
    latest: dict[str, type[Event]] = {}
    names: set[str] = set()
    for spec in EVENT_TOPICS:
        if spec.name in names:
            raise RuntimeError(f"topic {spec.name} declared twice")
        names.add(spec.name)
        for cls in spec.events:
            if cls in by_class:
                raise RuntimeError(f"{cls.__name__} is in {by_class[cls].name} and {spec.name}")
            if cls.partition_key != spec.key or spec.key not in cls.model_fields:
                raise RuntimeError(f"{cls.__name__} is not keyed by {spec.key}")
            type_version = (event_type_of(cls), schema_version_of(cls))
            if type_version in by_version:
                raise RuntimeError(f"two classes implement {type_version}")
            by_class[cls] = spec
            by_version[type_version] = cls
            current = latest.get(type_version[0])
            if current is None or schema_version_of(current) < type_version[1]:
                latest[type_version[0]] = cls
    return by_class, by_version, latest


_TOPIC_BY_CLASS, EVENT_VERSIONS, EVENT_TYPES = _build_registry()
"""``EVENT_VERSIONS``: ``(event_type, schema_version)`` -> class, every supported version.
``EVENT_TYPES``: ``event_type`` -> class of its newest version (the one to produce)."""


class UnknownEventType(ValueError):
    """The payload's ``event_type`` is not in the registry (or a class is not registered)."""

    def __init__(self, event_type: str) -> None:
        super().__init__(
            f"unknown event_type {event_type!r}; known: {', '.join(sorted(EVENT_TYPES))}"
        )
        self.event_type = event_type


class UnsupportedSchemaVersion(ValueError):
    """The ``event_type`` is known but not in this ``schema_version``: this consumer is
    older than the producer. Do not skip the message: retry or dead-letter it, upgrade."""

    def __init__(self, event_type: str, schema_version: int) -> None:
        supported = sorted(v for (t, v) in EVENT_VERSIONS if t == event_type)
        super().__init__(
            f"{event_type} schema_version {schema_version} is not supported "
            f"(supported: {', '.join(map(str, supported))}); upgrade dropwave-contracts"
        )
        self.event_type = event_type
        self.schema_version = schema_version


def topic_for(event: Event | type[Event]) -> TopicSpec:
    """The topic an event (or event class) is published on."""
    cls = event if isinstance(event, type) else type(event)
    try:
        return _TOPIC_BY_CLASS[cls]
    except KeyError:
        raise UnknownEventType(cls.__name__) from None


class _WireHeader(BaseModel):
    """What ``parse_event`` reads first: the dispatch fields, and the presence of every
    envelope field that must never be defaulted on the consumer side."""

    model_config = ConfigDict(extra="ignore", title="Event envelope")

    event_type: str
    schema_version: int
    event_id: Any
    occurred_at: Any
    producer: Any
    correlation_id: Any


def parse_event(raw: bytes | str | Mapping[str, Any]) -> Event:
    """Decode a message value (JSON bytes/str, or an already decoded mapping) to its event.

    Raises ``UnknownEventType`` / ``UnsupportedSchemaVersion`` when no class matches, and
    ``pydantic.ValidationError`` for a malformed payload (including a missing envelope field).
    """
    if isinstance(raw, bytes | str):
        header = _WireHeader.model_validate_json(raw)
    else:
        header = _WireHeader.model_validate(raw)
    cls = EVENT_VERSIONS.get((header.event_type, header.schema_version))
    if cls is None:
        if header.event_type not in EVENT_TYPES:
            raise UnknownEventType(header.event_type)
        raise UnsupportedSchemaVersion(header.event_type, header.schema_version)
    if isinstance(raw, bytes | str):
        return cls.model_validate_json(raw)
    return cls.model_validate(raw)


def serialize(event: Event) -> bytes:
    """Encode an event as a message value: compact JSON, UTF-8."""
    return event.model_dump_json().encode("utf-8")
