"""The event envelope: the fields every DropWave event carries.

Envelope and payload live on one flat model (like eShop's ``IntegrationEvent``):
``{"event_id": ..., "event_type": "OrderPlaced", ..., "campaign_id": ..., "order_id": ...}``.

Models are frozen and ignore unknown fields, so a consumer built against an older
version of this package still parses events that gained optional fields since.

Ordering: producers key every event by its partition key (the campaign, or the creator),
so one campaign's events stay in order on one partition. Consumers may go further
(``ordering_key``): events of *different orders* of one campaign are independent and may be
handled concurrently; one order's events, and campaign-wide events, keep their order.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Self, TypeVar
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue, StringConstraints

__all__ = [
    "WIRE_REQUIRED_FIELDS",
    "CampaignEvent",
    "CorrelationId",
    "CreatorEvent",
    "Event",
    "follow",
]

CorrelationId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
"""A correlation or causation id: 1..128 characters."""

WIRE_REQUIRED_FIELDS: tuple[str, ...] = (
    "event_id",
    "event_type",
    "schema_version",
    "occurred_at",
    "producer",
    "correlation_id",
)
"""Envelope fields a payload on the wire must carry, even those with a Python default.

The defaults (``event_id``, ``occurred_at``...) exist so producers can build events
conveniently; a consumer must never invent them. A message without an ``event_id``
would get a fresh one on every redelivery and defeat inbox deduplication, so
``parse_event`` rejects it and the JSON Schemas list these fields as required.
"""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _require_wire_fields(schema: dict[str, JsonValue], cls: type[Any]) -> None:
    """JSON Schema hook: on the wire the envelope fields are required (see above)."""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return
    current = schema.get("required")
    required = list(current) if isinstance(current, list) else []
    for name in WIRE_REQUIRED_FIELDS:
        if name in properties and name not in required:
            required.append(name)
    order = list(properties)
    schema["required"] = sorted(
        required, key=lambda n: order.index(n) if n in order else len(order)
    )


class Event(BaseModel):
    """Base of every event: the envelope fields. Subclasses add their payload.

    Each subclass narrows ``event_type`` to ``Literal["<Name>"]`` and ``schema_version``
    to the literal version it implements, both with that value as default.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="ignore",
        use_attribute_docstrings=True,
        json_schema_extra=_require_wire_fields,
    )

    partition_key: ClassVar[str] = "campaign_id"
    """Name of the field whose value is the Kafka message key."""

    event_id: UUID = Field(default_factory=uuid4)
    """Unique id of this event; consumers deduplicate on it (inbox)."""
    event_type: str
    """Name of the event, e.g. ``OrderPlaced``; selects the payload model."""
    schema_version: int = 1
    """Version of this event type's schema; bumped only on breaking changes."""
    occurred_at: AwareDatetime = Field(default_factory=_utc_now)
    """When the fact happened (timezone-aware, UTC by default)."""
    producer: Annotated[str, StringConstraints(min_length=1)]
    """Name of the service that emitted the event, e.g. ``orders``."""
    correlation_id: CorrelationId
    """Id shared by every event of one business flow (e.g. one order's journey)."""
    causation_id: CorrelationId | None = None
    """Id of the event (or request) that directly caused this one."""

    @property
    def key(self) -> str:
        """The partition key: ``str`` of the ``partition_key`` field (the campaign id)."""
        return str(getattr(self, self.partition_key))

    @property
    def ordering_key(self) -> str:
        """What this event must stay in order with (see the module docstring).

        Events about one order (they carry ``order_id``) are ordered per order: a consumer
        may handle events of different orders of one campaign concurrently. Any other event
        is ordered by its partition key, and is ordered with every order event of that key
        too (a barrier: what came before it is handled first, what comes after waits).
        """
        order_id = getattr(self, "order_id", None)
        return self.key if order_id is None else f"{self.key}/{order_id}"

    @classmethod
    def caused_by(cls, parent: Event, *, producer: str, **fields: Any) -> Self:
        """Build an event of this class caused by ``parent`` (see :func:`follow`)."""
        return follow(parent, cls, producer=producer, **fields)


class CampaignEvent(Event):
    """An event about one campaign, keyed by ``campaign_id``."""

    campaign_id: UUID
    """The campaign this event belongs to; also the partition key."""


class CreatorEvent(Event):
    """An event about one creator (not one campaign), keyed by ``creator_id``: one creator's
    events stay in order on one partition."""

    partition_key: ClassVar[str] = "creator_id"

    creator_id: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    """The creator's id (the OIDC subject); also the partition key."""


E = TypeVar("E", bound=Event)


def follow(parent: Event, event_cls: type[E], *, producer: str, **fields: Any) -> E:
    """Build an ``event_cls`` event caused by ``parent``.

    Copies ``parent.correlation_id`` and sets ``causation_id = str(parent.event_id)``;
    ``fields`` are the new event's payload (``campaign_id`` included: nothing else is
    copied implicitly).
    """
    for name in ("correlation_id", "causation_id"):
        if name in fields:
            raise TypeError(f"follow() sets {name} from the parent event; do not pass it")
    return event_cls(
        producer=producer,
        correlation_id=parent.correlation_id,
        causation_id=str(parent.event_id),
        **fields,
    )
