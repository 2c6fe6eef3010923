"""The message table: each row's templates exist, names are unique, every event is consumed."""

from collections import Counter
from typing import Any

import pytest
from dropwave_contracts.events import CampaignTipped, OrderConfirmed
from dropwave_runtime.consumer import Batched
from notifications import contexts, handlers
from notifications.bootstrap import SERVICE
from notifications.messages import MESSAGES, CampaignCreator, Message, OrderBuyer
from notifications.templates import environment, has_sms

PARTS = {"email": ("subject", "txt", "html"), "sms": ("sms",)}


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: m.name)
def test_every_message_has_templates_for_its_channels(message: Message[object]) -> None:
    templates = set(environment().list_templates())
    for channel in message.channels:
        for part in PARTS[channel]:
            assert f"{message.template}.{part}.j2" in templates
    # An SMS template no row sends would be dead (and the fan-out decides SMS by the row).
    assert has_sms(message.template) == ("sms" in message.channels)


def test_message_names_are_unique() -> None:
    names = Counter(m.name for m in MESSAGES)
    assert [name for name, n in names.items() if n > 1] == []


def test_every_event_of_the_table_goes_to_the_one_handler() -> None:
    """Directly, or in runs (a drop's per-order floods) where it handles each in turn."""
    for message in MESSAGES:
        handler = SERVICE.events[message.event]
        if isinstance(handler, Batched):
            assert handler.each
            handler = handler.handler
        assert handler is handlers.handle


@pytest.mark.parametrize(
    ("row", "error"),
    [
        ({"event": CampaignTipped, "recipients": OrderBuyer()}, "names no order"),
        ({"recipients": OrderBuyer(), "channels": ("sms",)}, "by email"),
        ({"recipients": CampaignCreator(), "channels": ("sms",)}, "by email"),
    ],
)
def test_a_row_is_checked_when_declared(row: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Message("x", **{"event": OrderConfirmed, "context": contexts.order_confirmed, **row})
