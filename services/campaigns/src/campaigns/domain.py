"""Campaign rules, free of I/O."""

import re
import unicodedata
from datetime import datetime, timedelta

MILESTONES = (25, 50, 75, 100)


class RuleViolation(Exception):
    """A command breaks a campaign rule; the API answers 409 with `code`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def slugify(title: str) -> str:
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    return slug[:80] or "drop"


def check_publishable(status: str, deadline: datetime, now: datetime, min_duration_s: int) -> None:
    if status != "draft":
        raise RuleViolation("not_draft", f"Only a draft can be published (status is {status}).")
    if deadline < now + timedelta(seconds=min_duration_s):
        raise RuleViolation(
            "deadline_too_soon", f"The deadline must be at least {min_duration_s}s away."
        )


def milestones_crossed(reached: list[int], current: int, min_orders: int) -> list[int]:
    """Milestones (percent of min_orders) now reached and not announced before."""
    return [p for p in MILESTONES if p not in reached and current * 100 >= p * min_orders]
