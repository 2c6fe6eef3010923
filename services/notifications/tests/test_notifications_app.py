from dropwave_runtime.service import ServiceRuntime
from notifications.bootstrap import SERVICE, bootstrap
from notifications.settings import Settings


def test_bootstrap_connects_nothing_and_handles_the_events() -> None:
    app = bootstrap(
        Settings(
            database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none",
            kafka_bootstrap_servers="127.0.0.1:1",
            smtp_host="127.0.0.1",
            mail_from="no-reply@dropwave.test",
            notifications_link_secret="x" * 32,
        )
    )
    runtime = app.state.runtime
    assert isinstance(runtime, ServiceRuntime)
    assert set(runtime._handlers) == set(SERVICE.events)
    assert {e.__name__ for e in SERVICE.events} >= {
        "OrderPlaced",
        "OrderConfirmed",
        "CampaignTipped",
        "CampaignFailed",
        "PaymentCaptured",
        "PaymentCaptureFailed",
        "PaymentRefunded",
        "CampaignMilestoneReached",
    }
    assert [(t.__name__, role) for t, role in runtime._background] == [
        ("deliveries", "worker"),
        ("erasing personal data", "worker"),
    ]
    paths = set(app.openapi()["paths"])
    assert {"/healthz", "/readyz", "/metrics"} <= paths
    assert {
        "/api/v1/notifications/unsubscribe",
        "/api/v1/notifications/twilio/inbound",
        "/api/v1/notifications/twilio/status",
    } <= paths
