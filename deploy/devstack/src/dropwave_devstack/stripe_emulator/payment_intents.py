"""PaymentIntents as Stripe documents them where localstripe 1.15 differs.

``transfer_data`` (destination must be an existing account), ``application_fee_amount`` (only
with ``transfer_data`` or ``on_behalf_of``, never above the amount), ``on_behalf_of``,
``setup_future_usage``, ``description``, ``customer`` and ``cancellation_reason`` are accepted
and echoed; ``automatic_payment_methods`` is accepted and ignored (the emulator only has cards,
so ignoring it is faithful); ``amount_received`` and ``amount_capturable`` are reported; an
uncaptured card charge reports ``payment_method_details.card.capture_before`` (7 days,
Stripe's online-card window); ``capture`` refuses anything but ``requires_capture``
(``payment_intent_unexpected_state``); a successful charge sends ``charge.succeeded`` (with
``capture_before`` while uncaptured); ``confirm`` accepts ``payment_method`` (localstripe
answers 500) and a PaymentIntent left in ``requires_payment_method`` with its card can be
confirmed again on-session; ``payment_intent.canceled`` and
``payment_intent.amount_capturable_updated`` webhooks are sent; listing takes ``customer``
(only that Customer's PaymentIntents, as on Stripe).

**Off-session**: ``off_session=true`` with a card that needs authentication on every payment
(``pm_card_authenticationRequired``, 4000002760003184; and the other 3-D Secure test cards
except ``pm_card_authenticationRequiredOnSetup``, which succeeds once set up) fails with a 402
``card_error`` ``authentication_required`` and leaves the PaymentIntent in
``requires_payment_method`` with ``last_payment_error``, as Stripe does.

Test-only control under ``/_config`` (never part of Stripe's API):
``POST /_config/payment_intents/{id}/expire``: the authorization window passed: Stripe
cancels the PaymentIntent (``cancellation_reason=automatic``, ``amount_capturable`` 0),
``charge.expired`` and ``payment_intent.canceled``; a capture is then refused
(``payment_intent_unexpected_state``).

Nothing here touches localstripe: :mod:`.patches` installs what :func:`build` returns.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

__all__ = ["HOLD_WINDOW_S", "OFF_SESSION_OK_AFTER_SETUP", "PaymentIntentExtension", "build"]

HOLD_WINDOW_S = 7 * 24 * 3600
OFF_SESSION_OK_AFTER_SETUP = frozenset({"4000002500003155", "4000003800000446"})


@dataclass(frozen=True)
class PaymentIntentExtension:
    """Replacements for (and additions to) ``localstripe.resources.PaymentIntent``."""

    init: Any
    api_list_all: Any
    api_capture: Any
    api_create: Any
    confirm_off_session: Any
    create_charge: Any
    confirm: Any
    api_confirm: Any
    api_cancel: Any
    api_expire: Any
    status: Any
    last_payment_error: Any
    amount_received: Any
    amount_capturable: Any


def build(r: Any, account: Any) -> PaymentIntentExtension:
    """The PaymentIntent extension, wrapping localstripe's methods; ``account``: the Connect
    account resource (transfer destinations and ``on_behalf_of`` must exist)."""
    UserError = r.UserError
    to_int = r.try_convert_to_int
    to_bool = r.try_convert_to_bool
    Account = account

    def card_error(message: str, **contents: Any) -> Any:
        err = UserError(402, message, dict(contents))
        err.body["error"]["type"] = "card_error"
        return err

    PI = r.PaymentIntent
    pi_init = PI.__init__
    pi_api_create = PI._api_create.__func__
    pi_create_charge = PI._create_charge
    pi_confirm = PI._confirm
    pi_api_cancel = PI._api_cancel.__func__
    pi_status = PI.status.fget
    pi_last_error = PI.last_payment_error.fget

    def init(
        self: Any,
        *args: Any,
        transfer_data: Any = None,
        application_fee_amount: Any = None,
        on_behalf_of: Any = None,
        setup_future_usage: Any = None,
        description: Any = None,
        automatic_payment_methods: Any = None,
        **kwargs: Any,
    ) -> None:
        fee = to_int(application_fee_amount)
        amount = to_int(kwargs.get("amount"))
        if transfer_data is not None:
            if not isinstance(transfer_data, dict) or not isinstance(
                transfer_data.get("destination"), str
            ):
                raise UserError(400, "Invalid transfer_data", {"param": "transfer_data"})
            Account._api_retrieve(transfer_data["destination"])
            transfer_data = dict(transfer_data)
            if "amount" in transfer_data:
                transfer_data["amount"] = to_int(transfer_data["amount"])
        if on_behalf_of is not None:
            Account._api_retrieve(on_behalf_of)
        if fee is not None:
            if not isinstance(fee, int) or fee < 0:
                raise UserError(400, "Invalid application_fee_amount")
            if transfer_data is None and on_behalf_of is None:
                raise UserError(
                    400,
                    "Can only apply an application_fee_amount when the PaymentIntent is "
                    "attempting a direct payment (using an OAuth key or Stripe-Account "
                    "header) or destination payment (using `transfer_data[destination]`).",
                    {"param": "application_fee_amount"},
                )
            if isinstance(amount, int) and fee > amount:
                raise UserError(400, "application_fee_amount cannot exceed the amount")
        if setup_future_usage not in (None, "off_session", "on_session"):
            raise UserError(400, "Invalid setup_future_usage", {"param": "setup_future_usage"})
        pi_init(self, *args, **kwargs)
        self.transfer_data = transfer_data
        self.application_fee_amount = fee
        self.on_behalf_of = on_behalf_of
        self.setup_future_usage = setup_future_usage
        self.description = description
        self.cancellation_reason = None
        self.canceled_at = None
        self._off_session_failed = False

    @classmethod  # type: ignore[misc]
    def api_create(cls: Any, confirm: Any = None, off_session: Any = None, **data: Any) -> Any:
        off = to_bool(off_session)
        if off is True:
            if to_bool(confirm) is not True:
                raise UserError(400, "off_session can only be used with confirm=true")
            obj = pi_api_create(cls, **data)
            obj._confirm_off_session()
            return obj
        return pi_api_create(cls, confirm=confirm, off_session=off_session, **data)

    def confirm_off_session(self: Any) -> None:
        pm = r.PaymentMethod._api_retrieve(self.payment_method)
        number = getattr(pm, "_card_number", None)
        if pm._requires_authentication() and number not in OFF_SESSION_OK_AFTER_SETUP:
            self._off_session_failed = True
            r.schedule_webhook(r.Event("payment_intent.payment_failed", self))
            raise card_error(
                "Your card requires authentication.",
                code="authentication_required",
                decline_code="authentication_required",
                payment_intent=self._export(),
            )
        self._create_charge(on_failure_now=self._report_failure)

    def create_charge(self: Any, on_failure_now: Any) -> None:
        self._off_session_failed = False
        pi_create_charge(self, on_failure_now)
        charge = self.latest_charge
        if charge is not None and charge.status == "succeeded":
            if not charge.captured:
                charge.payment_method_details = {
                    "type": "card",
                    "card": {"capture_before": charge.created + HOLD_WINDOW_S},
                }
                r.schedule_webhook(r.Event("payment_intent.amount_capturable_updated", self))
            r.schedule_webhook(r.Event("charge.succeeded", charge))
            if self.setup_future_usage and self.customer:
                pm = r.PaymentMethod._api_retrieve(self.payment_method)
                pm.customer = self.customer

    def confirm(self: Any, on_failure_now: Any) -> None:
        self._off_session_failed = False
        pi_confirm(self, on_failure_now)

    @classmethod  # type: ignore[misc]
    def api_confirm(cls: Any, id: str, payment_method: Any = None, **kwargs: Any) -> Any:
        kwargs.pop("off_session", None)  # on-session is what the pay-later link does
        kwargs.pop("return_url", None)
        if kwargs:
            raise UserError(400, "Unexpected " + ", ".join(kwargs.keys()))
        obj = cls._api_retrieve(id)
        if payment_method is not None:
            r.PaymentMethod._api_retrieve(payment_method)  # 404 for an unknown one
            if obj.status not in ("requires_payment_method", "requires_confirmation"):
                raise UserError(
                    400,
                    f"This PaymentIntent's status is {obj.status}; it cannot be confirmed.",
                    {"code": "payment_intent_unexpected_state"},
                )
            obj.payment_method = payment_method
        if obj._off_session_failed or (
            obj.latest_charge is not None and obj.latest_charge.status == "failed"
        ):
            obj.latest_charge = None
            obj._off_session_failed = False
        if obj.status != "requires_confirmation":
            raise UserError(
                400,
                f"This PaymentIntent's status is {obj.status}; it cannot be confirmed.",
                {"code": "payment_intent_unexpected_state"},
            )
        obj._confirm(on_failure_now=obj._report_failure)
        return obj

    def status(self: Any) -> Any:
        if self._off_session_failed and not self._canceled:
            return "requires_payment_method"
        return pi_status(self)

    def last_payment_error(self: Any) -> Any:
        if self._off_session_failed:
            return {
                "code": "authentication_required",
                "decline_code": "authentication_required",
                "message": "Your card requires authentication.",
                "type": "card_error",
                "payment_method": {"id": self.payment_method},
            }
        return pi_last_error(self)

    def amount_received(self: Any) -> int:
        charge = self.latest_charge
        if charge is not None and charge.status == "succeeded" and charge.captured:
            return int(charge.amount)
        return 0

    def amount_capturable(self: Any) -> int:
        # A canceled PaymentIntent (released, or expired) holds nothing any more.
        charge = self.latest_charge
        if self._canceled or charge is None:
            return 0
        if charge.status == "succeeded" and not charge.captured:
            return int(charge.amount)
        return 0

    @classmethod  # type: ignore[misc]
    def api_cancel(cls: Any, id: str, cancellation_reason: Any = None, **kwargs: Any) -> Any:
        if cancellation_reason not in (
            None,
            "duplicate",
            "fraudulent",
            "requested_by_customer",
            "abandoned",
        ):
            raise UserError(400, "Invalid cancellation_reason", {"param": "cancellation_reason"})
        obj = pi_api_cancel(cls, id, **kwargs)
        obj._off_session_failed = False
        obj.cancellation_reason = cancellation_reason
        obj.canceled_at = int(time.time())
        r.schedule_webhook(r.Event("payment_intent.canceled", obj))
        return obj

    @classmethod  # type: ignore[misc]
    def api_expire(cls: Any, id: str, **_: Any) -> Any:
        obj = cls._api_retrieve(id)
        if obj.status != "requires_capture":
            raise UserError(400, "Only an uncaptured authorization can expire")
        obj._canceled = True
        obj.cancellation_reason = "automatic"
        obj.canceled_at = int(time.time())
        charge = obj.latest_charge
        charge.payment_method_details = {
            "type": "card",
            "card": {"capture_before": int(time.time()) - 1},
        }
        r.schedule_webhook(r.Event("charge.expired", charge))
        r.schedule_webhook(r.Event("payment_intent.canceled", obj))
        return obj

    pi_api_capture = PI._api_capture.__func__

    @classmethod  # type: ignore[misc]
    def api_capture(cls: Any, id: str, **kwargs: Any) -> Any:
        obj = cls._api_retrieve(id)
        if obj.status != "requires_capture":
            raise UserError(
                400,
                f"This PaymentIntent could not be captured because it has a status of "
                f"{obj.status}. Only a PaymentIntent with one of the following statuses may "
                f"be captured: requires_capture.",
                {"code": "payment_intent_unexpected_state"},
            )
        return pi_api_capture(cls, id, **kwargs)

    @classmethod  # type: ignore[misc]
    def api_list_all(cls: Any, url: Any, customer: Any = None, **kwargs: Any) -> Any:
        # Stripe: GET /v1/payment_intents?customer=cus_... lists only that customer's.
        if customer is not None and (not isinstance(customer, str) or not customer):
            raise UserError(400, "Invalid customer", {"param": "customer"})
        li = r.StripeObject._api_list_all.__func__(cls, url, **kwargs)
        if customer is not None:
            li._list = [pi for pi in li._list if pi.customer == customer]
        return li

    return PaymentIntentExtension(
        init=init,
        api_list_all=api_list_all,
        api_capture=api_capture,
        api_create=api_create,
        confirm_off_session=confirm_off_session,
        create_charge=create_charge,
        confirm=confirm,
        api_confirm=api_confirm,
        api_cancel=api_cancel,
        api_expire=api_expire,
        status=property(status),
        last_payment_error=property(last_payment_error),
        amount_received=property(amount_received),
        amount_capturable=property(amount_capturable),
    )
