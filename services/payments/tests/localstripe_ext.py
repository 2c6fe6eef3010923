"""localstripe with the test-side extension payments needs, run as a script.

localstripe 1.15 rejects ``automatic_payment_methods`` ("Unexpected ..."), which payments
sends so a server-side confirm needs no ``return_url`` on real Stripe. The emulator only
offers cards, so ignoring the parameter is faithful. Everything else is the devstack's
launcher (memory-only store, IPv4 bind).
"""

from typing import Any

from dropwave_devstack.localstripe_launcher import main
from localstripe import resources

_original_init = resources.PaymentIntent.__init__


def _init(self: Any, *args: Any, automatic_payment_methods: Any = None, **kwargs: Any) -> None:
    _original_init(self, *args, **kwargs)


resources.PaymentIntent.__init__ = _init

if __name__ == "__main__":
    raise SystemExit(main())
