"""Limits that stop abuse, through the gateway of the e2e stack, at their defaults: the
e2e conftest raises only the routes other tests hammer from 127.0.0.1; these requests come
from other loopback addresses, each a visitor of its own with a fresh budget."""

import socket
import time
import uuid

import httpx
import pytest
from dropwave_devstack.stack import DevStack

pytestmark = pytest.mark.e2e

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


def visitor(stack: DevStack, address: str) -> httpx.Client:
    """A client whose connections come from ``address`` (any 127.x.y.z is this machine)."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=stack.base_url, transport=transport, timeout=10)


def test_default_rate_limit_per_visitor_through_the_gateway(stack: DevStack) -> None:
    """100 requests a minute per client address and route by default, then 429 with
    Retry-After; the gateway tells the services who the visitor is, and a visitor cannot
    pass for another by sending its own X-Forwarded-For."""
    path = "/api/v1/notifications/unsubscribe"  # a route left at the default
    params = {"token": "not-a-real-token-" + uuid.uuid4().hex[:8]}
    with visitor(stack, "127.0.0.2") as mallory, visitor(stack, "127.0.0.3") as alice:
        # A GCRA bucket: a burst of 100, then one more every 0.6 s. On a slow machine some
        # refill while the burst is sent, so count up to the first refusal and bound it.
        started = time.monotonic()
        answers = []
        while (refused := mallory.get(path, params=params)).status_code != 429:
            answers.append(refused)
            assert len(answers) <= 200, "never refused"
        refilled = (time.monotonic() - started) / 0.6
        assert {a.status_code for a in answers} == {400}  # bad links, but answered
        assert 100 <= len(answers) <= 100 + refilled + 1
        assert refused.headers["Content-Type"] == "application/problem+json"
        assert refused.json()["code"] == "rate_limited"
        assert 0 < int(refused.headers["Retry-After"]) <= 60
        for name, value in SECURITY_HEADERS.items():
            assert refused.headers[name] == value
        spoofed = mallory.get(path, params=params, headers={"X-Forwarded-For": "198.51.100.9"})
        assert spoofed.status_code == 429
        assert alice.get(path, params=params).status_code == 400  # her own budget


def test_security_headers_on_every_answer(stack: DevStack, api: httpx.Client) -> None:
    for response in (api.get("/healthz"), api.get("/api/v1/campaigns/no-such-drop")):
        for name, value in SECURITY_HEADERS.items():
            assert response.headers[name] == value, (response.url, name)
        assert "Strict-Transport-Security" not in response.headers  # production only
    # A page (the storefront's 404) keeps its own policies; the gateway adds what it lacks.
    page = api.get("/nowhere")
    assert page.status_code == 404
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Content-Security-Policy"] != SECURITY_HEADERS["Content-Security-Policy"]
    assert page.headers["Referrer-Policy"] in ("no-referrer", "strict-origin-when-cross-origin")
    assert "Strict-Transport-Security" not in page.headers


def _raw_huge_declared_body(host: str, port: int, path: str) -> bytes:
    """Claim a 1 GB body, send 3 bytes, and read the whole answer: headers and body may come
    in separate segments (bounded by the socket timeout; a server waiting for the body would
    make this fail, not hang)."""
    with socket.create_connection((host, port), timeout=10) as raw:
        raw.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            'Idempotency-Key: k-huge\r\nContent-Length: 1000000000\r\n\r\n{"e'.encode()
        )
        answer = raw.recv(4096)  # within the 10 s, or TimeoutError: it waited for the body
        raw.settimeout(2)  # the rest of the answer follows at once
        try:
            while len(answer) < 65_536 and (chunk := raw.recv(4096)):
                answer += chunk  # until the server closes (Connection: close)
        except TimeoutError:
            pass  # a connection kept open: what came is the answer
        return answer


def test_request_bodies_are_refused_before_they_are_read(stack: DevStack) -> None:
    path = "/api/v1/campaigns/some-drop/orders"
    with visitor(stack, "127.0.0.4") as client:
        big = client.post(path, content=b"x" * (100 * 1024), headers={"Idempotency-Key": "k"})
        assert big.status_code == 413
        assert big.json()["code"] == "payload_too_large"
    assert stack.gateway is not None
    at_gateway = _raw_huge_declared_body(stack.gateway.host, stack.gateway.port, path)
    assert at_gateway.startswith(b"HTTP/1.1 413"), at_gateway[:200]
    # Straight at the orders service (as if the gateway let it through): the same, at once.
    orders = stack.services["orders"]
    at_service = _raw_huge_declared_body("127.0.0.1", orders.port, path)
    assert at_service.startswith(b"HTTP/1.1 413"), at_service[:200]
    assert b"payload_too_large" in at_service
