"""Events for tests: ``event(OrderPlaced, order_id=..., buyer_number=3)``.

A test names the fields it is about; every other required field gets a plain valid value
(the envelope's ``producer`` is the event's topic's producer, ids are fresh, times are now,
amounts and counts are 1). Builders of a whole flow (notifications' ``Drop``) stay with their
tests; this is for the one event a test needs.
"""

import types
import typing
import uuid
from datetime import UTC, datetime
from typing import Any, TypeVar

from dropwave_contracts.envelope import Event
from dropwave_contracts.topics import topic_for
from pydantic.fields import FieldInfo

E = TypeVar("E", bound=Event)

_BY_NAME: dict[str, object] = {
    "correlation_id": "test",
    "currency": "usd",
    "buyer_email": "buyer@example.com",
    "creator_email": "creator@example.com",
    "payment_method_id": "pm_card_visa",
    "creator_id": "creator-1",
    "slug": "a-drop",
    "title": "A drop",
}


def _plain(name: str, info: FieldInfo) -> object:
    """A valid value for a required field, by name first, then by type."""
    if name in _BY_NAME:
        return _BY_NAME[name]
    annotation = info.annotation
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return args[0]
    if origin in (typing.Union, types.UnionType):
        if type(None) in args:
            return None
        annotation = args[0]
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if annotation is uuid.UUID:
        return uuid.uuid4()
    if annotation is datetime or "datetime" in str(annotation).lower():
        return datetime.now(UTC)
    if annotation is bool:
        return False
    if annotation is int:
        return 1
    if annotation is str:
        return name
    if typing.get_origin(annotation) in (list, tuple, frozenset, set):
        return typing.get_origin(annotation)()  # an empty collection
    raise TypeError(f"tests/factories.py: no plain value for {name}: {annotation!r}; pass it")


def event(cls: type[E], **fields: Any) -> E:
    """An event of ``cls`` with ``fields``, every other required field a plain value."""
    values: dict[str, Any] = {"producer": topic_for(cls).producer}
    for name, info in cls.model_fields.items():
        if info.is_required() and name not in fields and name not in values:
            values[name] = _plain(name, info)
    return cls(**(values | fields))
