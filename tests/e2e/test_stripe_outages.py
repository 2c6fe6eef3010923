"""Stripe fails for a while, through the gateway on the embedded stack (ADR 0005, 0007):
payments reaches the emulator through the stack's fault proxy, which answers 500s, 429s, or
acts and then loses its answer, for every matching request until the test clears it.

- Every authorization fails for a while: the orders wait in the durable queue (pending,
  visible in `payments queue list`; one whose answer was lost may be authorized by Stripe's
  webhook meanwhile), end authorized once Stripe answers, and Stripe holds exactly one
  PaymentIntent per order.
- Every release fails for a while: a buyer's cancel is accepted, the campaign succeeds
  meanwhile and captures the others, the cancelled order is never captured, its release stays
  queued and visible, and its hold is released once Stripe answers, by exactly one cancel
  Stripe executed.
"""

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from dropwave_devstack.faults import BackgroundFaultProxy, FaultPlan
from dropwave_devstack.stack import DevStack

from .conftest import Eventually, operator
from .test_settlement import intents_of, place, statuses
from .test_stalls import closed, every, launch

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


@pytest.fixture
def faults(stack: DevStack) -> Iterator[BackgroundFaultProxy]:
    if stack.stripe_faults is None:
        pytest.skip("needs the embedded Stripe emulator behind the stack's fault proxy")
    yield stack.stripe_faults
    stack.stripe_faults.clear()


def queue(stack: DevStack, *args: str, check: bool = True) -> str:
    """`python -m payments queue ...` as an operator runs it (the service's environment)."""
    return operator(stack, "payments", "queue", *args, check=check).stdout


def queue_list(stack: DevStack, campaign_id: str) -> list[dict[str, Any]]:
    lines = queue(stack, "list", "--campaign", campaign_id).splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_authorizations_wait_out_a_stripe_outage_one_payment_intent_each(
    stack: DevStack,
    api: httpx.Client,
    eventually: Eventually,
    faults: BackgroundFaultProxy,
) -> None:
    campaign_id, slug = launch(stack, api, datetime.now(UTC) + timedelta(minutes=5))
    first = place(api, eventually, slug, 1)  # orders knows the campaign: the rest go in at once
    eventually(every(api, first, "authorized"), "the first order authorized", 20)
    creates = r"^POST /v1/payment_intents$"
    faults.set_plan(FaultPlan(error_500=0.5, error_429=0.5, match=creates))  # refused outright
    orders = place(api, eventually, slug, 4)
    time.sleep(3)
    assert statuses(api, orders) == ["pending"] * 4  # waiting, not failed
    waiting = [i for i in queue_list(stack, campaign_id) if i["kind"] == "authorize"]
    assert sorted(i["order_id"] for i in waiting) == sorted(o["id"] for o in orders)
    assert all(i["attempts"] >= 1 and i["last_error"] for i in waiting)
    # Then Stripe acts but its answers are lost: retries under the same key must not make a
    # second PaymentIntent (Stripe's webhook may authorize an order meanwhile).
    faults.set_plan(FaultPlan(drop_response=1.0, match=creates))
    for order in orders:  # the operator hurries them past their backoff (exit 1: done by now)
        queue(stack, "retry", order["id"], "--kind", "authorize", check=False)
    time.sleep(2)
    assert set(statuses(api, orders)) <= {"pending", "authorized"}
    assert faults.faults()["drop_response"] >= 1

    faults.clear()
    eventually(every(api, orders, "authorized"), "authorized once Stripe answers", 90)
    intents = intents_of(stack, campaign_id)
    by_order = [i["metadata"]["order_id"] for i in intents]
    assert sorted(by_order) == sorted({*by_order})  # one PaymentIntent per order
    assert {o["id"] for o in orders} <= set(by_order)
    assert len(intents) == 5


def test_a_release_waits_out_a_stripe_outage_and_the_order_is_never_captured(
    stack: DevStack,
    api: httpx.Client,
    eventually: Eventually,
    faults: BackgroundFaultProxy,
) -> None:
    campaign_id, slug = launch(stack, api, datetime.now(UTC) + timedelta(seconds=15))
    orders = place(api, eventually, slug, 6)
    eventually(every(api, orders, "authorized"), "orders authorized", 20)
    [cancelled] = [
        i for i in intents_of(stack, campaign_id) if i["metadata"]["order_id"] == orders[5]["id"]
    ]
    cancel_path = rf"^POST /v1/payment_intents/{cancelled['id']}/cancel$"
    # Refused outright (500/429) while down: nothing reaches Stripe, so the release stays
    # queued. (A cancel Stripe executed but whose answer was lost is settled by Stripe's
    # webhook instead; services/payments/tests/settlement/test_settlement_queue.py covers it.)
    faults.set_plan(
        FaultPlan(error_500=0.5, error_429=0.5, match=r"^POST /v1/payment_intents/[^/]+/cancel$")
    )

    r = api.post(
        f"/api/v1/orders/{orders[5]['id']}/cancel",
        headers={"X-Order-Token": orders[5]["order_token"]},
    )
    assert r.status_code == 200, r.text
    # The deadline passes during the outage: the 5 that stand are captured, not the 6th.
    view = closed(api, eventually, slug)
    assert (view["status"], view["current_orders"]) == ("successful", 5)
    eventually(every(api, orders[:5], "captured"), "the five captured", 60)
    time.sleep(2)
    [held] = [i for i in intents_of(stack, campaign_id) if i["id"] == cancelled["id"]]
    assert held["status"] != "succeeded"
    assert statuses(api, orders[5:]) == ["cancelled"]
    stuck = [i for i in queue_list(stack, campaign_id) if i["kind"] == "release"]
    assert [i["order_id"] for i in stuck] == [orders[5]["id"]]  # queued and visible
    assert stuck[0]["attempts"] >= 1

    faults.clear()

    def released() -> bool:
        [intent] = [i for i in intents_of(stack, campaign_id) if i["id"] == cancelled["id"]]
        return intent["status"] == "canceled" and not queue_list(stack, campaign_id)

    eventually(released, "the hold released once Stripe answers", 90)
    assert sum(faults.executed(cancel_path).values()) == 1  # exactly once at Stripe
    assert statuses(api, orders[5:]) == ["cancelled"]
