"""The currencies a campaign may be priced in: the ones Stripe can charge in.

A campaign in a currency Stripe does not support (`xxx`) would have every one of its
orders fail at Stripe, so campaigns refuses it at the door (422).

Source: Stripe's supported presentment currencies, https://docs.stripe.com/currencies
("Presentment currencies", card payments), as listed in 2025. Some are not available to
every account country or payment method (Stripe then refuses the PaymentIntent itself);
what is not on this list is never available. Update the list from that page.
"""

from typing import Final

STRIPE_CURRENCIES: Final = frozenset(
    {
        "usd", "aed", "afn", "all", "amd", "ang", "aoa", "ars", "aud", "awg", "azn", "bam",
        "bbd", "bdt", "bgn", "bhd", "bif", "bmd", "bnd", "bob", "brl", "bsd", "bwp", "byn",
        "bzd", "cad", "cdf", "chf", "clp", "cny", "cop", "crc", "cve", "czk", "djf", "dkk",
        "dop", "dzd", "egp", "etb", "eur", "fjd", "fkp", "gbp", "gel", "gip", "gmd", "gnf",
        "gtq", "gyd", "hkd", "hnl", "htg", "huf", "idr", "ils", "inr", "isk", "jmd", "jod",
        "jpy", "kes", "kgs", "khr", "kmf", "krw", "kwd", "kyd", "kzt", "lak", "lbp", "lkr",
        "lrd", "lsl", "mad", "mdl", "mga", "mkd", "mmk", "mnt", "mop", "mur", "mvr", "mwk",
        "mxn", "myr", "mzn", "nad", "ngn", "nio", "nok", "npr", "nzd", "omr", "pab", "pen",
        "pgk", "php", "pkr", "pln", "pyg", "qar", "ron", "rsd", "rub", "rwf", "sar", "sbd",
        "scr", "sek", "sgd", "shp", "sle", "sos", "srd", "std", "szl", "thb", "tjs", "tnd",
        "top", "try", "ttd", "twd", "tzs", "uah", "ugx", "uyu", "uzs", "vnd", "vuv", "wst",
        "xaf", "xcd", "xof", "xpf", "yer", "zar", "zmw",
    }
)  # fmt: skip
"""Lowercase ISO 4217 codes, as Stripe's API wants them."""

THREE_DECIMAL: Final = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})
"""Stripe takes amounts in these with three decimals but only in multiples of 10 (the last
digit 0)."""


def supported(currency: str) -> str:
    """`currency` if Stripe can charge in it, else ValueError (a 422 in a request)."""
    if currency not in STRIPE_CURRENCIES:
        raise ValueError("is not a currency Stripe supports (see GET /openapi.json for the list)")
    return currency
