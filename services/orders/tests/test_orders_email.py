"""The buyer's email: ``Email`` answers exactly as pydantic's ``EmailStr`` does (the value it
keeps, or a validation error), its fast path for plain addresses included."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from orders.schemas import Email
from pydantic import EmailStr, TypeAdapter, ValidationError

EMAIL = TypeAdapter(Email)
EMAIL_STR = TypeAdapter(EmailStr)


def outcome(adapter: TypeAdapter[str], value: object) -> tuple[str, object]:
    try:
        return "ok", adapter.validate_python(value)
    except ValidationError as exc:
        return "error", [(e["type"], e["msg"]) for e in exc.errors()]


TRICKY = [
    "buyer@example.com",
    "Buyer.Name+drop@Example.COM",
    "a_b%c-d@sub-domain.example.co.uk",
    "x@example.test",  # special-use: refused
    "x@example.localhost",
    "x@EXAMPLE.ONION",
    "x@example.c",  # one-letter TLD
    "x@example.123",
    "x@localhost",
    "x@xn--nxasmq6b.example",  # IDNA label
    "x@xn--a.example",  # invalid IDNA label
    "x@ab--cd.example",
    "x@-example.com",
    "x@example-.com",
    "x@exa_mple.com",
    ".x@example.com",
    "x.@example.com",
    "x..y@example.com",
    "a" * 64 + "@example.com",
    "a" * 65 + "@example.com",
    "x@" + "a" * 63 + ".com",
    "x@" + "a" * 64 + ".com",
    "x@" + ".".join(["a" * 60] * 4) + ".com",  # over 254 characters
    "Jane <jane@example.com>",
    " jane@example.com",
    "jane@example.com ",
    "jane@exämple.com",
    "jäne@example.com",
    "jane@@example.com",
    "jane",
    "",
    "o'brien@example.com",
    "x@example.com.",
    42,
    None,
]


@pytest.mark.parametrize("value", TRICKY, ids=range(len(TRICKY)))
def test_tricky_addresses_get_the_same_answer_as_emailstr(value: object) -> None:
    assert outcome(EMAIL, value) == outcome(EMAIL_STR, value)


PLAIN_LIKE = r"[A-Za-z0-9._%+-]{1,70}@[A-Za-z0-9.-]{1,30}\.[A-Za-z0-9]{1,8}"
ALPHABET = "aZ09._%+-@'!#äxn-" + "."


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.from_regex(PLAIN_LIKE, fullmatch=True),
        st.text(ALPHABET, max_size=40),
    )
)
def test_any_address_gets_the_same_answer_as_emailstr(value: str) -> None:
    assert outcome(EMAIL, value) == outcome(EMAIL_STR, value)
