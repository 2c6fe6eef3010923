"""Every change we make to localstripe, in one place.

localstripe 1.15 lacks what Stripe documents and payments uses (Connect, refund limits,
off-session authentication, idempotency keys, ...) and its store does not scale. The resource
modules (:mod:`.accounts`, :mod:`.payment_intents`, :mod:`.payment_methods`, :mod:`.refunds`,
:mod:`.store`, :mod:`.idempotency`, :mod:`.stripe_js`) build the replacements without touching
localstripe; :func:`apply` installs them, and only it: each attribute replaced is one
:class:`Patch` of :func:`attribute_patches`, each route added or replaced one :class:`RoutePatch` of
:func:`route_patches`. Everything follows Stripe's documented behaviour (pinned by
``deploy/devstack/tests/test_emulator_contract.py``); production code is never bent around
the emulator.

Run once, in the emulator's own process (:mod:`.launcher`), before ``localstripe.server`` is
imported (it builds its routes from ``resources.extra_apis`` on import).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import accounts, idempotency, payment_intents, payment_methods, refunds, store, stripe_js

__all__ = ["Patch", "RoutePatch", "apply", "attribute_patches", "route_patches"]


@dataclass(frozen=True)
class Patch:
    """``setattr(target, name, value)``, and why."""

    target: Any
    name: str
    value: Any
    why: str


@dataclass(frozen=True)
class RoutePatch:
    """A route of ``resources.extra_apis`` added, or replaced (same method and URL), and why."""

    method: str
    url: str
    handler: Callable[..., Any]
    why: str


def attribute_patches(
    r: Any, store_ext: store.StoreExtension, pi: payment_intents.PaymentIntentExtension
) -> list[Patch]:
    """Every attribute of localstripe we replace (or add), with the reason."""
    PI, Store = r.PaymentIntent, r.Store
    return [
        Patch(
            Store,
            "dump_to_disk",
            store_ext.dump_to_disk,
            "not the shared /tmp/localstripe.pickle: memory, or our own file, atomically",
        ),
        Patch(
            Store,
            "try_load_from_disk",
            store_ext.try_load_from_disk,
            "load from our own file (if any) and rebuild the by-type index",
        ),
        Patch(Store, "__setitem__", store_ext.setitem, "keep the by-type index on writes"),
        Patch(Store, "__delitem__", store_ext.delitem, "keep the by-type index on deletes"),
        Patch(Store, "clear", store_ext.clear, "clear the by-type index too (and write nothing)"),
        Patch(
            r.StripeObject,
            "_api_list_all",
            classmethod(store_ext.list_all),
            "list from the by-type index instead of scanning the whole store",
        ),
        Patch(
            PI,
            "__init__",
            pi.init,
            "accept Connect, setup_future_usage, description and automatic_payment_methods",
        ),
        Patch(PI, "_api_list_all", pi.api_list_all, "listing filters by customer, as on Stripe"),
        Patch(
            PI,
            "_api_capture",
            pi.api_capture,
            "capture only from requires_capture (payment_intent_unexpected_state)",
        ),
        Patch(
            PI,
            "_api_create",
            pi.api_create,
            "off_session=true fails on cards that need authentication, as on Stripe",
        ),
        Patch(
            PI,
            "_confirm_off_session",
            pi.confirm_off_session,
            "the off-session confirmation (new): authentication_required or a charge",
        ),
        Patch(
            PI,
            "_create_charge",
            pi.create_charge,
            "capture_before on holds, charge.succeeded and amount_capturable_updated events",
        ),
        Patch(PI, "_confirm", pi.confirm, "a new confirmation clears a failed off-session one"),
        Patch(
            PI,
            "_api_confirm",
            pi.api_confirm,
            "confirm takes payment_method and retries after a failed payment",
        ),
        Patch(
            PI,
            "_api_cancel",
            pi.api_cancel,
            "cancellation_reason, canceled_at and the payment_intent.canceled event",
        ),
        Patch(
            PI,
            "_api_expire",
            pi.api_expire,
            "the test control that lets an authorization expire (new)",
        ),
        Patch(PI, "status", pi.status, "requires_payment_method after a failed off-session try"),
        Patch(
            PI,
            "last_payment_error",
            pi.last_payment_error,
            "authentication_required after a failed off-session try",
        ),
        Patch(PI, "amount_received", pi.amount_received, "reported, as on Stripe (new)"),
        Patch(PI, "amount_capturable", pi.amount_capturable, "reported, as on Stripe (new)"),
        Patch(
            r.PaymentMethod,
            "_try_get_canonical_test_article",
            payment_methods.build(r),
            "Stripe's pm_card_authenticationRequired & co. test ids",
        ),
        Patch(
            r.Refund,
            "__init__",
            refunds.build(r),
            "never refund more than is left, nor an uncaptured PaymentIntent",
        ),
        Patch(r.Refund, "_api_list_all", refunds.build_list(r), "listing filters by created"),
    ]


def route_patches(r: Any, acct: accounts.AccountResources) -> list[RoutePatch]:
    """Every route of localstripe we replace or add, with the reason."""
    PI, Account = r.PaymentIntent, acct.account
    return [
        RoutePatch(
            "POST",
            "/v1/payment_intents/{id}/confirm",
            PI._api_confirm,
            "the route bound localstripe's confirm: bind ours",
        ),
        RoutePatch(
            "POST",
            "/v1/payment_intents/{id}/cancel",
            PI._api_cancel,
            "the route bound localstripe's cancel: bind ours",
        ),
        RoutePatch(
            "POST",
            "/v1/payment_intents/{id}/capture",
            PI._api_capture,
            "the route bound localstripe's capture: bind ours",
        ),
        RoutePatch("POST", "/v1/accounts", Account._api_create, "Connect: create an account"),
        RoutePatch(
            "GET",
            "/v1/accounts/{id}",
            lambda id, **_: Account._api_retrieve(id),
            "Connect: retrieve an account",
        ),
        RoutePatch("POST", "/v1/accounts/{id}", Account._api_update, "Connect: update an account"),
        RoutePatch(
            "GET",
            "/v1/accounts",
            lambda **kw: Account._api_list_all("/v1/accounts", **kw),
            "Connect: list accounts",
        ),
        RoutePatch(
            "POST", "/v1/account_links", acct.account_link._api_create, "Connect: onboarding links"
        ),
        RoutePatch(
            "POST",
            "/_config/accounts/{id}",
            Account._api_config,
            "test control: set an account's flags",
        ),
        RoutePatch(
            "GET",
            "/_config/accounts/{id}/onboard",
            Account._api_onboard,
            "test control: what finishing the onboarding link does",
        ),
        RoutePatch(
            "POST",
            "/_config/payment_intents/{id}/expire",
            PI._api_expire,
            "test control: an authorization's window passed",
        ),
    ]


def apply(base_url: str, store_path: Path | None) -> None:
    """Install every patch: attributes, routes, then the idempotency middleware.

    ``base_url``: where the emulator answers (account links point there); ``store_path``:
    where the store persists (``None``: memory only).
    """
    from localstripe import resources as r

    store_ext = store.build(r, store_path)
    acct = accounts.build(r, base_url)
    pi = payment_intents.build(r, acct.account)
    for patch in attribute_patches(r, store_ext, pi):
        setattr(patch.target, patch.name, patch.value)
    store_ext.reindex(r.store)  # the store object predates the index

    added = route_patches(r, acct)
    replaced = {(p.method, p.url): p.handler for p in added}
    existing = {(m, url) for m, url, _ in r.extra_apis}
    # In place: localstripe.server imported the list itself.
    r.extra_apis[:] = [(m, url, replaced.get((m, url), f)) for m, url, f in r.extra_apis]
    r.extra_apis.extend(
        (p.method, p.url, p.handler) for p in added if (p.method, p.url) not in existing
    )

    from localstripe import server

    # Honour Idempotency-Key like Stripe (localstripe ignores it): first of all middlewares.
    server.app.middlewares.insert(0, idempotency.middleware())
    # Stripe.js's createPaymentMethod (the stand-in's is a stub) and its publishable-key call.
    server.app.middlewares.insert(1, stripe_js.middleware())
