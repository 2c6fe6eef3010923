"""The test event factory builds every contract event, and a test's fields win."""

import uuid

import pytest
from dropwave_contracts.events import ALL_EVENTS, OrderPlaced
from dropwave_contracts.topics import parse_event, serialize, topic_for

from tests.factories import event

pytestmark = pytest.mark.timeout(10)


@pytest.mark.parametrize("cls", ALL_EVENTS, ids=lambda c: c.__name__)
def test_every_event_can_be_built_and_goes_over_the_wire(cls: type) -> None:
    built = event(cls)
    assert built.producer == topic_for(cls).producer
    assert parse_event(serialize(built)) == built


def test_the_fields_a_test_names_are_kept() -> None:
    order_id = uuid.uuid4()
    placed = event(OrderPlaced, order_id=order_id, buyer_number=7, buyer_email="x@example.com")
    assert (placed.order_id, placed.buyer_number, placed.buyer_email) == (
        order_id,
        7,
        "x@example.com",
    )
    assert event(OrderPlaced).order_id != event(OrderPlaced).order_id
