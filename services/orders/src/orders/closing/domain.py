"""The closing tally's rules, free of I/O."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

AUTHORIZING = frozenset({"pending", "requires_action"})
"""Order statuses still waiting for their authorization's outcome."""

STANDING = frozenset({"authorized"})
"""Order statuses that count towards the minimum at the closing tally."""


@dataclass(frozen=True)
class Tally:
    """A campaign's orders by outcome at the close (see ``OrdersTallied``)."""

    placed: int
    standing: int
    cancelled: int
    failed: int
    authorizing: int

    @classmethod
    def of(cls, by_status: Mapping[str, int]) -> "Tally":
        return cls(
            placed=sum(by_status.values()),
            standing=sum(n for s, n in by_status.items() if s in STANDING),
            cancelled=by_status.get("cancelled", 0),
            failed=by_status.get("failed", 0),
            authorizing=sum(n for s, n in by_status.items() if s in AUTHORIZING),
        )


def tally_ready(authorizing: int, deadline: datetime, now: datetime, max_wait_s: float) -> bool:
    """The tally is final once no order is still authorizing, or at the latest `max_wait_s`
    after the deadline (a buyer who never finishes 3-D Secure does not hold the drop up;
    such an order is cancelled and does not stand)."""
    return authorizing == 0 or now >= deadline + timedelta(seconds=max_wait_s)
