"""Direct routes answer exactly as FastAPI would, through the same middlewares, without
FastAPI's routing: the same bodies, problems, limits, request ids and metrics."""

from typing import Any

import httpx
import pytest
from dropwave_runtime.direct_routes import direct_route
from dropwave_runtime.errors import Conflict
from dropwave_runtime.problems import PROBLEM_JSON, Problem, problem_from
from dropwave_runtime.service import Runtime, ServiceRuntime
from dropwave_runtime.settings import ServiceSettings
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from prometheus_client import REGISTRY
from pydantic import BaseModel, ValidationError

router = APIRouter(prefix="/api/v1")
served: list[dict[str, Any]] = []  # each call's scope, to tell how it was reached


class Thing(BaseModel):
    size: int


async def _answer(request: Request) -> Response:
    """One body for both routes: the path's name, the body's size, or the named failure."""
    served.append(dict(request.scope))
    name = request.path_params["name"]
    if name == "missing":
        raise Problem(404, "thing_not_found", "No such thing")
    if name == "taken":
        error = Conflict("thing_taken", "That thing is taken")
        raise problem_from(error, "The thing cannot be made") from error
    if name == "bug":
        raise RuntimeError("a bug, not the client's fault")
    try:
        thing = Thing.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from exc
    return Response(f'{{"name":"{name}","size":{thing.size}}}', 201, {"Location": f"/t/{name}"})


@router.post("/direct/{name}", status_code=201)
async def make_direct(request: Request) -> Response:
    return await _answer(request)


@router.post("/routed/{name}", status_code=201)
async def make_routed(request: Request) -> Response:
    return await _answer(request)


@router.get("/direct/{name}")
async def read_direct(name: str) -> dict[str, str]:
    """The direct route's path with another method: FastAPI's to serve."""
    return {"name": name}


def _settings(**overrides: Any) -> ServiceSettings:
    return ServiceSettings(
        database_url="postgresql+asyncpg://x@127.0.0.1:1/x",
        kafka_bootstrap_servers="127.0.0.1:1",
        **overrides,
    )


@pytest.fixture
def app() -> FastAPI:
    served.clear()
    settings = _settings(max_body_bytes=1024, rate_limits={"make_direct": "4/min"})
    return ServiceRuntime("probe", settings).create_app(
        [router], title="probe", direct_routes=[make_direct]
    )


def _client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app, client=("198.51.100.7", 5000))
    return httpx.AsyncClient(transport=transport, base_url="http://probe")


async def _both(app: FastAPI, name: str, body: bytes) -> tuple[httpx.Response, httpx.Response]:
    async with _client(app) as client:
        direct = await client.post(f"/api/v1/direct/{name}", content=body)
        routed = await client.post(f"/api/v1/routed/{name}", content=body)
    return direct, routed


@pytest.mark.parametrize(
    ("name", "body", "status"),
    [
        ("a", b'{"size": 3}', 201),
        ("missing", b"{}", 404),
        ("taken", b"{}", 409),
        ("a", b'{"size": "big"}', 422),
        ("a", b"not json", 422),
        ("bug", b"{}", 500),
    ],
)
async def test_a_direct_route_answers_as_the_routed_one(
    app: FastAPI, name: str, body: bytes, status: int
) -> None:
    direct, routed = await _both(app, name, body)
    assert direct.status_code == routed.status_code == status, direct.text
    assert direct.json() == routed.json()
    for header in ("content-type", "location"):
        assert direct.headers.get(header) == routed.headers.get(header)
    if status >= 400:
        assert direct.headers["content-type"] == PROBLEM_JSON
    assert direct.headers["X-Request-Id"]
    # Reached without FastAPI's router (which puts itself in the scope); the other was not.
    direct_scope, routed_scope = served
    assert "router" not in direct_scope
    assert "router" in routed_scope
    assert direct_scope["path_params"] == routed_scope["path_params"] == {"name": name}


async def test_a_direct_route_keeps_the_limits_and_is_counted_by_its_template(
    app: FastAPI,
) -> None:
    def count(status: str) -> float:
        labels = {"route": "/api/v1/direct/{name}", "method": "POST", "status": status}
        return REGISTRY.get_sample_value("dropwave_http_requests_total", labels) or 0.0

    before = count("201")
    async with _client(app) as client:
        too_big = await client.post("/api/v1/direct/a", content=b"{" + b" " * 2000 + b"}")
        answers = [await client.post("/api/v1/direct/a", content=b'{"size":1}') for _ in range(4)]
    assert too_big.status_code == 413
    assert [a.status_code for a in answers] == [201, 201, 201, 429]  # 4/min, one was the 413
    assert answers[-1].headers["Retry-After"]
    assert count("201") == before + 3


async def test_the_direct_path_with_another_method_is_fastapis(app: FastAPI) -> None:
    async with _client(app) as client:
        read = await client.get("/api/v1/direct/a")
        wrong = await client.delete("/api/v1/direct/a")
    assert read.json() == {"name": "a"}
    assert wrong.status_code == 405
    assert "POST" in wrong.headers["Allow"]  # FastAPI's answer, as without direct routes
    assert "/api/v1/direct/{name}" in app.openapi()["paths"]


async def test_only_an_endpoint_that_takes_the_request_alone_can_be_direct() -> None:
    async def elsewhere(request: Request) -> Response:
        return Response()

    async def needs_runtime(request: Request, rt: Runtime) -> Response:
        return Response()

    needing = APIRouter()
    needing.add_api_route("/needs", needs_runtime, methods=["POST"])
    rt = ServiceRuntime("probe", _settings())
    with pytest.raises(ValueError, match="0 routes"):
        rt.create_app([router], title="probe", direct_routes=[elsewhere])
    with pytest.raises(ValueError, match="Request alone"):
        rt.create_app([needing], title="probe", direct_routes=[needs_runtime])
    assert direct_route(make_direct, router.routes).path == "/api/v1/direct/{name}"


async def test_a_catch_all_direct_route_answers_only_what_no_route_before_it_matches() -> None:
    """As FastAPI would route: the operations routes (first) and a fixed path before the
    catch-all keep their answers; every other single-segment path is the catch-all's."""
    pages = APIRouter()

    @pages.get("/static/{name}")
    async def asset(name: str) -> dict[str, str]:
        return {"asset": name}

    @pages.get("/{slug}")
    async def page(request: Request) -> Response:
        served.append(dict(request.scope))
        return Response(f"page {request.path_params['slug']}", media_type="text/plain")

    served.clear()
    app = ServiceRuntime("probe", _settings()).create_app(
        [pages], title="probe", direct_routes=[page]
    )
    async with _client(app) as client:
        health = await client.get("/healthz")
        metrics = await client.get("/metrics")
        asset_answer = await client.get("/static/app.js")
        pages_answers = [await client.get("/viral-lamp") for _ in range(2)]
        posted = await client.post("/viral-lamp")
    assert health.json()["status"] == "ok"
    assert metrics.text.startswith("#")
    assert asset_answer.json() == {"asset": "app.js"}
    assert [p.text for p in pages_answers] == ["page viral-lamp"] * 2
    assert posted.status_code == 405  # FastAPI's answer: the page is GET only
    assert len(served) == 2  # both page views, remembered or not, were served directly
    assert all("router" not in scope for scope in served)
