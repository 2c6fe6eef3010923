"""Card-testing protection: declines are held against the buyer's email and address.

Someone testing stolen card numbers places order after order and most are declined. Each
order keeps the client address it came from (``orders.client_ip``); when payments reports a
*card* decline (``PaymentFailed`` with a decline code, or a card error such as
``card_declined`` or ``incorrect_cvc``; not an outage, ``authorization_unavailable``), the
``PaymentFailed`` handler counts it in ``decline_counters`` for ``email:<address>`` and
``ip:<address>``, in the same transaction. ``DECLINE_LOCKOUT_THRESHOLD`` declines within
``DECLINE_WINDOW_S`` lock that subject out for ``DECLINE_LOCKOUT_S``: new orders from it are
refused with 429 ``too_many_declines`` and ``Retry-After``.

The order path must not pay a database round trip for this (ADR 0001, ADR 0008): each
instance keeps the set of locked subjects in memory (:class:`Lockouts`), reloaded every
``RATE_LIMIT_SYNC_S`` (a query of the few rows with ``locked_until`` in the future), so a
lockout takes effect on every instance within about a second of the decline's event.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from dropwave_runtime.client_ip import Network, in_networks
from dropwave_runtime.db import Database
from dropwave_runtime.http_limits import RateLimited
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger(__name__)

# Stripe error codes of a card that was refused (as opposed to an outage or a bad request).
CARD_ERRORS = frozenset(
    {
        "card_declined",
        "expired_card",
        "incorrect_cvc",
        "incorrect_number",
        "incorrect_zip",
        "invalid_cvc",
        "invalid_expiry_month",
        "invalid_expiry_year",
        "invalid_number",
    }
)


@dataclass(frozen=True)
class DeclinePolicy:
    threshold: int = 3
    window_s: float = 3600.0
    lockout_s: float = 3600.0


DEFAULT_POLICY = DeclinePolicy()


def is_card_decline(failure_code: str | None, decline_code: str | None) -> bool:
    return decline_code is not None or failure_code in CARD_ERRORS


def subjects(email: str | None, ip: str | None) -> list[str]:
    out = []
    if email:
        out.append(f"email:{email.strip().lower()}")
    if ip:
        out.append(f"ip:{ip}")
    return out


_RECORD = text(
    """
    INSERT INTO decline_counters AS d (subject, declines, window_started_at, locked_until)
    VALUES (
        :subject, 1, now(),
        CASE WHEN :threshold <= 1 THEN now() + make_interval(secs => :lockout) END
    )
    ON CONFLICT (subject) DO UPDATE SET
        declines = CASE WHEN d.window_started_at < now() - make_interval(secs => :window)
                        THEN 1 ELSE d.declines + 1 END,
        window_started_at = CASE WHEN d.window_started_at < now() - make_interval(secs => :window)
                                 THEN now() ELSE d.window_started_at END,
        locked_until = CASE
            WHEN (CASE WHEN d.window_started_at < now() - make_interval(secs => :window)
                       THEN 1 ELSE d.declines + 1 END) >= :threshold
            THEN GREATEST(d.locked_until, now() + make_interval(secs => :lockout))
            ELSE d.locked_until END
    """
)
_LOCKED = text(
    "SELECT subject, EXTRACT(EPOCH FROM locked_until - now())::float8 FROM decline_counters "
    "WHERE locked_until > now()"
)
_FORGET = text(
    "DELETE FROM decline_counters WHERE window_started_at < now() - make_interval(secs => :window)"
    " AND (locked_until IS NULL OR locked_until < now())"
)


async def record_decline(
    session: AsyncSession, email: str | None, ip: str | None, policy: DeclinePolicy
) -> None:
    """Count one card decline against the order's email and address (caller's transaction)."""
    for subject in subjects(email, ip):
        await session.execute(
            _RECORD,
            {
                "subject": subject[:400],
                "threshold": policy.threshold,
                "window": policy.window_s,
                "lockout": policy.lockout_s,
            },
        )


class Lockouts:
    """The subjects locked out now, as this instance last read them."""

    def __init__(
        self,
        policy: DeclinePolicy,
        exempt: tuple[Network, ...] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self.exempt = exempt
        self.clock = clock
        self._until: dict[str, float] = {}
        self._reloads = 0

    def check(self, email: str, ip: str | None) -> None:
        """Raise 429 ``too_many_declines`` if the email or the address is locked out."""
        if not self._until:
            return
        now = self.clock()
        for subject in subjects(email, None if ip is None or in_networks(ip, self.exempt) else ip):
            until = self._until.get(subject)
            if until is not None and until > now:
                raise RateLimited(
                    until - now,
                    "too_many_declines",
                    "Too many declined payments; try again later.",
                )

    async def reload(self, db: Database) -> None:
        async with db.engine.begin() as conn:
            rows = (await conn.execute(_LOCKED)).all()
            self._reloads += 1
            if self._reloads % 600 == 1:
                await conn.execute(_FORGET, {"window": self.policy.window_s})
        now = self.clock()
        self._until = {subject: now + float(left) for subject, left in rows}


RELOAD_LOG_LEVEL = logging.WARNING
"""A failed reload keeps the last lockouts: worth a warning, not an error."""


async def reload_lockouts(db: Database, lockouts: Lockouts) -> None:
    """The periodic job that keeps this instance's lockouts current."""
    await lockouts.reload(db)
