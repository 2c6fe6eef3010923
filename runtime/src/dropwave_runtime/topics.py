"""Create the registry's topics explicitly (never rely on broker auto-creation).

    python -m dropwave_runtime.topics [--replication-factor 3]

Used by deployments (a one-shot job before the services start) and by the dev stack.
Idempotent: existing topics are left alone.
"""

import argparse
import asyncio
import os
from collections.abc import Iterable
from typing import Protocol

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code


class TopicSpecLike(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def partitions(self) -> int: ...


async def create_topics(
    bootstrap_servers: str, specs: Iterable[TopicSpecLike], replication_factor: int = 1
) -> list[str]:
    """Create the topics that don't exist yet; returns the names actually created."""
    wanted = {spec.name: int(spec.partitions) for spec in specs}
    if not wanted:
        return []
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=15_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name=name, num_partitions=parts, replication_factor=replication_factor)
            for name, parts in wanted.items()
            if name not in existing
        ]
        if not missing:
            return []
        response = await admin.create_topics(missing)
        created: list[str] = []
        for topic_error in response.topic_errors:
            name, code = topic_error[0], topic_error[1]
            if code == 0:
                created.append(name)
            elif code != TopicAlreadyExistsError.errno:
                message = topic_error[2] if len(topic_error) > 2 else ""
                raise for_code(code)(f"creating topic {name!r}: {message}")
        return created
    finally:
        await admin.close()


def main(argv: list[str] | None = None) -> None:
    from dropwave_contracts.topics import all_topic_specs

    parser = argparse.ArgumentParser(prog="python -m dropwave_runtime.topics")
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"))
    parser.add_argument("--replication-factor", type=int, default=1)
    args = parser.parse_args(argv)
    if not args.bootstrap:
        parser.error("set KAFKA_BOOTSTRAP_SERVERS or --bootstrap")
    created = asyncio.run(create_topics(args.bootstrap, all_topic_specs(), args.replication_factor))
    print(f"created {len(created)} topic(s): {', '.join(created) or '-'}")


if __name__ == "__main__":
    main()
