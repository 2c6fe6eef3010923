"""Payment methods: Stripe's test ids for cards that need authentication.

localstripe 1.15 does not know ``pm_card_authenticationRequired`` and friends; here they are
the 3-D Secure test cards Stripe documents.

Nothing here touches localstripe: :mod:`.patches` installs what :func:`build` returns.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CANONICAL_CARDS", "build"]

CANONICAL_CARDS = {
    "pm_card_authenticationRequired": "4000002760003184",
    "pm_card_authenticationRequiredOnSetup": "4000002500003155",
    "pm_card_threeDSecure2Required": "4000000000003220",
}


def build(r: Any) -> Any:
    """``PaymentMethod._try_get_canonical_test_article`` knowing :data:`CANONICAL_CARDS`."""
    PM = r.PaymentMethod
    canonical = PM._try_get_canonical_test_article.__func__

    @classmethod  # type: ignore[misc]
    def try_canonical(cls: Any, id: str) -> Any:
        number = CANONICAL_CARDS.get(id)
        if number is not None:
            card = {"number": number, "exp_month": "12", "exp_year": "2030", "cvc": "123"}
            return PM(type="card", card=card)
        return canonical(cls, id)

    return try_canonical
