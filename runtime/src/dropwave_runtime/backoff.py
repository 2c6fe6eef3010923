"""The one retry-delay formula: exponential in the attempt, capped, optionally jittered."""

import random


def exponential(
    attempt: int, base_s: float, max_s: float, *, low: float = 1.0, high: float = 1.0
) -> float:
    """The wait after the ``attempt``-th failure (1-based): ``base_s · 2^(attempt-1)``
    capped at ``max_s``, times a factor drawn uniformly from ``[low, high]`` so that many
    retriers of one outage do not come back in step (``low == high == 1``: no jitter)."""
    delay = min(base_s * 2.0 ** min(max(attempt - 1, 0), 60), max_s)
    return delay if low == high == 1.0 else delay * random.uniform(low, high)
