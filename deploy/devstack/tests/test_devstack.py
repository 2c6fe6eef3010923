"""Every devstack part started for real and exercised the way DropWave uses it."""

from __future__ import annotations

import asyncio
import json
import os
import select
import smtplib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe
from dropwave_devstack.__main__ import main
from dropwave_devstack.broker import TansuBroker
from dropwave_devstack.gateway import CADDYFILE, CaddyGateway, GatewayTimeouts
from dropwave_devstack.ports import free_port, wait_for_tcp
from dropwave_devstack.postgres import EmbeddedPostgres, admin_dsn_from_url, to_asyncpg_dsn
from dropwave_devstack.smtp_sink import SmtpSink
from dropwave_devstack.stack import DEV_SECRETS, DevStack, ServiceSpec, parse_scale
from dropwave_devstack.stripe_emulator import LocalStripe

pytestmark = pytest.mark.timeout(60)

TESTS_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int


# -- fixtures: one instance of each part for the whole module ---------------------------------


@pytest.fixture(scope="module")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    with EmbeddedPostgres(tmp_path_factory.mktemp("pg")) as server:
        yield server


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    with TansuBroker(tmp_path_factory.mktemp("tansu")) as server:
        yield server


@pytest.fixture(scope="module")
def localstripe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStripe]:
    with LocalStripe(tmp_path_factory.mktemp("localstripe")) as server:
        yield server


@pytest.fixture(scope="module")
def smtp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpSink]:
    with SmtpSink(tmp_path_factory.mktemp("smtp")) as server:
        yield server


