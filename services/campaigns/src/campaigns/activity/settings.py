"""Settings of the activity feed, live stream and counters (environment, read at start-up),
and the feature's shared parts built from them.

Kept apart from campaigns' `settings.Settings` so this feature can be tuned and evolve on
its own; every field has a safe default.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from .domain import TokenBucket
from .live import LiveHub


class ActivitySettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    # POST /views and /shares: a token bucket per client IP (per process).
    counter_rate_per_s: float = Field(2.0, gt=0)
    counter_burst: int = Field(20, ge=1)
    # (Who may tell the client's address in X-Forwarded-For is the runtime's TRUSTED_PROXIES.)
    # How often pending view/share hits are folded into the totals.
    counter_rollup_interval_s: float = Field(1.0, gt=0)
    # Activity partitions: this month plus this many ahead, checked this often.
    activity_partitions_ahead: int = Field(2, ge=1, le=24)
    activity_partition_check_s: float = Field(3600.0, gt=0)
    # Live stream: per-client queue (a client that falls this far behind is dropped),
    # heartbeat, longest connection (the browser reconnects with Last-Event-ID), cap.
    live_queue_size: int = Field(100, ge=1)
    live_heartbeat_s: float = Field(15.0, gt=0)
    live_max_connection_s: float = Field(600.0, gt=0)
    live_max_clients: int = Field(10_000, ge=1)
    # ... and per client address, in each process (a browser needs one per open page).
    live_max_clients_per_ip: int = Field(20, ge=1)


@dataclass
class ActivityFeature:
    """What the feed's routes and jobs share, built from its settings (the bootstrap
    provides it as ``feed``)."""

    settings: ActivitySettings
    hub: LiveHub
    limiter: TokenBucket
    clock: Callable[[], float] = field(default=time.monotonic)

    @classmethod
    def from_settings(cls, settings: ActivitySettings) -> "ActivityFeature":
        hub = LiveHub(
            settings.live_queue_size, settings.live_max_clients, settings.live_max_clients_per_ip
        )
        return cls(settings, hub, TokenBucket(settings.counter_rate_per_s, settings.counter_burst))
