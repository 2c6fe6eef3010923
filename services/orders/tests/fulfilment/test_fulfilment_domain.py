"""Fulfilment's pure rules: addresses by their country's rules, the cursor, CSV cells."""

import pytest
from dropwave_runtime.countries import country_codes
from dropwave_runtime.errors import Invalid
from orders.fulfilment import domain

US = {
    "name": "Ada Lovelace",
    "street_address": "1 Main St",
    "city": "Springfield",
    "country_area": "Illinois",
    "postal_code": "62701",
    "country_code": "US",
}
DE = {
    "name": "Ada",
    "street_address": "Hauptstr. 1",
    "city": "Berlin",
    "postal_code": "10115",
    "country_code": "DE",
}


def test_an_address_is_normalized_by_its_countrys_rules() -> None:
    stored = domain.shipping_address(["US", "DE"], US)
    assert stored is not None
    assert (stored["city"], stored["country_area"], stored["postal_code"]) == (
        "SPRINGFIELD",
        "IL",
        "62701",
    )
    assert stored["name"] == "Ada Lovelace"
    assert set(stored) == set(domain.ADDRESS_FIELDS)
    assert domain.shipping_address(["DE"], DE) is not None


@pytest.mark.parametrize(
    ("ship_to", "given", "code"),
    [
        ([], US, "shipping_not_offered"),
        (["US"], None, "shipping_address_required"),
        (["DE"], US, "country_not_shipped"),
        (["US"], {**US, "postal_code": "9021"}, "shipping_address_invalid"),
        (["US"], {**US, "postal_code": "90210"}, "shipping_address_invalid"),  # not Illinois
        (["US"], {**US, "country_area": "Atlantis"}, "shipping_address_invalid"),
        (["US"], {**US, "city": ""}, "shipping_address_invalid"),
        (["DE"], {**DE, "postal_code": "1011"}, "shipping_address_invalid"),
        (["GB"], {**DE, "country_code": "GB", "postal_code": "12345"}, "shipping_address_invalid"),
    ],
)
def test_a_bad_address_is_refused_with_its_reason(
    ship_to: list[str], given: dict[str, str] | None, code: str
) -> None:
    with pytest.raises(Invalid) as refused:
        domain.shipping_address(ship_to, given)
    assert refused.value.code == code


def test_a_digital_drop_needs_no_address() -> None:
    assert domain.shipping_address([], None) is None


def test_the_reason_names_fields_never_values() -> None:
    with pytest.raises(Invalid) as refused:
        domain.shipping_address(["US"], {**US, "postal_code": "9021"})
    assert "postal_code is invalid" in refused.value.message
    assert "9021" not in refused.value.message


def test_known_countries_come_from_the_address_data() -> None:
    assert {"US", "DE", "GB", "FR", "JP"} <= country_codes()
    assert "ZZ" not in country_codes()


def test_the_cursor_round_trips_and_junk_is_refused() -> None:
    assert domain.decode_cursor(domain.encode_cursor(1234)) == 1234
    assert domain.decode_cursor("") == 0
    for junk in ("!!!", "Yg", "eDEy", "YjEyMzQ1Njc4OTAxMjM0"):
        with pytest.raises(Invalid):
            domain.decode_cursor(junk)


def test_csv_cells_never_start_a_formula() -> None:
    assert domain.csv_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert domain.csv_cell("@SUM") == "'@SUM"
    assert domain.csv_cell("-1") == "'-1"
    assert domain.csv_cell("Ada") == "Ada"
    assert domain.csv_cell(None) == ""
