from pathlib import Path

from dropwave_runtime import cli

from .app import create_app
from .settings import Settings

cli.run("orders", Settings, create_app, Path(__file__).parent / "migrations")
