"""Stripe.js: ``stripe.createPaymentMethod`` as Stripe documents it (localstripe's stub is empty).

localstripe 1.15's Stripe.js v3 stand-in (``/js.stripe.com/v3/``) has Elements' card, tokens
and ``confirmCardPayment`` (its 3-D Secure dialog), but ``createPaymentMethod`` returns nothing,
and its API refuses ``POST /v1/payment_methods`` with a publishable key, which is how Stripe.js
creates one. The storefront's checkout creates the card's PaymentMethod in the browser and
sends only its id (card data never reaches our servers), so:

- the stand-in's card inputs get labels (``aria-label``), as Stripe's have;
- the stand-in gets ``createPaymentMethod({type: "card", card: <card Element>,
  billing_details})``, answering ``{paymentMethod}`` or ``{error}`` as Stripe.js does;
- ``POST /v1/payment_methods`` with ``key=pk_...`` in the body (and no secret key) creates it;
- ``confirmCardPayment(clientSecret, {payment_method: {card}})`` (the storefront's pay-later
  page: a card typed in) creates the PaymentMethod, confirms the PaymentIntent with it
  (``POST /v1/payment_intents/{id}/confirm`` with ``key=pk_...`` and the intent's own
  ``client_secret``, as Stripe.js does) and then runs the stand-in's 3-D Secure dialog when
  the card asks for it.

Nothing here touches localstripe: :mod:`.patches` installs the middleware.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

__all__ = ["CREATE_PAYMENT_METHOD_JS", "middleware"]

STRIPE_JS_PATH = "/js.stripe.com/v3/"
_CONFIRM = re.compile(r"/v1/payment_intents/(pi_\w+)/confirm")

CREATE_PAYMENT_METHOD_JS = r"""
// dropwave: stripe.createPaymentMethod, as Stripe.js has it (localstripe's is a stub), and
// the card's inputs labelled, as Stripe's Elements are.
(function () {
  const mount = Element.prototype.mount;
  const labels = {number: 'Card number', exp_month: 'Expiry month (MM)',
                  exp_year: 'Expiry year (YY)', cvc: 'Security code (CVC)',
                  postal_code: 'Postal code'};
  Element.prototype.mount = function (domElement) {
    mount.call(this, domElement);
    Object.entries(this._inputs || {}).forEach(([field, input]) => {
      input.setAttribute('aria-label', labels[field]);
    });
  };
  const standIn = Stripe;
  Stripe = (apiKey) => {
    const stripe = standIn(apiKey);
    stripe.createPaymentMethod = async (data) => {
      const element = data && data.card;
      const value = element && element.value;
      if (!value || !value.card || !value.card.number) {
        return {error: {type: 'validation_error', code: 'incomplete_number',
                        message: 'Your card number is incomplete.'}};
      }
      const billing = Object.assign({}, data.billing_details || {});
      billing.address = Object.assign({postal_code: value.postal_code || undefined},
                                      billing.address || {});
      try {
        const response = await fetch(`${LOCALSTRIPE_BASE_API}/v1/payment_methods`, {
          method: 'POST',
          body: JSON.stringify({key: apiKey, type: 'card', card: value.card,
                                billing_details: billing}),
        });
        const body = await response.json().catch(() => ({}));
        if (response.status !== 200 || body.error) {
          return {error: body.error || {message: 'Your card details are incomplete.'}};
        }
        return {paymentMethod: body};
      } catch (err) {
        return {error: {type: 'api_connection_error', message: String(err)}};
      }
    };
    // confirmCardPayment(clientSecret, {payment_method: {card}}): Stripe.js makes the
    // PaymentMethod, confirms the PaymentIntent with it (publishable key and client_secret),
    // then handles 3-D Secure; the stand-in only knows the last step (its dialog).
    const challenge = stripe.confirmCardPayment;
    stripe.confirmCardPayment = async (clientSecret, data) => {
      const card = data && data.payment_method && data.payment_method.card;
      if (!card) return challenge(clientSecret, data);
      const made = await stripe.createPaymentMethod({type: 'card', card});
      if (made.error) return {error: made.error};
      const pi = clientSecret.match(/^(pi_\w+)_secret_/)[1];
      try {
        const response = await fetch(
          `${LOCALSTRIPE_BASE_API}/v1/payment_intents/${pi}/confirm`, {
            method: 'POST',
            body: JSON.stringify({key: apiKey, client_secret: clientSecret,
                                  payment_method: made.paymentMethod.id}),
          });
        const body = await response.json().catch(() => ({}));
        if (response.status !== 200 || body.error) {
          return {error: body.error || {message: 'Your card was declined.'}};
        }
        if (body.status === 'requires_action') return challenge(clientSecret, data);
        if (body.last_payment_error) {
          return {error: Object.assign({type: 'card_error'}, body.last_payment_error),
                  paymentIntent: body};
        }
        return {paymentIntent: body};
      } catch (err) {
        return {error: {type: 'api_connection_error', message: String(err)}};
      }
    };
    return stripe;
  };
})();
"""


def middleware() -> Any:
    """An aiohttp middleware serving the extended stand-in and publishable-key creation."""
    from localstripe import resources as r
    from localstripe.server import get_post_data, json_response

    @web.middleware
    async def stripe_js(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.method == "GET" and request.path == STRIPE_JS_PATH:
            served = await handler(request)
            return web.Response(
                text=served.text + CREATE_PAYMENT_METHOD_JS,
                content_type="application/javascript",
            )
        if (
            request.method == "POST"
            and request.path == "/v1/payment_methods"
            and "Authorization" not in request.headers
        ):
            data = dict(await get_post_data(request, remove_auth=False) or {})
            key = data.pop("key", None)
            if isinstance(key, str) and key.startswith("pk_"):
                data.pop("payment_user_agent", None)
                try:
                    created: web.StreamResponse = json_response(
                        r.PaymentMethod._api_create(**data)._export()
                    )
                except r.UserError as error:
                    created = error.to_response()
                return created
        confirm = _CONFIRM.fullmatch(request.path)
        if request.method == "POST" and confirm and "Authorization" not in request.headers:
            data = dict(await get_post_data(request, remove_auth=False) or {})
            key, secret = data.pop("key", None), data.pop("client_secret", None)
            if isinstance(key, str) and key.startswith("pk_"):
                try:
                    intent = r.PaymentIntent._api_retrieve(confirm.group(1))
                    if not isinstance(secret, str) or secret != intent.client_secret:
                        raise r.UserError(401, "Unauthorized")
                    confirmed: web.StreamResponse = json_response(
                        r.PaymentIntent._api_confirm(confirm.group(1), **data)._export()
                    )
                except r.UserError as error:
                    confirmed = error.to_response()
                return confirmed
        response: web.StreamResponse = await handler(request)
        return response

    return stripe_js
