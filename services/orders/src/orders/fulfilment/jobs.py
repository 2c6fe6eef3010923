"""Erasing buyers' personal data once it is no longer needed (every ``pii_erase_interval_s``)."""

from datetime import datetime

from dropwave_runtime.db import Database
from dropwave_runtime.retention import erase_due

from ..settings import Settings
from . import handlers


async def erase_expired(db: Database, settings: Settings, now: datetime | None = None) -> int:
    """Orders' personal data of campaigns closed ``PII_RETENTION_DAYS`` ago; returns the
    orders erased."""
    return await erase_due(db, handlers.erase_personal_data, settings.pii_retention_days, now)
