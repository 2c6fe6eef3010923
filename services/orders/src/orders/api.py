"""Public API v1 routes of the orders service (entrypoints: validate, then delegate)."""

from typing import Annotated
from uuid import UUID

from dropwave_runtime.problems import Problem
from dropwave_runtime.service import Runtime
from fastapi import APIRouter, Header, Query, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from . import domain, handlers
from .models import CampaignSnapshot, Order
from .schemas import OrderCreate, OrderView, PlacedOrder
from .settings import Settings

router = APIRouter(prefix="/api/v1", tags=["orders"])

IdempotencyKey = Annotated[
    str, Header(alias="Idempotency-Key", min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$")
]


def _secret(rt: Runtime) -> str:
    settings = rt.settings
    assert isinstance(settings, Settings)
    return settings.order_token_secret.get_secret_value()


def _placed(order: Order, secret: str) -> PlacedOrder:
    view = OrderView.model_validate(order, from_attributes=True)
    return PlacedOrder(**view.model_dump(), order_token=domain.order_token(secret, order.id))


@router.post("/campaigns/{slug}/orders", status_code=201, response_model=PlacedOrder)
async def place_order(
    slug: str, body: OrderCreate, key: IdempotencyKey, rt: Runtime, response: Response
) -> PlacedOrder:
    """Place an order: no account; the same Idempotency-Key and body return the same order."""
    fingerprint = domain.fingerprint(slug, body.model_dump(mode="json"))
    secret = _secret(rt)
    for _ in range(2):  # a concurrent request with the same key wins at most once
        try:
            async with rt.db.unit_of_work() as uow:
                campaign = await uow.session.scalar(
                    select(CampaignSnapshot).where(CampaignSnapshot.slug == slug)
                )
                if campaign is None:
                    raise Problem(404, "campaign_not_found", "No such campaign")
                existing = await handlers.find_by_key(uow, campaign.id, key)
                if existing is not None:
                    if existing.request_fingerprint != fingerprint:
                        raise Problem(
                            422,
                            "idempotency_key_reused",
                            "This Idempotency-Key was used with a different request",
                        )
                    response.status_code = 200
                    response.headers["Idempotent-Replayed"] = "true"
                    return _placed(existing, secret)
                order = await handlers.place_order(uow, campaign, body, key, fingerprint)
        except domain.OrderRefused as exc:
            raise Problem(exc.status, exc.code, "The order cannot be placed", str(exc)) from exc
        except IntegrityError:
            continue
        response.headers["Location"] = f"/api/v1/orders/{order.id}"
        return _placed(order, secret)
    raise Problem(409, "conflict", "A concurrent request with this Idempotency-Key is in flight")


@router.get("/orders/{order_id}", response_model=OrderView)
async def get_order(
    order_id: UUID,
    rt: Runtime,
    x_order_token: Annotated[str | None, Header()] = None,
    token: Annotated[str | None, Query()] = None,
) -> OrderView:
    """Read an order with its order token (header X-Order-Token or ?token=)."""
    given = x_order_token or token
    if not given or not domain.token_matches(_secret(rt), order_id, given):
        raise Problem(404, "order_not_found", "No such order")
    async with rt.db.sessions() as session:
        order = await session.get(Order, order_id)
    if order is None:
        raise Problem(404, "order_not_found", "No such order")
    return OrderView.model_validate(order, from_attributes=True)
