"""The refund route's answers to refused refunds: the problem each domain error becomes."""

import pytest
from dropwave_runtime.errors import DomainError
from payments.refunds.domain import (
    NotRefundable,
    PaymentNotFound,
    RefundExceedsCaptured,
    RefundRefused,
)
from payments.refunds.routes import _problem


@pytest.mark.parametrize(
    ("error", "status", "title", "detail", "extra"),
    [
        (PaymentNotFound(), 404, "No such payment", None, {}),
        (
            NotRefundable("authorized"),
            409,
            "Nothing to refund",
            "The payment is authorized; only captured amounts can be refunded.",
            {},
        ),
        (
            RefundExceedsCaptured(1000),
            409,
            "The refund is larger than what is left to refund",
            "At most 1000 can still be refunded.",
            {"refundable_cents": 1000},
        ),
        (
            RefundRefused("Refund amount is greater than unrefunded amount"),
            409,
            "Stripe refused the refund",
            "Refund amount is greater than unrefunded amount",
            {},
        ),
    ],
)
def test_each_refusal_is_the_problem_it_always_was(
    error: DomainError, status: int, title: str, detail: str | None, extra: dict[str, int]
) -> None:
    problem = _problem(error)
    assert (problem.status, problem.code, problem.title, problem.detail, problem.extra) == (
        status,
        error.code,
        title,
        detail,
        extra,
    )
