"""Settings of the activity feed, live stream and counters (environment, read at start-up).

Kept apart from `settings.Settings` so this feature can be tuned and evolve on its own;
every field has a safe default.
"""

import ipaddress
from functools import cached_property

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ActivitySettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    # POST /views and /shares: a token bucket per client IP (per process).
    counter_rate_per_s: float = Field(2.0, gt=0)
    counter_burst: int = Field(20, ge=1)
    # Who may tell us the client's address in X-Forwarded-For (the gateway); comma-separated.
    trusted_proxies: str = "127.0.0.1/32,::1/128"
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

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        _parse(value)  # fail at start-up, not at the first request
        return value

    @cached_property
    def trusted_networks(self) -> tuple[Network, ...]:
        return _parse(self.trusted_proxies)


def _parse(value: str) -> tuple[Network, ...]:
    return tuple(
        ipaddress.ip_network(part.strip(), strict=False)
        for part in value.split(",")
        if part.strip()
    )
