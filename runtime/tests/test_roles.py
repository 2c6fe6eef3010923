"""``serve --role api|worker|all``: the web and the workers of a service scale apart.

An api process serves the routes and runs the jobs its requests depend on, and never
touches the broker; a worker process runs the consumers, the outbox relay and the
background jobs, with only the operations routes over HTTP.
"""

import asyncio
from pathlib import Path

import httpx
import pytest
from dropwave_runtime.bootstrap import Periodic, Service, Worker
from dropwave_runtime.cli import run
from dropwave_runtime.service import ServiceRuntime
from dropwave_runtime.settings import ServiceSettings
from fastapi import APIRouter, FastAPI

pytestmark = pytest.mark.timeout(60)


def spec(ran: set[str]) -> Service[ServiceSettings]:
    router = APIRouter()

    @router.get("/api/v1/probe")
    async def probe() -> dict[str, str]:
        return {"probe": "ok"}

    async def api_job() -> None:
        ran.add("api job")
        await asyncio.Event().wait()

    async def worker_round() -> None:
        ran.add("worker job")

    return Service(
        "campaigns",
        "probe",
        ServiceSettings,
        Path("."),
        routers=[router],
        jobs=[
            Worker("feeds the requests", api_job, role="api"),
            Periodic("background", worker_round, lambda: 60.0),
        ],
    )


async def serve(app: FastAPI) -> dict[str, httpx.Response]:
    transport = httpx.ASGITransport(app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://svc") as client,
    ):
        await asyncio.sleep(0.3)  # the jobs' first rounds
        return {p: await client.get(p) for p in ("/api/v1/probe", "/healthz", "/readyz")}


async def test_an_api_process_serves_routes_and_never_touches_the_broker(
    plumbing_database: str,
) -> None:
    ran: set[str] = set()
    settings = ServiceSettings(
        database_url=plumbing_database,
        kafka_bootstrap_servers="127.0.0.1:1",  # nothing listens: an api process never asks
        role="api",
    )
    runtime = ServiceRuntime("campaigns", settings)
    answers = await asyncio.wait_for(serve(runtime.wire(spec(ran))), 20)
    assert answers["/api/v1/probe"].json() == {"probe": "ok"}
    assert answers["/readyz"].json()["checks"] == {"database": "ok"}
    assert ran == {"api job"}
    assert runtime.consumer is None


async def test_a_worker_process_runs_the_background_and_only_operations_routes(
    plumbing_database: str, kafka_bootstrap: str
) -> None:
    ran: set[str] = set()
    settings = ServiceSettings(
        database_url=plumbing_database, kafka_bootstrap_servers=kafka_bootstrap, role="worker"
    )
    answers = await serve(ServiceRuntime("campaigns", settings).wire(spec(ran)))
    assert answers["/api/v1/probe"].status_code == 404
    assert answers["/healthz"].status_code == 200
    assert answers["/readyz"].json()["checks"] == {"database": "ok", "broker": "ok"}
    assert ran == {"worker job"}


async def test_all_runs_both(plumbing_database: str, kafka_bootstrap: str) -> None:
    ran: set[str] = set()
    settings = ServiceSettings(
        database_url=plumbing_database, kafka_bootstrap_servers=kafka_bootstrap
    )
    answers = await serve(ServiceRuntime("campaigns", settings).wire(spec(ran)))
    assert answers["/api/v1/probe"].status_code == 200
    assert ran == {"api job", "worker job"}


def test_serve_role_overrides_the_setting(tmp_path: Path) -> None:
    seen: list[str] = []

    def bootstrap(settings: ServiceSettings) -> FastAPI:
        seen.append(settings.role)
        raise SystemExit(0)  # not start a server

    def load() -> ServiceSettings:
        return ServiceSettings(
            database_url="postgresql+asyncpg://x@h/db", kafka_bootstrap_servers="h:9"
        )

    service = Service("svc", "svc", load, tmp_path)
    for argv in (["serve", "--role", "worker"], ["serve"]):
        with pytest.raises(SystemExit):
            run(service, bootstrap, argv)
    assert seen == ["worker", "all"]
    with pytest.raises(SystemExit) as refused:
        run(service, bootstrap, ["serve", "--role", "web"])
    assert refused.value.code == 2
