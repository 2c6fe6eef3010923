"""One way to wire a service: handlers, jobs and routes get their dependencies by name, and
a name nobody provides fails at start-up, not at the first event."""

import asyncio
import uuid
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from dropwave_contracts.events import OrderCancelled
from dropwave_runtime.bootstrap import (
    MissingDependency,
    Periodic,
    Service,
    Worker,
    inject,
    provided,
)
from dropwave_runtime.db import UnitOfWork
from dropwave_runtime.service import ServiceRuntime
from dropwave_runtime.settings import ServiceSettings
from fastapi import APIRouter

from tests.factories import event as make

pytestmark = pytest.mark.timeout(10)

SETTINGS = ServiceSettings(
    database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none",
    kafka_bootstrap_servers="127.0.0.1:1",
)


def spec(**parts: Any) -> Service[ServiceSettings]:
    return Service("probe", "probe", ServiceSettings, Path("."), **parts)


async def test_inject_binds_by_name_after_the_leading_parameters() -> None:
    async def handler(event: str, uow: str, fee_bps: int, label: str = "default") -> str:
        return f"{event} {uow} {fee_bps} {label}"

    bound = inject(handler, {"fee_bps": 250, "unrelated": object()}, leading=2)
    assert await bound("e", "u") == "e u 250 default"  # a default may stay unprovided
    assert inject(handler, {"fee_bps": 1, "label": "x"}, leading=2) is not handler


def test_a_dependency_nobody_provides_fails_fast() -> None:
    async def handler(event: str, uow: str, gateway: object) -> None: ...

    with pytest.raises(MissingDependency, match="'gateway'"):
        inject(handler, {}, leading=2)
    rt = ServiceRuntime("probe", SETTINGS)
    with pytest.raises(MissingDependency):
        rt.wire(spec(events={OrderCancelled: handler}))


async def test_wire_registers_handlers_with_their_dependencies() -> None:
    seen: list[tuple[uuid.UUID, object, object]] = []
    gateway = object()

    async def on_cancelled(event: OrderCancelled, uow: UnitOfWork, gateway: object) -> None:
        seen.append((event.order_id, uow, gateway))

    rt = ServiceRuntime("probe", SETTINGS)
    rt.wire(spec(events={OrderCancelled: on_cancelled}), gateway=gateway)
    event, uow = make(OrderCancelled), object()
    await rt._handlers[OrderCancelled](event, uow)  # type: ignore[arg-type]
    assert seen == [(event.order_id, uow, gateway)]


async def test_jobs_get_their_dependencies_and_the_runtime_ones() -> None:
    rounds: list[object] = []
    worked = asyncio.Event()

    async def tick(counter: list[object], settings: ServiceSettings) -> None:
        counter.append(settings)
        rounds.append(settings)

    async def drain(db: object, runtime: object) -> None:
        assert db is rt.db
        assert runtime is rt
        worked.set()

    rt = ServiceRuntime("probe", SETTINGS)
    rt.wire(
        spec(
            jobs=[
                Periodic("tick", tick, lambda step_s: step_s),
                Worker("drain", drain),
            ]
        ),
        counter=[],
        step_s=0.01,
    )
    assert [(t.__name__, role) for t, role in rt._background] == [
        ("tick", "worker"),
        ("drain", "worker"),
    ]
    tasks = [asyncio.create_task(t(rt)) for t, _ in rt._background]
    await asyncio.wait_for(worked.wait(), 5)
    while len(rounds) < 3:  # every 0.01 s, as the injected interval says
        await asyncio.sleep(0.01)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert rounds[0] is SETTINGS


async def test_routes_get_the_same_objects_through_provided() -> None:
    router = APIRouter()
    gateway = {"name": "the gateway"}

    @router.get("/probe")
    async def probe(gw: Annotated[dict[str, str], provided("gateway")]) -> dict[str, str]:
        return gw

    app = ServiceRuntime("probe", SETTINGS).wire(spec(routers=[router]), gateway=gateway)
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
        r = await client.get("/probe")
    assert r.json() == gateway
