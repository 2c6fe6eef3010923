"""Activity feed and counter rules, free of I/O: entry kinds and messages, cursors, months,
conversion rate, the per-client token bucket."""

import base64
import binascii
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from dropwave_runtime.inputs import utc_instant

# Entry kinds and the public sentence each one renders to. No personal data: a buyer is
# only ever their buyer number.
MESSAGES: dict[str, str] = {
    "buyer_joined": "Buyer #{buyer_number} joined",
    "order_cancelled": "Buyer #{buyer_number} left",
    "milestone_reached": "{percent}% of the goal reached",
    "tipped": "The drop is on: {min_orders} orders reached",
    "campaign_published": "The drop is live",
    "campaign_succeeded": "The drop succeeded with {confirmed_orders} orders",
    "campaign_failed": "The drop did not reach its goal",
    "campaign_cancelled": "The drop was cancelled",
}


def message(kind: str, data: dict[str, Any]) -> str:
    try:
        return MESSAGES[kind].format(**data)
    except (KeyError, IndexError):
        return kind.replace("_", " ")


class BadCursor(ValueError):
    """A cursor we did not hand out (or one that was tampered with)."""


@dataclass(frozen=True, order=True)
class Cursor:
    """Position of an entry in the feed: keyset (occurred_at, id)."""

    occurred_at: datetime
    id: int

    MAX_ID = 2**63 - 1
    """The feed's ids are PostgreSQL bigints."""

    def encode(self) -> str:
        raw = f"{self.occurred_at.astimezone(UTC).isoformat()}|{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> "Cursor":
        if not token or len(token) > 200:
            raise BadCursor("bad cursor")
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            stamp, _, ident = raw.partition("|")
            at = utc_instant(datetime.fromisoformat(stamp))  # aware, in range
            number = int(ident) if ident.isascii() and ident.isdigit() else 0
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            raise BadCursor("bad cursor") from exc
        if not 1 <= number <= cls.MAX_ID:
            raise BadCursor("bad cursor")
        return cls(at, number)


def months_ahead(today: date, ahead: int) -> list[date]:
    """First days of the current month and the `ahead` following ones."""
    months = []
    year, month = today.year, today.month
    for _ in range(ahead + 1):
        months.append(date(year, month, 1))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def conversion_rate(confirmed_orders: int, views: int) -> float | None:
    """Confirmed orders per view; unknown (None) before the first view."""
    if views <= 0:
        return None
    return round(confirmed_orders / views, 4)


class TokenBucket:
    """Per-key token buckets: `rate` tokens per second up to `burst`, bounded in memory.

    The least recently seen keys are forgotten first when more than `max_keys` are tracked
    (a forgotten key starts again with a full bucket, which only errs on the lenient side).
    """

    def __init__(self, rate: float, burst: int, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, now: float) -> float:
        """Take one token: 0.0 when allowed, else the seconds until one is available."""
        tokens, last = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens, now)  # re-inserted: dict order is recency order
        while len(self._buckets) > self.max_keys:
            del self._buckets[next(iter(self._buckets))]
        return wait

    @staticmethod
    def retry_after(wait: float) -> int:
        """Retry-After header value (whole seconds, at least 1)."""
        return max(1, math.ceil(wait))
