"""``python -m notifications serve | migrate | dlq``."""

from pathlib import Path

from dropwave_runtime import cli

from .app import create_app
from .settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"

cli.run("notifications", Settings, create_app, MIGRATIONS)
