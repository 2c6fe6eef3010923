"""The restore drill: every service's database dumped from a running stack, restored into a
fresh PostgreSQL, a second stack started on the restored databases, and a drop's state read
back through its gateway as it was (``make restore-drill``)."""

import os
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from dropwave_devstack.backup import dump, restore
from dropwave_devstack.postgres import EmbeddedPostgres
from dropwave_devstack.stack import DevStack

from .conftest import Eventually, not_open_yet, publish_campaign

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def test_a_drop_survives_backup_and_restore_into_a_new_server(
    stack: DevStack, api: httpx.Client, eventually: Eventually, tmp_path: Path
) -> None:
    campaign, _ = publish_campaign(stack, api, "creator-restore-drill")
    slug = campaign["slug"]

    def place(n: int) -> dict[str, Any] | None:
        r = api.post(
            f"/api/v1/campaigns/{slug}/orders",
            headers={"Idempotency-Key": f"drill-{slug}-{n}"},
            json={"email": f"drill-{n}@example.com", "payment_method_id": "pm_card_visa"},
        )
        if not_open_yet(r):
            return None
        assert r.status_code == 201, r.text
        order: dict[str, Any] = r.json()
        return order

    orders = [eventually(lambda n=n: place(n), "orders to learn of the campaign") for n in (1, 2)]
    eventually(
        lambda: api.get(f"/api/v1/campaigns/{slug}").json()["current_orders"] == 2,
        "both orders counted",
    )
    before = api.get(f"/api/v1/campaigns/{slug}").json()
    tokens = {o["id"]: {"X-Order-Token": o["order_token"]} for o in orders}
    orders_before = {i: api.get(f"/api/v1/orders/{i}", headers=t).json() for i, t in tokens.items()}

    names = [spec.name for spec in stack.service_specs]
    files = dump(stack.database_url_template, names, tmp_path / "backup")
    assert sorted(f.name for f in files) == sorted(f"{n}.dump" for n in names)

    with EmbeddedPostgres(tmp_path / "new-server") as fresh:
        assert sorted(restore(tmp_path / "backup", fresh.url_template)) == sorted(names)
        environ = {**os.environ, "DATABASE_URL_TEMPLATE": fresh.url_template}
        with (
            DevStack(tmp_path / "restored", environ=environ) as second,
            httpx.Client(base_url=second.base_url, timeout=10) as restored,
        ):
            after = restored.get(f"/api/v1/campaigns/{slug}").json()
            for field in ("id", "status", "current_orders", "title", "price_cents", "deadline"):
                assert after[field] == before[field], field
            for order_id, token in tokens.items():
                again = restored.get(f"/api/v1/orders/{order_id}", headers=token).json()
                assert (again["status"], again["buyer_number"]) == (
                    orders_before[order_id]["status"],
                    orders_before[order_id]["buyer_number"],
                )
            # The restored system takes new orders where the old one left off.
            more = restored.post(
                f"/api/v1/campaigns/{slug}/orders",
                headers={"Idempotency-Key": f"drill-{uuid.uuid4().hex}"},
                json={"email": "drill-3@example.com", "payment_method_id": "pm_card_visa"},
            )
            assert more.status_code == 201, more.text
            assert more.json()["buyer_number"] == 3
