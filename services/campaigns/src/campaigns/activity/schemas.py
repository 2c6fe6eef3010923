"""HTTP response bodies of the activity feed."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class ActivityEntryView(BaseModel):
    id: str
    kind: str
    message: str
    data: dict[str, Any]
    occurred_at: datetime


class ActivityPage(BaseModel):
    items: list[ActivityEntryView]
    next_cursor: str | None
