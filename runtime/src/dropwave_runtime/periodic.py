"""Periodic jobs: a round now, then one every interval, for the life of the process.

A background task of a service (``rt.background``) that does one thing on a schedule is
``await every(interval_s, round, name=...)``: a failing round is logged with the job's name
and the next one comes on time (the database may be briefly away; nothing is lost), and
cancellation (shutdown) goes straight through.
"""

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import NoReturn

log = logging.getLogger(__name__)


def _delay(interval_s: float | Callable[[], float], jitter: float) -> float:
    base = interval_s() if callable(interval_s) else interval_s
    return base * (1 + random.uniform(-jitter, jitter)) if jitter else base


async def every(
    interval_s: float | Callable[[], float],
    round: Callable[[], Awaitable[object]],
    *,
    name: str,
    jitter: float = 0.0,
    first_at_start: bool = True,
    logger: logging.Logger | None = None,
    level: int = logging.ERROR,
) -> NoReturn:
    """Run ``round()`` every ``interval_s`` seconds (a callable: read before each sleep)
    until cancelled; the first round at start, or after one interval (``first_at_start``).

    A round that raises is logged on ``logger`` at ``level`` (``"<name> failed"`` with the
    traceback and ``job=<name>``) and the job goes on; ``CancelledError`` propagates. Each
    sleep is the interval times ``1 ± jitter`` (uniform; 0: exactly the interval), so the
    instances of a service drift apart instead of polling in step.
    """
    out = logger or log
    if not first_at_start:
        await asyncio.sleep(_delay(interval_s, jitter))
    while True:
        try:
            await round()
        except Exception:
            out.log(level, "%s failed", name, exc_info=True, extra={"job": name})
        await asyncio.sleep(_delay(interval_s, jitter))