class _Recorder(BaseHTTPRequestHandler):
    """Replies with JSON naming the server (``server.tag``) and what it received."""

    def do_GET(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.headers.get("Transfer-Encoding") == "chunked":
            while size := int(self.rfile.readline().split(b";")[0], 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
        self.server.received.append((self.path, dict(self.headers), body))  # type: ignore[attr-defined]
        data = json.dumps(
            {
                "tag": self.server.tag,  # type: ignore[attr-defined]
                "path": self.path,
                "request_id": self.headers.get("X-Request-Id"),
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_POST = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def http_servers() -> Iterator[dict[str, ThreadingHTTPServer]]:
    servers: dict[str, ThreadingHTTPServer] = {}
    for tag in ("orders", "payments", "campaigns", "storefront"):
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
        server.tag = tag  # type: ignore[attr-defined]
        server.received = []  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers[tag] = server
    yield servers
    for server in servers.values():
        server.shutdown()
        server.server_close()


def _addr(server: ThreadingHTTPServer) -> str:
    return f"127.0.0.1:{server.server_address[1]}"


# -- ports -------------------------------------------------------------------------------------


def test_free_port_and_wait_for_tcp() -> None:
    port = free_port()
    assert 1024 < port < 65536
    with pytest.raises(TimeoutError):
        wait_for_tcp("127.0.0.1", port, timeout=0.2)


# -- postgres ----------------------------------------------------------------------------------


async def test_postgres_accepts_queries_per_database(pg: EmbeddedPostgres) -> None:
    import asyncpg  # type: ignore[import-untyped,unused-ignore]

    assert pg.create_database("orders") is True
    assert pg.create_database("orders") is False  # idempotent
    url = pg.url("orders")
    assert url == f"postgresql+asyncpg://postgres@127.0.0.1:{pg.port}/orders"
    conn = await asyncpg.connect(to_asyncpg_dsn(url))
    try:
        assert await conn.fetchval("SELECT current_database()") == "orders"
        await conn.execute("CREATE TABLE t (id int primary key)")
        await conn.execute("INSERT INTO t VALUES (1)")
        assert await conn.fetchval("SELECT count(*) FROM t") == 1
    finally:
        await conn.close()


def test_postgres_restarts_on_existing_cluster(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path)
    server.start()
    server.create_database("kept")
    server.stop()
    server.stop()  # idempotent
    assert not server.running
    with EmbeddedPostgres(tmp_path) as again:
        assert again.create_database("kept") is False


def test_admin_dsn_from_url() -> None:
    assert (
        admin_dsn_from_url("postgresql+asyncpg://u:p@h:5/orders?ssl=require")
        == "postgresql://u:p@h:5/postgres?ssl=require"
    )


# -- tansu -------------------------------------------------------------------------------------


async def test_tansu_topics_produce_consume(broker: TansuBroker) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    specs = [Topic("devstack.test", 3), Topic("devstack.other", 1)]
    assert sorted(broker.create_topics(specs)) == ["devstack.other", "devstack.test"]
    assert broker.create_topics(specs) == []  # idempotent

    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait("devstack.test", b"hello", key=b"campaign-1")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        "devstack.test",
        bootstrap_servers=broker.bootstrap_servers,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        msg = await asyncio.wait_for(consumer.getone(), 10)
    finally:
        await consumer.stop()
    assert (msg.key, msg.value) == (b"campaign-1", b"hello")


def test_tansu_refuses_taken_port(broker: TansuBroker, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="exited"):
        TansuBroker(tmp_path, port=broker.port).start()


# -- localstripe -------------------------------------------------------------------------------

PI: Any = {
    "amount": 2500,
    "currency": "usd",
    "payment_method": "pm_card_visa",
    "capture_method": "manual",
    "confirm": True,
}


def _shared_pickle_mtime() -> float | None:
    shared = Path("/tmp/localstripe.pickle")  # noqa: S108 - upstream's hard-coded path
    return shared.stat().st_mtime if shared.exists() else None


def test_localstripe_manual_capture_with_real_sdk(localstripe: LocalStripe) -> None:
    pickle_before = _shared_pickle_mtime()
    client = stripe.StripeClient(
        api_key="sk_test_devstack", base_addresses={"api": localstripe.api_base}
    )
    intent = client.v1.payment_intents.create(params=PI)
    assert intent.status == "requires_capture"
    captured = client.v1.payment_intents.capture(intent.id)
    assert captured.status == "succeeded"

    other = client.v1.payment_intents.create(params=PI)
    assert client.v1.payment_intents.cancel(other.id).status == "canceled"

    with pytest.raises(stripe.CardError) as declined:
        client.v1.payment_intents.create(
            params={
                "amount": 2500,
                "currency": "usd",
                "payment_method": "pm_card_chargeCustomerFail",
                "capture_method": "manual",
                "confirm": True,
            }
        )
    assert declined.value.http_status == 402
    assert declined.value.code == "card_declined"
    # The launcher keeps the store in memory: upstream's shared pickle file is not touched.
    assert _shared_pickle_mtime() == pickle_before


async def test_localstripe_async_sdk(localstripe: LocalStripe) -> None:
    client = stripe.StripeClient(
        api_key="sk_test_devstack",
        base_addresses={"api": localstripe.api_base},
        http_client=stripe.HTTPXClient(),
    )
    intent = await client.v1.payment_intents.create_async(params=PI)
    assert intent.status == "requires_capture"
    captured = await client.v1.payment_intents.capture_async(intent.id)
    assert captured.status == "succeeded"


def test_localstripe_signed_webhook(
    localstripe: LocalStripe, http_servers: dict[str, ThreadingHTTPServer]
) -> None:
    target = http_servers["payments"]
    localstripe.register_webhook(
        f"http://{_addr(target)}/api/v1/webhooks/stripe",
        "whsec_test",
        events=["payment_intent.succeeded"],
    )
    client = stripe.StripeClient(api_key="sk_test_x", base_addresses={"api": localstripe.api_base})
    intent = client.v1.payment_intents.create(params=PI)
    client.v1.payment_intents.capture(intent.id)
    received: list[tuple[str, dict[str, str], bytes]] = target.received  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10
    ours: list[stripe.Event] = []
    while not ours and time.monotonic() < deadline:
        time.sleep(0.05)
        # Events of earlier tests may arrive too (localstripe delivers ~1 s after the fact).
        for _path, headers, body in list(received):
            event = stripe.Webhook.construct_event(body, headers["Stripe-Signature"], "whsec_test")
            if event.data.object["id"] == intent.id:
                ours.append(event)
    assert ours, f"no webhook for {intent.id} delivered"
    assert ours[0].type == "payment_intent.succeeded"
    assert ours[0].data.object["status"] == "succeeded"


# -- smtp sink ---------------------------------------------------------------------------------


def test_smtp_sink_stores_mail(smtp: SmtpSink) -> None:
    msg = EmailMessage()
    msg["From"] = "drops@dropwave.test"
    msg["To"] = "buyer@example.test"
    msg["Subject"] = "Your order ✓"
    msg.set_content("Thanks for joining the drop.")
    with smtplib.SMTP(smtp.host, smtp.port, timeout=10) as client:
        client.send_message(msg)
    messages = smtp.messages()
    assert len(messages) == 1
    got = messages[0]
    assert got["Subject"] == "Your order ✓"
    assert got["X-Envelope-To"] == "buyer@example.test"
    body = got.get_body(("plain",))
    assert body is not None
    assert "Thanks for joining" in body.get_content()
    assert not list(smtp.maildir.glob(".*.tmp"))


def test_smtp_sink_parses_each_stored_message_once(
    smtp: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    def send(n: int) -> None:
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "d@dropwave.test", "b@example.test", f"#{n}"
        msg.set_content("hi")
        with smtplib.SMTP(smtp.host, smtp.port, timeout=10) as client:
            client.send_message(msg)

    smtp.clear()
    send(1)
    send(2)
    assert [m["Subject"] for m in smtp.messages()] == ["#1", "#2"]
    parsed: list[object] = []
    real_parse = BytesParser.parse

    def counted(self: BytesParser, f: Any) -> Any:
        parsed.append(f)
        return real_parse(self, f)

    monkeypatch.setattr(BytesParser, "parse", counted)
    send(3)
    assert [m["Subject"] for m in smtp.messages()] == ["#1", "#2", "#3"]
    assert len(parsed) == 1  # only the new one
    smtp.clear()
    assert smtp.messages() == []


# -- caddy -------------------------------------------------------------------------------------


def test_gateway_routes_by_path(
    tmp_path: Path, http_servers: dict[str, ThreadingHTTPServer]
) -> None:
    upstreams = {
        t: _addr(http_servers[t]) for t in ("orders", "payments", "campaigns", "storefront")
    }
    expected = {
        "/a-drop": "storefront",  # every path outside /api/: the buyers' pages
        "/static/storefront.0123abcd.css": "storefront",
        "/api/v1/campaigns": "campaigns",
        "/api/v1/campaigns/c1": "campaigns",
        "/api/v1/campaigns/c1/orders": "orders",
        "/api/v1/campaigns/c1/orders?limit=5": "orders",
        "/api/v1/orders/o1": "orders",
        "/api/v1/webhooks/stripe": "payments",
    }
    gw = CaddyGateway(tmp_path, upstreams)
    with gw, httpx.Client(base_url=gw.base_url, timeout=5) as http:
        assert http.get("/healthz").status_code == 200
        for path, tag in expected.items():
            response = http.get(path)
            assert response.status_code == 200, path
            assert response.json()["tag"] == tag, path
            assert response.json()["path"] == path
            assert response.headers["X-Request-Id"] == response.json()["request_id"]
        kept = http.get("/api/v1/orders/o1", headers={"X-Request-Id": "rid-1"})
        assert kept.json()["request_id"] == "rid-1"
        assert kept.headers["X-Request-Id"] == "rid-1"
        missing = http.get("/api/nowhere")
        assert missing.status_code == 404
        assert missing.json()["code"] == "not_found"
    assert not gw.running


def test_gateway_limits_bodies_and_sets_security_headers(
    tmp_path: Path, http_servers: dict[str, ThreadingHTTPServer]
) -> None:
    orders = http_servers["orders"]
    gw = CaddyGateway(tmp_path, {"orders": _addr(orders)})
    with gw, httpx.Client(base_url=gw.base_url, timeout=5) as http:
        fine = http.post("/api/v1/orders/o1", content=b"x" * 65536)  # the Caddyfile's 64 KiB
        assert fine.status_code == 200
        for response in (fine, http.get("/api/nowhere"), http.get("/healthz")):
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert response.headers["Referrer-Policy"] == "no-referrer"
            csp = response.headers["Content-Security-Policy"]
            assert csp == "default-src 'none'; frame-ancestors 'none'"
            assert "Strict-Transport-Security" not in response.headers  # production only
        big = http.post("/api/v1/orders/o1", content=b"x" * 65537)
        assert big.status_code == 413
        assert big.headers["Content-Type"] == "application/problem+json"
        assert big.json()["code"] == "payload_too_large"
        assert big.headers["X-Content-Type-Options"] == "nosniff"

        def chunks() -> Iterator[bytes]:
            for _ in range(65):
                yield b"x" * 1024

        streamed = http.post("/api/v1/orders/o1", content=chunks())  # chunked, no length
        assert streamed.status_code == 413
        # A huge declared body, barely begun: refused at once, nothing proxied.
        with socket.create_connection((gw.host, gw.port), timeout=10) as raw:
            raw.sendall(
                b"POST /api/v1/orders/o1 HTTP/1.1\r\nHost: gw\r\n"
                b"Content-Length: 1000000000\r\n\r\nabc"
            )
            head = raw.recv(4096)
        assert head.startswith(b"HTTP/1.1 413"), head
    assert [path for path, _, _ in orders.received] == ["/api/v1/orders/o1"]  # only `fine`


def test_gateway_cuts_off_a_client_that_sends_its_headers_slowly(
    tmp_path: Path, http_servers: dict[str, ThreadingHTTPServer]
) -> None:
    """Slowloris: header bytes trickle in; the gateway hangs up at its read_header timeout
    (1 s here) instead of holding the connection for as long as the client likes. The
    trickle would take 60 s; the test ends when the gateway hangs up."""
    upstreams = {"orders": _addr(http_servers["orders"])}
    gw = CaddyGateway(tmp_path, upstreams, timeouts=GatewayTimeouts(read_header_s=1.0))
    request = b"GET /api/v1/orders/o1 HTTP/1.1\r\nHost: gw\r\nX-Slow: " + b"a" * 120
    cut_off = False
    with gw, socket.create_connection((gw.host, gw.port), timeout=10) as raw:
        try:
            for byte in request:
                raw.sendall(bytes([byte]))
                time.sleep(0.5)
                readable, _, _ = select.select([raw], [], [], 0)
                if readable:  # an answer (400) or the close: either way, it gave up on us
                    cut_off = True
                    break
        except OSError:  # reset while we were still sending
            cut_off = True
    assert cut_off
    assert http_servers["orders"].received == []


def test_gateway_runs_the_production_caddyfile(
    tmp_path: Path, http_servers: dict[str, ThreadingHTTPServer]
) -> None:
    """The dev gateway is deploy/gateway/Caddyfile itself (no generated copy): Caddy runs
    that file, with the dev values in its environment."""
    assert Path(__file__).resolve().parents[2] / "gateway" / "Caddyfile" == CADDYFILE
    gw = CaddyGateway(tmp_path, {"orders": _addr(http_servers["orders"])})
    with gw:
        cmdline = Path(f"/proc/{gw.pid}/cmdline").read_bytes().split(b"\0")
        environ = Path(f"/proc/{gw.pid}/environ").read_bytes().split(b"\0")
    assert cmdline[-5:-1] == [b"--config", str(CADDYFILE).encode(), b"--adapter", b"caddyfile"]
    assert f"ORDERS_UPSTREAM={_addr(http_servers['orders'])}".encode() in environ
    assert b"GATEWAY_BIND=127.0.0.1" in environ
    with pytest.raises(ValueError, match="no upstream"):
        CaddyGateway(tmp_path, {"nowhere": "127.0.0.1:1"})


# -- the whole stack ---------------------------------------------------------------------------

FAKE_SERVICES = [
    ServiceSpec("campaigns", "devstack_fake_service"),
    ServiceSpec("orders", "devstack_fake_service"),
    ServiceSpec("notifications", "devstack_fake_service"),
]


def _stack_env(**extra: str) -> dict[str, str]:
    return {"PYTHONPATH": str(TESTS_DIR), "EXTRA_FLAG": "yes", **extra}


def test_devstack_embedded_everything(tmp_path: Path) -> None:
    events: list[str] = []
    with DevStack(
        tmp_path,
        FAKE_SERVICES,
        topics=[Topic("devstack.stack", 2)],
        extra_env=_stack_env(),
        environ={"PATH": os.environ.get("PATH", "")},
        on_event=events.append,
    ) as stack:
        with httpx.Client(base_url=stack.base_url, timeout=5) as http:
            env = http.get("/api/v1/orders/o1").json()["env"]
            assert env["DATABASE_URL"] == stack.postgres.url("orders")  # type: ignore[union-attr]
            assert env["KAFKA_BOOTSTRAP_SERVERS"] == stack.broker.bootstrap_servers  # type: ignore[union-attr]
            assert env["KAFKA_SESSION_TIMEOUT_MS"] == "6000"
            assert env["HTTP_HOST"] == "127.0.0.1"
            assert env["HTTP_PORT"] == str(stack.services["orders"].port)
            assert env["STRIPE_API_BASE"] == stack.stripe.api_base  # type: ignore[union-attr]
            assert env["STRIPE_SECRET_KEY"] == "sk_test_devstack"
            assert env["STRIPE_WEBHOOK_SECRET"] == "whsec_devstack"
            assert env["SMTP_PORT"] == str(stack.smtp.port)  # type: ignore[union-attr]
            assert env["MAIL_FROM"] == "drops@dropwave.test"
            assert env["EXTRA_FLAG"] == "yes"
            # Links in mail point at the gateway, whose port was chosen before the services.
            assert env["PUBLIC_BASE_URL"] == stack.base_url
            pay_later = f"{stack.base_url}/pay/{{order_id}}#t={{token}}"
            assert env["PAY_LATER_URL_TEMPLATE"] == pay_later
            assert env["PAY_LINK_SECRET"] == DEV_SECRETS["PAY_LINK_SECRET"]
            campaigns = http.get("/api/v1/campaigns/c1").json()["env"]
            assert campaigns["DATABASE_URL"].endswith("/campaigns")
        assert (tmp_path / "services" / "migrated-notifications").exists()
        assert stack.postgres is not None
        assert stack.postgres.create_database("notifications") is False  # created by the stack
        parts = [stack.postgres, stack.broker, stack.stripe, stack.smtp, stack.gateway]
        assert all(p is not None and p.running for p in parts)
        assert "gateway" in stack.addresses()
    assert all(p is not None and not p.running for p in parts)
    assert not any(s.running for s in stack.services.values())
    ready = [e.split(" ready")[0] for e in events if " ready (" in e]
    assert ready[:4] == ["postgres", "tansu", "localstripe", "smtp sink"]
    assert ready[-1] == "gateway"


def test_devstack_uses_external_parts(
    tmp_path: Path,
    pg: EmbeddedPostgres,
    broker: TansuBroker,
    localstripe: LocalStripe,
    smtp: SmtpSink,
) -> None:
    environ = {
        "DATABASE_URL_TEMPLATE": pg.url_template,
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "STRIPE_API_BASE": localstripe.api_base,
        "STRIPE_SECRET_KEY": "sk_test_external",
        "SMTP_HOST": smtp.host,
        "SMTP_PORT": str(smtp.port),
        "KAFKA_SESSION_TIMEOUT_MS": "10000",
    }
    specs = [ServiceSpec("external_svc", "devstack_fake_service", upstream="orders")]
    with DevStack(
        tmp_path,
        specs,
        topics=[Topic("devstack.external", 1)],
        extra_env=_stack_env(),
        environ=environ,
    ) as stack:
        assert (stack.postgres, stack.broker, stack.stripe, stack.smtp) == (None, None, None, None)
        env = httpx.get(f"{stack.base_url}/api/v1/orders/x", timeout=5).json()["env"]
        assert env["DATABASE_URL"] == pg.url("external_svc")
        assert env["STRIPE_SECRET_KEY"] == "sk_test_external"
        assert env["SMTP_PORT"] == str(smtp.port)
        assert env["KAFKA_SESSION_TIMEOUT_MS"] == "10000"
    assert pg.create_database("external_svc") is False
    assert broker.create_topics([Topic("devstack.external", 1)]) == []


def test_devstack_failed_service_stops_everything(
    tmp_path: Path, pg: EmbeddedPostgres, broker: TansuBroker
) -> None:
    environ = {
        "DATABASE_URL_TEMPLATE": pg.url_template,
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "STRIPE_API_BASE": "http://127.0.0.1:9",
    }
    stack = DevStack(
        tmp_path,
        [ServiceSpec("crashy", "devstack_fake_service")],
        topics=[],
        extra_env=_stack_env(FAKE_CRASH="crashy"),
        environ=environ,
        ready_timeout=10,
    )
    with pytest.raises(RuntimeError, match="boom: crashing on purpose"):
        stack.start()
    assert stack.smtp is not None
    assert not stack.smtp.running
    assert not stack.services["crashy"].running


def test_parse_scale() -> None:
    assert parse_scale("payments=3, notifications=2") == {"payments": 3, "notifications": 2}
    assert parse_scale("") == {}
    for bad in ("payments", "payments=x", "=2", "payments=2,payments=3", "payments=-1"):
        with pytest.raises(ValueError, match="scale"):
            parse_scale(bad)


def test_devstack_refuses_a_scale_it_cannot_run(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such service nowhere"):
        DevStack(tmp_path, FAKE_SERVICES, scale={"nowhere": 2})
    with pytest.raises(ValueError, match="orders=7"):
        DevStack(tmp_path, FAKE_SERVICES, scale={"orders": 7})
    assert main(["up", "--data-dir", str(tmp_path), "--scale", "orders"]) == 2


def test_devstack_runs_several_instances_behind_the_gateway(
    tmp_path: Path, pg: EmbeddedPostgres, broker: TansuBroker, smtp: SmtpSink
) -> None:
    """scale={"orders": 3}: three processes on their own ports with one database (migrated
    once), all in the gateway's upstream, which spreads the requests over them."""
    environ = {
        "DATABASE_URL_TEMPLATE": pg.url_template,
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "STRIPE_API_BASE": "http://127.0.0.1:9",
        "SMTP_HOST": smtp.host,
        "SMTP_PORT": str(smtp.port),
    }
    specs = [ServiceSpec("orders", "devstack_fake_service"), FAKE_SERVICES[0]]
    with DevStack(
        tmp_path,
        specs,
        topics=[],
        extra_env=_stack_env(),
        environ=environ,
        scale={"orders": 3},
    ) as stack:
        orders = stack.instances["orders"]
        assert [o.name for o in orders] == ["orders", "orders-2", "orders-3"]
        assert stack.services["orders"] is orders[0]
        assert len(stack.instances["campaigns"]) == 1
        ports = {str(o.port) for o in orders}
        assert len(ports) == 3
        assert all(o.running for o in orders)
        addresses = stack.addresses()
        assert {f"service {o.name}" for o in orders} <= set(addresses)
        seen: set[str] = set()
        with httpx.Client(base_url=stack.base_url, timeout=5) as http:
            for _ in range(300):  # random balancing: every instance answers well before
                env = http.get("/api/v1/orders/o1").json()["env"]
                assert env["DATABASE_URL"] == pg.url("orders")
                assert env["SERVICE_NAME"] == "orders"
                seen.add(env["HTTP_PORT"])
                if seen == ports:
                    break
        assert seen == ports
        logs = [o.log_path.read_text() for o in orders]
        assert [log.count("migrate\n") for log in logs] == [1, 0, 0]
    assert not any(o.running for o in orders)
