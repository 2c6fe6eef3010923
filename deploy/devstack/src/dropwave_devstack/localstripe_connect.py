"""Extensions of localstripe 1.15 for what payments uses and the emulator lacks (test tooling).

Each one follows Stripe's documented behaviour (pinned by ``tests/test_emulator_contract.py``);
production code is never bent around the emulator.

* **Connect**: ``/v1/accounts`` (create/retrieve/list/update; Express accounts start with
  ``charges_enabled``/``payouts_enabled``/``details_submitted`` false) and
  ``/v1/account_links`` (``account_onboarding``/``account_update`` links with ``url`` and
  ``expires_at``; ``refresh_url``/``return_url`` required).
* **PaymentIntents**: ``transfer_data`` (destination must be an existing account),
  ``application_fee_amount`` (only with ``transfer_data`` or ``on_behalf_of``, never above the
  amount), ``on_behalf_of``, ``setup_future_usage``, ``description``, ``customer`` and
  ``cancellation_reason`` are accepted and echoed; ``amount_received`` and
  ``amount_capturable`` are reported; an uncaptured card charge reports
  ``payment_method_details.card.capture_before`` (7 days, Stripe's online-card window);
  ``capture`` refuses anything but ``requires_capture`` (``payment_intent_unexpected_state``);
  a successful charge sends ``charge.succeeded`` (with ``capture_before`` while uncaptured);
  ``confirm`` accepts ``payment_method`` (localstripe answers 500) and a PaymentIntent left in
  ``requires_payment_method`` with its card can be confirmed again on-session;
  ``payment_intent.canceled`` and ``payment_intent.amount_capturable_updated`` webhooks are sent;
  listing takes ``customer`` (only that Customer's PaymentIntents, as on Stripe).
* **Off-session**: ``off_session=true`` with a card that needs authentication on every payment
  (``pm_card_authenticationRequired``, 4000002760003184; and the other 3-D Secure test cards
  except ``pm_card_authenticationRequiredOnSetup``, which succeeds once set up) fails with a
  402 ``card_error`` ``authentication_required`` and leaves the PaymentIntent in
  ``requires_payment_method`` with ``last_payment_error``, as Stripe does.
* **Refunds**: never more than the unrefunded captured amount (400 ``amount_too_large`` /
  ``charge_already_refunded``), never on a PaymentIntent without a captured charge (400
  ``invalid_request_error``; localstripe refunded those too); ``reason``,
  ``refund_application_fee`` and ``reverse_transfer`` accepted; a refund made by charge
  names its ``payment_intent`` as on Stripe.

Test-only controls under ``/_config`` (never part of Stripe's API):

* ``POST /_config/accounts/{id}`` with ``charges_enabled``/``payouts_enabled``/
  ``details_submitted``: flips the flags and sends ``account.updated``;
* ``GET /_config/accounts/{id}/onboard``: what finishing the onboarding link does (all three
  flags true, ``account.updated``); the account link's ``url`` points here;
* ``POST /_config/payment_intents/{id}/expire``: the authorization window passed: Stripe
  cancels the PaymentIntent (``cancellation_reason=automatic``, ``amount_capturable`` 0),
  ``charge.expired`` and ``payment_intent.canceled``; a capture is then refused
  (``payment_intent_unexpected_state``).
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["install"]

HOLD_WINDOW_S = 7 * 24 * 3600
ACCOUNT_LINK_TTL_S = 300
OFF_SESSION_OK_AFTER_SETUP = frozenset({"4000002500003155", "4000003800000446"})
CANONICAL_CARDS = {
    "pm_card_authenticationRequired": "4000002760003184",
    "pm_card_authenticationRequiredOnSetup": "4000002500003155",
    "pm_card_threeDSecure2Required": "4000000000003220",
}
base_url = "http://127.0.0.1:8420"
"""Where the emulator answers (set by the launcher); account links point here."""


def install() -> None:
    from localstripe import resources as r

    UserError = r.UserError
    to_int = r.try_convert_to_int
    to_bool = r.try_convert_to_bool

    def card_error(message: str, **contents: Any) -> Any:
        err = UserError(402, message, dict(contents))
        err.body["error"]["type"] = "card_error"
        return err

    # --- Connect accounts ----------------------------------------------------------------

    class Account(r.StripeObject):  # type: ignore[misc]
        object = "account"
        _id_prefix = "acct_"

        def __init__(
            self,
            type: Any = None,
            country: Any = None,
            email: Any = None,
            business_type: Any = None,
            capabilities: Any = None,
            metadata: Any = None,
            **kwargs: Any,
        ) -> None:
            if kwargs:
                raise UserError(400, "Unexpected " + ", ".join(kwargs.keys()))
            if type not in ("express", "standard", "custom"):
                raise UserError(400, "Missing or invalid type", {"param": "type"})
            if capabilities is not None and not isinstance(capabilities, dict):
                raise UserError(400, "Invalid capabilities", {"param": "capabilities"})
            super().__init__()
            self.type = type
            self.country = country or "US"
            self.email = email
            self.business_type = business_type
            self.metadata = metadata or {}
            self.charges_enabled = False
            self.payouts_enabled = False
            self.details_submitted = False
            self.capabilities = dict.fromkeys(capabilities or {}, "inactive")
            self.requirements = {"currently_due": ["external_account", "tos_acceptance.date"]}

        def _set_state(self, **flags: Any) -> None:
            for name in ("charges_enabled", "payouts_enabled", "details_submitted"):
                if name in flags and flags[name] is not None:
                    value = to_bool(flags[name])
                    if not isinstance(value, bool):
                        raise UserError(400, f"Invalid {name}", {"param": name})
                    setattr(self, name, value)
            active = "active" if self.charges_enabled and self.payouts_enabled else "inactive"
            self.capabilities = dict.fromkeys(self.capabilities, active)
            self.requirements = {
                "currently_due": [] if self.details_submitted else ["external_account"]
            }
            r.schedule_webhook(r.Event("account.updated", self))

        @classmethod
        def _api_update(cls, id: str, metadata: Any = None, **data: Any) -> Any:
            if data:
                raise UserError(400, "Unexpected " + ", ".join(data.keys()))
            obj = cls._api_retrieve(id)
            if metadata:
                obj.metadata = {**obj.metadata, **metadata}
            return obj

        @classmethod
        def _api_config(cls, id: str, **flags: Any) -> Any:
            obj = cls._api_retrieve(id)
            obj._set_state(**flags)
            return obj

        @classmethod
        def _api_onboard(cls, id: str, **_: Any) -> Any:
            obj = cls._api_retrieve(id)
            obj._set_state(charges_enabled=True, payouts_enabled=True, details_submitted=True)
            return obj

    class AccountLink:
        """Not stored (Stripe cannot retrieve account links either)."""

        def __init__(self, account: str, url: str) -> None:
            self.created = int(time.time())
            self.expires_at = self.created + ACCOUNT_LINK_TTL_S
            self.url = url
            self.account = account

        def _export(self, expand: Any = None) -> dict[str, Any]:
            return {
                "object": "account_link",
                "created": self.created,
                "expires_at": self.expires_at,
                "url": self.url,
            }

        @classmethod
        def _api_create(
            cls,
            account: Any = None,
            type: Any = None,
            refresh_url: Any = None,
            return_url: Any = None,
            collect: Any = None,
            collection_options: Any = None,
            **kwargs: Any,
        ) -> AccountLink:
            if kwargs:
                raise UserError(400, "Unexpected " + ", ".join(kwargs.keys()))
            for name, value in (("account", account), ("type", type)):
                if not isinstance(value, str) or not value:
                    raise UserError(400, f"Missing required param: {name}.", {"param": name})
            if type not in ("account_onboarding", "account_update"):
                raise UserError(400, "Invalid type", {"param": "type"})
            for name, value in (("refresh_url", refresh_url), ("return_url", return_url)):
                if not isinstance(value, str) or not value.startswith(("http://", "https://")):
                    raise UserError(400, f"Missing or invalid {name}", {"param": name})
            assert isinstance(account, str)
            Account._api_retrieve(account)  # 404 for an unknown account
            return cls(account, f"{base_url}/_config/accounts/{account}/onboard")

    # --- PaymentIntents --------------------------------------------------------------------

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

    PI.__init__ = init
    PI._api_list_all = api_list_all
    PI._api_capture = api_capture
    PI._api_create = api_create
    PI._confirm_off_session = confirm_off_session
    PI._create_charge = create_charge
    PI._confirm = confirm
    PI._api_confirm = api_confirm
    PI._api_cancel = api_cancel
    PI.status = property(status)
    PI.last_payment_error = property(last_payment_error)
    PI.amount_received = property(amount_received)
    PI.amount_capturable = property(amount_capturable)

    # --- Payment methods: Stripe's test ids for authentication ------------------------------

    PM = r.PaymentMethod
    canonical = PM._try_get_canonical_test_article.__func__

    @classmethod  # type: ignore[misc]
    def try_canonical(cls: Any, id: str) -> Any:
        number = CANONICAL_CARDS.get(id)
        if number is not None:
            card = {"number": number, "exp_month": "12", "exp_year": "2030", "cvc": "123"}
            return PM(type="card", card=card)
        return canonical(cls, id)

    PM._try_get_canonical_test_article = try_canonical

    # --- Refunds: never more than what is left -----------------------------------------------

    Refund = r.Refund
    refund_init = Refund.__init__

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
            intent = PI._api_retrieve(payment_intent)
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

    Refund.__init__ = refund

    PI._api_expire = api_expire
    replaced = {"/v1/payment_intents/{id}/confirm": PI._api_confirm}
    replaced["/v1/payment_intents/{id}/cancel"] = PI._api_cancel
    replaced["/v1/payment_intents/{id}/capture"] = PI._api_capture
    r.extra_apis[:] = [(m, url, replaced.get(url, f)) for m, url, f in r.extra_apis]
    r.extra_apis.extend(
        [
            ("POST", "/v1/accounts", Account._api_create),
            ("GET", "/v1/accounts/{id}", lambda id, **_: Account._api_retrieve(id)),
            ("POST", "/v1/accounts/{id}", Account._api_update),
            ("GET", "/v1/accounts", lambda **kw: Account._api_list_all("/v1/accounts", **kw)),
            ("POST", "/v1/account_links", AccountLink._api_create),
            ("POST", "/_config/accounts/{id}", Account._api_config),
            ("GET", "/_config/accounts/{id}/onboard", Account._api_onboard),
            ("POST", "/_config/payment_intents/{id}/expire", PI._api_expire),
        ]
    )
