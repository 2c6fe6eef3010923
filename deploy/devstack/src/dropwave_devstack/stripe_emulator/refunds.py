"""Refunds: never more than what is left.

Never more than the unrefunded captured amount (400 ``amount_too_large`` /
``charge_already_refunded``), never on a PaymentIntent without a captured charge (400
``invalid_request_error``; localstripe refunded those too); ``reason``,
``refund_application_fee`` and ``reverse_transfer`` accepted; a refund made by charge names
its ``payment_intent`` as on Stripe.

Nothing here touches localstripe: :mod:`.patches` installs what :func:`build` returns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .store import created_in

__all__ = ["build"]


def build(r: Any) -> Callable[..., None]:
    """``Refund.__init__`` with Stripe's limits, wrapping localstripe's."""
    UserError = r.UserError
    to_int = r.try_convert_to_int
    to_bool = r.try_convert_to_bool
    refund_init = r.Refund.__init__

    def refund(
        self: Any,
        charge: Any = None,
        payment_intent: Any = None,
        amount: Any = None,
        reason: Any = None,
        refund_application_fee: Any = None,
        reverse_transfer: Any = None,
        **kwargs: Any,
    ) -> None:
        if reason not in (None, "duplicate", "fraudulent", "requested_by_customer"):
            raise UserError(400, "Invalid reason", {"param": "reason"})
        charge_obj = None
        if payment_intent is not None and isinstance(payment_intent, str):
            intent = r.PaymentIntent._api_retrieve(payment_intent)
            charge_obj = intent.latest_charge
            if charge_obj is None or not charge_obj.captured:
                raise UserError(
                    400,
                    "This PaymentIntent has no captured charge to refund.",
                    {"code": "charge_not_refundable" if charge_obj else "resource_missing"},
                )
        elif charge is not None and isinstance(charge, str):
            charge_obj = r.Charge._api_retrieve(charge)
        if charge_obj is not None and charge_obj.status == "succeeded":
            left = charge_obj.amount - charge_obj.amount_refunded
            wanted = to_int(amount) if amount is not None else left
            if left <= 0:
                raise UserError(
                    400,
                    f"Charge {charge_obj.id} has already been refunded.",
                    {"code": "charge_already_refunded"},
                )
            if isinstance(wanted, int) and wanted > left:
                raise UserError(
                    400,
                    f"Refund amount ({wanted}) is greater than unrefunded amount on charge "
                    f"({left})",
                    {"code": "amount_too_large", "param": "amount"},
                )
            if amount is None:
                amount = left
        refund_init(self, charge=charge, payment_intent=payment_intent, amount=amount, **kwargs)
        if self.payment_intent is None and charge_obj is not None:
            # Stripe: a refund of a PaymentIntent's charge names the PaymentIntent too.
            self.payment_intent = getattr(charge_obj, "payment_intent", None)
        self.reason = reason
        self.refund_application_fee = to_bool(refund_application_fee)
        self.reverse_transfer = to_bool(reverse_transfer)

    return refund


def build_list(r: Any) -> Any:
    """``GET /v1/refunds`` with Stripe's ``created`` filter (reconcile --since)."""
    upstream = r.Refund._api_list_all.__func__

    def list_all(cls: Any, /, url: Any, created: Any = None, **kwargs: Any) -> Any:
        listed = upstream(cls, url, **kwargs)
        listed._list = [refund for refund in listed._list if created_in(refund, created)]
        return listed

    return classmethod(list_all)
