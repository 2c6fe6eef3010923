"""The gateway serves the API's documentation: each service's OpenAPI, side by side."""

import httpx
import pytest
from dropwave_devstack.stack import DevStack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


def test_every_services_openapi_is_listed_and_served_at_the_gateway(
    stack: DevStack, api: httpx.Client
) -> None:
    index = api.get("/api/docs")
    assert index.status_code == 200
    documents = index.json()["openapi"]
    assert set(documents) == {"campaigns", "orders", "payments", "notifications", "storefront"}
    for service, path in documents.items():
        r = api.get(path)
        assert r.status_code == 200, (service, r.text[:200])
        spec = r.json()
        assert spec["openapi"].startswith("3.")
        assert spec["info"]["title"].lower().endswith(service)
        assert spec["paths"]
    orders = api.get(documents["orders"]).json()
    assert "/api/v1/campaigns/{slug}/orders" in orders["paths"]
