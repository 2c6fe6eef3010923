"""The topic registry."""

from __future__ import annotations

import inspect

import pytest
from dropwave_contracts import (
    ALL_EVENTS,
    CONSUMING_SERVICES,
    EVENT_TOPICS,
    EVENT_TYPES,
    EVENT_VERSIONS,
    CampaignEvent,
    CreatorEvent,
    Event,
    OrderPlaced,
    UnknownEventType,
    all_topic_specs,
    dead_letter_topic,
    event_type_of,
    events,
    schema_version_of,
    topic_for,
)


def _event_classes_in_events_module() -> list[type[Event]]:
    return [
        obj
        for _, obj in inspect.getmembers(events, inspect.isclass)
        if issubclass(obj, Event) and obj not in (Event, CampaignEvent, CreatorEvent)
    ]


def test_all_events_lists_every_class_of_the_events_module() -> None:
    assert set(_event_classes_in_events_module()) == set(ALL_EVENTS)


@pytest.mark.parametrize("event_cls", _event_classes_in_events_module(), ids=lambda c: c.__name__)
def test_every_event_class_is_in_exactly_one_topic(event_cls: type[Event]) -> None:
    homes = [spec.name for spec in all_topic_specs() if event_cls in spec.events]
    assert len(homes) == 1, homes
    assert topic_for(event_cls).name == homes[0]


@pytest.mark.parametrize("event_cls", ALL_EVENTS, ids=lambda c: c.__name__)
def test_every_event_is_keyed_by_campaign_id_or_creator_id(event_cls: type[Event]) -> None:
    spec = topic_for(event_cls)
    key = "creator_id" if issubclass(event_cls, CreatorEvent) else "campaign_id"
    assert issubclass(event_cls, CreatorEvent | CampaignEvent)
    assert spec.key == key
    assert event_cls.partition_key == key
    assert key in event_cls.model_fields


def test_topic_names_are_explicit() -> None:
    assert [(s.name, s.partitions, s.producer) for s in EVENT_TOPICS] == [
        ("campaigns.events.v1", 6, "campaigns"),
        ("campaigns.creators.v1", 6, "campaigns"),
        ("orders.events.v1", 6, "orders"),
        ("payments.events.v1", 6, "payments"),
        ("payments.accounts.v1", 6, "payments"),
        ("notifications.events.v1", 6, "notifications"),
    ]
    prefixes = {
        "campaigns.events": "Campaign",
        "campaigns.creators": "Creator",
        "orders.": "Order",
        "payments.events": "Payment",
    }
    for spec in EVENT_TOPICS:
        for prefix, class_prefix in prefixes.items():
            if spec.name.startswith(prefix):
                assert all(event_type_of(c).startswith(class_prefix) for c in spec.events)


def test_dead_letter_topics() -> None:
    dlq = dead_letter_topic("payments")
    assert (dlq.name, dlq.partitions, dlq.events, dlq.key) == (
        "dlq.payments.v1",
        3,
        (),
        "campaign_id",
    )
    with pytest.raises(ValueError, match="gateway"):
        dead_letter_topic("gateway")


def test_all_topic_specs() -> None:
    names = [s.name for s in all_topic_specs()]
    assert len(names) == len(set(names)) == len(EVENT_TOPICS) + len(CONSUMING_SERVICES)
    assert {f"dlq.{s}.v1" for s in CONSUMING_SERVICES} <= set(names)


def test_event_type_registry() -> None:
    assert set(EVENT_TYPES) == {event_type_of(c) for c in ALL_EVENTS}
    assert all(event_type_of(cls) == name for name, cls in EVENT_TYPES.items())
    assert {(event_type_of(c), schema_version_of(c)) for c in ALL_EVENTS} == set(EVENT_VERSIONS)
    assert EVENT_TYPES["OrderPlaced"] is OrderPlaced


def test_topic_for_instance_and_unregistered_class() -> None:
    class Unregistered(CampaignEvent):
        event_type: str = "Unregistered"

    assert topic_for(OrderPlaced).name == "orders.events.v1"
    with pytest.raises(UnknownEventType):
        topic_for(Unregistered)
