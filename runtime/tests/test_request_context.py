"""The request-context middleware: correlation id and trace context per request."""

import httpx
from dropwave_runtime.observability import correlation_id_var, traceparent_var
from dropwave_runtime.service import Runtime, ServiceRuntime
from dropwave_runtime.settings import ServiceSettings
from fastapi import APIRouter


async def test_request_id_becomes_the_correlation_id_and_is_echoed() -> None:
    router = APIRouter()

    @router.get("/probe")
    async def probe(rt: Runtime) -> dict[str, str | None]:
        return {
            "service": rt.service,
            "correlation_id": correlation_id_var.get(),
            "traceparent": traceparent_var.get(),
        }

    settings = ServiceSettings(
        database_url="postgresql+asyncpg://x@127.0.0.1:1/x", kafka_bootstrap_servers="127.0.0.1:1"
    )
    app = ServiceRuntime("probe", settings).create_app([router], title="probe")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
        given = await client.get("/probe", headers={"X-Request-Id": "req-1" + "x" * 200})
        minted = await client.get("/probe")
    assert given.headers["X-Request-Id"] == ("req-1" + "x" * 200)[:128]
    assert given.json()["correlation_id"] == given.headers["X-Request-Id"]
    assert given.json()["service"] == "probe"
    assert given.json()["traceparent"].startswith("00-")
    assert minted.headers["X-Request-Id"]
    assert minted.json()["correlation_id"] == minted.headers["X-Request-Id"]
    assert minted.headers["X-Request-Id"] != given.headers["X-Request-Id"]
    missing = await httpx.AsyncClient(transport=transport, base_url="http://probe").get("/nope")
    assert missing.status_code == 404
    assert missing.headers["X-Request-Id"]


async def test_requests_are_counted_and_timed_by_route_template() -> None:
    from prometheus_client import REGISTRY

    def count(route: str, status: str) -> float:
        value = REGISTRY.get_sample_value(
            "dropwave_http_requests_total", {"route": route, "method": "GET", "status": status}
        )
        return value or 0.0

    router = APIRouter()

    @router.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        return {"item": item_id}

    settings = ServiceSettings(
        database_url="postgresql+asyncpg://x@127.0.0.1:1/x", kafka_bootstrap_servers="127.0.0.1:1"
    )
    app = ServiceRuntime("probe", settings).create_app([router], title="probe")
    before_ok, before_missing = count("/items/{item_id}", "200"), count("unmatched", "404")
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
        for item in ("a", "b", "c"):
            assert (await client.get(f"/items/{item}")).status_code == 200
        assert (await client.get("/no/such/path")).status_code == 404
    assert count("/items/{item_id}", "200") == before_ok + 3  # one series, not one per id
    assert count("unmatched", "404") == before_missing + 1
    timed = REGISTRY.get_sample_value(
        "dropwave_http_request_seconds_count", {"route": "/items/{item_id}", "method": "GET"}
    )
    assert timed is not None
    assert timed >= 3
