"""Settings every service shares; each service subclasses and adds its own.

Values come from the environment (12-factor). Required values have no default so a
misconfigured process fails at start-up with a clear message, not at the first request.
"""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    database_url: str = Field(description="SQLAlchemy URL, postgresql+asyncpg://...")
    kafka_bootstrap_servers: str = Field(description="host:port[,host:port]")
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    log_level: str = "INFO"
    kafka_session_timeout_ms: int = Field(10_000, ge=6_000)
    # Bounded retries before a message goes to the dead-letter topic.
    consumer_max_attempts: int = Field(4, ge=1, le=20)
    consumer_backoff_base_s: float = Field(0.2, gt=0)
    consumer_backoff_max_s: float = Field(5.0, gt=0)
    # Records per poll, and handlers run at once (events of different orders of one
    # campaign run side by side; see dropwave_contracts.envelope). Keep it below the pool.
    consumer_batch_max: int = Field(200, ge=1, le=10_000)
    consumer_concurrency: int = Field(8, ge=1, le=256)
    consumer_poll_timeout_ms: int = Field(100, ge=1, le=10_000)
    outbox_batch_size: int = Field(500, ge=1, le=10_000)
    outbox_poll_interval_s: float = Field(1.0, gt=0)
    db_pool_size: int = Field(10, ge=1)
    # A database that is down or hung answers within these bounds (then 503
    # database_unavailable); see db.DatabaseTimeouts.
    db_connect_timeout_s: float = Field(5.0, gt=0, le=300)
    db_pool_timeout_s: float = Field(5.0, gt=0, le=300)
    db_statement_timeout_s: float = Field(10.0, gt=0, le=3600)
    # Young-generation GC threshold for `serve` (CPython's default is 700): see cli.tune_gc.
    gc_gen0_threshold: int = Field(50_000, ge=100, le=10_000_000)
