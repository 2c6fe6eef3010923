from pathlib import Path

from dropwave_runtime import cli

from .app import create_app
from .reconcile import RECONCILE_COMMAND
from .refunds import REFUND_COMMAND
from .settings import Settings
from .settlement import SETTLEMENT_COMMAND
from .workqueue import QUEUE_COMMAND

MIGRATIONS = Path(__file__).parent / "migrations"
COMMANDS = {
    "refund": REFUND_COMMAND,
    "reconcile": RECONCILE_COMMAND,
    "settlement": SETTLEMENT_COMMAND,
    "queue": QUEUE_COMMAND,
}


if __name__ == "__main__":
    cli.run("payments", Settings, create_app, MIGRATIONS, commands=COMMANDS)
