from pathlib import Path

from dropwave_runtime import cli

from .app import create_app
from .settings import Settings
from .settlement import SETTLEMENT_COMMAND

MIGRATIONS = Path(__file__).parent / "migrations"
COMMANDS = {"settlement": SETTLEMENT_COMMAND}

if __name__ == "__main__":
    cli.run("payments", Settings, create_app, MIGRATIONS, commands=COMMANDS)
