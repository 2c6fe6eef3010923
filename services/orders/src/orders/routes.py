"""Public API v1 routes: HTTP bodies in, commands to the handlers, views or problems out."""

from typing import Annotated, Any
from uuid import UUID, uuid4

from dropwave_runtime.client_ip import client_ip, in_networks
from dropwave_runtime.errors import DomainError
from dropwave_runtime.inputs import SLUG_PATTERN, is_slug
from dropwave_runtime.observability import correlation_id_var, current_trace_headers
from dropwave_runtime.problems import Problem, problem_from
from dropwave_runtime.service import Runtime, ServiceRuntime
from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import StringConstraints, TypeAdapter, ValidationError
from sqlalchemy import select

from . import abuse, domain, handlers
from .commands import CancelOrder, PlaceOrder
from .intake import OrderIntake
from .models import CampaignSnapshot, Order
from .schemas import OrderCreate, OrderView, PlacedOrder
from .settings import Settings

router = APIRouter(prefix="/api/v1", tags=["orders"])

IdempotencyKey = Annotated[
    str, StringConstraints(min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$")
]
_idempotency_key = TypeAdapter(IdempotencyKey)

MAX_SLUG = 120
MAX_TOKEN = 128
"""An order token is 64 hex digits; anything longer is refused before it is compared."""
# Orders per client address and per buyer email, on top of the route's request budget
# (RATE_LIMITS can set both by these names; README "Limits").
ORDER_PER_IP, ORDER_PER_IP_DEFAULT = "order_per_ip", "60/hour"
ORDER_PER_EMAIL, ORDER_PER_EMAIL_DEFAULT = "order_per_email", "10/hour"

# place_order reads its path, header and body itself (the hot path: FastAPI's dependency
# solving and response-model round trip were a third of its CPU); OpenAPI documents them.
_PLACE_ORDER_DOC: dict[str, Any] = {
    "parameters": [
        {
            "name": "slug",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "maxLength": MAX_SLUG, "pattern": SLUG_PATTERN},
        },
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": True,
            "description": "Same key and body: the same order back (200). Same key, "
            "another body: 422 idempotency_key_reused.",
            "schema": _idempotency_key.json_schema(),
        },
    ],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": OrderCreate.model_json_schema()}},
    },
}


_VIEW_FIELDS = tuple(OrderView.model_fields)
"""A placed order's answer, read from the handler's ``OrderSummary`` (the same fields)."""


def _invalid(exc: ValidationError, *where: str) -> RequestValidationError:
    """The same 422 problem FastAPI's own validation gives, located in the request."""
    return RequestValidationError(
        [{**e, "loc": (*where, *e["loc"])} for e in exc.errors(include_url=False)]
    )


def _read_key(request: Request) -> str:
    given = request.headers.get("idempotency-key")
    if given is None:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("header", "Idempotency-Key"), "msg": "Field required"}]
        )
    try:
        return _idempotency_key.validate_python(given)
    except ValidationError as exc:
        raise _invalid(exc, "header", "Idempotency-Key") from exc


async def _read_body(request: Request) -> OrderCreate:
    try:
        return OrderCreate.model_validate_json(await request.body())
    except ValidationError as exc:
        raise _invalid(exc, "body") from exc


def _secret(rt: ServiceRuntime[Settings]) -> str:
    return rt.settings.order_token_secret.get_secret_value()


async def _campaign_id(rt: ServiceRuntime[Settings], intake: OrderIntake, slug: str) -> UUID:
    """The campaign behind a slug; known ones are cached (a slug never changes owner)."""
    cached = intake.slugs.get(slug)
    if cached is not None:
        return cached
    if not is_slug(slug, MAX_SLUG):  # junk (NUL, non-ASCII...) never reaches the database
        raise Problem(404, "campaign_not_found", "No such campaign")
    async with rt.db.sessions() as session:
        campaign_id = await session.scalar(
            select(CampaignSnapshot.id).where(CampaignSnapshot.slug == slug)
        )
    if campaign_id is None:
        raise Problem(404, "campaign_not_found", "No such campaign")
    if len(intake.slugs) >= 10_000:
        intake.slugs.clear()
    intake.slugs[slug] = campaign_id
    return campaign_id


