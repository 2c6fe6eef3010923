"""DropWave's embedded dev stack: PostgreSQL, a Kafka-compatible broker, a Stripe emulator,
an SMTP sink and a Caddy gateway, each on a free port, no Docker needed.

Importing does no I/O; parts start only on ``start()`` / ``with``.
"""

from .broker import TansuBroker, create_topics
from .gateway import CaddyGateway
from .ports import free_port, wait_for_tcp
from .postgres import EmbeddedPostgres, ensure_database
from .smtp_sink import SmtpSink
from .stack import DevStack, ServiceSpec, default_services, default_topics
from .stripe_emulator import LocalStripe

__all__ = [
    "CaddyGateway",
    "DevStack",
    "EmbeddedPostgres",
    "LocalStripe",
    "ServiceSpec",
    "SmtpSink",
    "TansuBroker",
    "create_topics",
    "default_services",
    "default_topics",
    "ensure_database",
    "free_port",
    "wait_for_tcp",
]
