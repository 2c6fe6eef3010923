"""Problem responses: an unexpected exception is a 500 problem that keeps the connection, 405
keeps `Allow`, and OpenAPI declares the problems of every operation."""

import logging
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from dropwave_devstack.gateway import CaddyGateway
from dropwave_runtime.problems import PROBLEM_JSON
from dropwave_runtime.service import ServiceRuntime
from dropwave_runtime.settings import ServiceSettings
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel


class Echo(BaseModel):
    text: str


BEHIND_GATEWAY = "/api/v1/orders"
"""A prefix the gateway (deploy/gateway/Caddyfile) proxies to one upstream, ``orders``."""


def probe_app(prefix: str = "") -> FastAPI:
    """A service app with one route that fails unexpectedly and one that works."""
    router = APIRouter(prefix=prefix)

    @router.get("/boom")
    async def boom() -> dict[str, str]:
        raise RuntimeError("a bug, not the client's fault")

    @router.post("/echo")
    async def echo(body: Echo) -> Echo:
        return body

    settings = ServiceSettings(
        database_url="postgresql+asyncpg://x@127.0.0.1:1/x", kafka_bootstrap_servers="127.0.0.1:1"
    )
    return ServiceRuntime("probe", settings).create_app([router], title="probe")


def assert_internal_error(response: httpx.Response) -> None:
    assert response.status_code == 500, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["code"] == "internal_error"
    assert "a bug" not in response.text  # never the exception or a trace


async def test_an_unexpected_exception_is_a_500_problem_logged_with_its_trace(
    caplog: pytest.LogCaptureFixture,
) -> None:
    transport = httpx.ASGITransport(app=probe_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
        with caplog.at_level(logging.ERROR):
            response = await client.get("/boom", headers={"X-Request-Id": "req-boom"})
    assert_internal_error(response)
    assert response.headers["X-Request-Id"] == "req-boom"
    [record] = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)
    assert record.__dict__["path"] == "/boom"


@pytest.fixture
def served_probe() -> Iterator[int]:
    """The probe app under uvicorn (as services run) on a free port; no lifespan (no broker)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    config = uvicorn.Config(probe_app(BEHIND_GATEWAY), lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
        while not server.started:
            assert thread.is_alive()
            threading.Event().wait(0.02)
        assert client.post(f"{BEHIND_GATEWAY}/echo", json={"text": "up"}).status_code == 200
    yield port
    server.should_exit = True
    thread.join(10)
    sock.close()


@pytest.mark.timeout(60)
def test_after_a_500_the_gateway_connection_serves_the_next_requests(
    served_probe: int, tmp_path: Path
) -> None:
    """Caddy keeps its upstream connection alive; a service that closed it after a 500 made
    the next request Caddy sent on it (a POST, not retried) a 502 for an unrelated client."""
    with (
        CaddyGateway(tmp_path, {"orders": f"127.0.0.1:{served_probe}"}) as gateway,
        httpx.Client(base_url=gateway.base_url, timeout=10) as client,
    ):
        for n in range(10):
            assert_internal_error(client.get(f"{BEHIND_GATEWAY}/boom"))
            after = client.post(f"{BEHIND_GATEWAY}/echo", json={"text": f"after {n}"})
            assert after.status_code == 200, (n, after.status_code, after.text)
            assert after.json() == {"text": f"after {n}"}


async def test_405_keeps_its_allow_header() -> None:
    transport = httpx.ASGITransport(app=probe_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
        response = await client.delete("/echo")
    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["code"] == "method_not_allowed"
    assert response.headers["Allow"] == "POST"


def test_openapi_declares_problem_responses_for_every_operation() -> None:
    spec = probe_app().openapi()
    problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    operations = [op for item in spec["paths"].values() for op in item.values()]
    assert len(operations) == 5  # boom, echo, healthz, readyz, metrics
    for operation in operations:
        responses = operation["responses"]
        assert responses["4XX"]["content"] == problem
        assert responses["5XX"]["content"] == problem
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                assert response["content"] == problem, (operation["operationId"], status)
    assert spec["paths"]["/echo"]["post"]["responses"]["422"]["content"] == problem
    schemas = spec["components"]["schemas"]
    assert schemas["Problem"]["required"] == ["type", "title", "status", "code"]
    assert "HTTPValidationError" not in schemas


async def test_a_body_beyond_the_limit_is_a_413_problem() -> None:
    transport = httpx.ASGITransport(app=probe_app())
    big = b'{"text": "' + b"x" * 1_048_576 + b'"}'

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
        for start in range(0, len(big), 65_536):
            yield big[start : start + 65_536]

    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
        for response in (
            await client.post("/echo", content=big),
            await client.post("/echo", content=chunked()),
        ):
            assert response.status_code == 413, response.text
            assert response.headers["content-type"] == PROBLEM_JSON
            assert response.json()["code"] == "payload_too_large"
        fits = await client.post("/echo", json={"text": "x" * 1000})
    assert fits.status_code == 200


def test_a_domain_error_becomes_the_problem_of_its_kind() -> None:
    from dropwave_runtime.errors import Conflict, Invalid, NotAllowed, NotFound
    from dropwave_runtime.problems import problem_from

    cases = [(NotFound, 404), (NotAllowed, 403), (Conflict, 409), (Invalid, 422)]
    for kind, status in cases:
        problem = problem_from(kind("some_code", "Why, in words."), "The thing cannot be done")
        assert (problem.status, problem.code, problem.title, problem.detail) == (
            status,
            "some_code",
            "The thing cannot be done",
            "Why, in words.",
        )
    hidden = problem_from(NotAllowed("not_owner", "Not yours."), "No such campaign", status=404)
    assert hidden.status == 404
    bare = problem_from(NotFound("campaign_not_found", "No such campaign"))
    assert (bare.title, bare.detail) == ("No such campaign", None)  # the message, said once