@router.post(
    "/campaigns/{slug}/orders",
    status_code=201,
    response_model=PlacedOrder,
    openapi_extra=_PLACE_ORDER_DOC,
    responses={200: {"model": PlacedOrder, "description": "A replay of the same request"}},
)
async def place_order(request: Request) -> Response:
    """Place an order: no account; the same Idempotency-Key and body return the same order.

    Orders on one campaign are committed in groups (see intake.py); the request waits for
    its group's commit, so a 201 means the order and its OrderPlaced event are durable.
    """
    slug: str = request.path_params["slug"]
    key = _read_key(request)
    body = await _read_body(request)
    rt: ServiceRuntime[Settings] = request.app.state.runtime
    intake: OrderIntake = request.app.state.deps["intake"]
    ip = client_ip(request.scope, rt.settings.trusted_networks)
    email = str(body.email)
    lockouts: abuse.Lockouts = request.app.state.deps["lockouts"]
    lockouts.check(email, ip)
    if not in_networks(ip, rt.settings.exempt_networks):
        rt.check_rate(ORDER_PER_IP, ip, ORDER_PER_IP_DEFAULT)
    rt.check_rate(ORDER_PER_EMAIL, email.lower(), ORDER_PER_EMAIL_DEFAULT)
    command = PlaceOrder(
        idempotency_key=key,
        fingerprint=domain.fingerprint(slug, body.model_dump(mode="json")),
        email=email,
        phone=body.phone,
        sms_consent=body.sms_consent,
        payment_method_id=body.payment_method_id,
        referral_code=body.referral_code,
        source=body.source,
        shipping=body.shipping_address.model_dump() if body.shipping_address else None,
        correlation_id=correlation_id_var.get() or str(uuid4()),
        trace_headers=current_trace_headers(),
        client_ip=ip[:45],
    )
    campaign_id = await _campaign_id(rt, intake, slug)
    try:
        placed = await intake.place(campaign_id, command)
    except DomainError as error:
        raise problem_from(error, "The order cannot be placed") from error
    order = placed.order
    if placed.replayed:
        status, headers = 200, {"Idempotent-Replayed": "true"}
    else:
        status, headers = 201, {"Location": f"/api/v1/orders/{order.id}"}
    answer = PlacedOrder(
        **{name: getattr(order, name) for name in _VIEW_FIELDS},
        order_token=domain.order_token(_secret(rt), order.id),
    )
    return Response(answer.model_dump_json(), status, headers, media_type="application/json")


def check_token(rt: Runtime[Settings], order_id: UUID, given: str | None) -> None:
    if not given or not domain.token_matches(_secret(rt), order_id, given):
        raise Problem(404, "order_not_found", "No such order")


@router.post("/orders/{order_id}/cancel", response_model=OrderView)
async def cancel_order(
    order_id: UUID,
    rt: Runtime[Settings],
    x_order_token: Annotated[str | None, Header(max_length=MAX_TOKEN)] = None,
    token: Annotated[str | None, Query(max_length=MAX_TOKEN)] = None,
) -> OrderView:
    """The buyer cancels with the order token, before the deadline, while not final."""
    check_token(rt, order_id, x_order_token or token)
    command = CancelOrder(order_id, correlation_id_var.get())
    try:
        async with rt.db.unit_of_work() as uow:
            order = await handlers.cancel_order(command, uow)
    except DomainError as error:
        raise problem_from(error, "The order cannot be cancelled") from error
    return OrderView.model_validate(order, from_attributes=True)


@router.get("/orders/{order_id}", response_model=OrderView)
async def get_order(
    order_id: UUID,
    rt: Runtime[Settings],
    x_order_token: Annotated[str | None, Header(max_length=MAX_TOKEN)] = None,
    token: Annotated[str | None, Query(max_length=MAX_TOKEN)] = None,
) -> OrderView:
    """Read an order with its order token (header X-Order-Token or ?token=)."""
    check_token(rt, order_id, x_order_token or token)
    async with rt.db.sessions() as session:
        order = await session.get(Order, order_id)
    if order is None:
        raise Problem(404, "order_not_found", "No such order")
    return OrderView.model_validate(order, from_attributes=True)
