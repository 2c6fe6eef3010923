"""Pay-later link tokens: signed over the order and the grace period's end, refused when
expired, forged, another order's or malformed (pure, no I/O)."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from payments.pay_later.domain import expiry_of, sign_pay_token, verify_pay_token

SECRET = "pay-link-secret-0123456789"
ORDER = uuid.UUID("0b9e8a4c-5d2f-4e1b-8a7c-6f3e2d1c0b9a")
NOW = datetime(2031, 1, 2, 9, 30, tzinfo=UTC)
UNTIL = NOW + timedelta(days=7, microseconds=123_456)


def test_a_token_is_url_safe_and_valid_until_the_grace_period_ends() -> None:
    token = sign_pay_token(SECRET, ORDER, UNTIL)
    expiry, signature = token.split(".")
    assert int(expiry) == expiry_of(UNTIL) == int(UNTIL.timestamp())
    assert len(signature) == 43
    assert "=" not in signature
    assert all(c.isalnum() or c in "-_" for c in signature)
    assert sign_pay_token(SECRET, ORDER, UNTIL) == token  # deterministic: nothing stored
    assert verify_pay_token(SECRET, ORDER, token, NOW) == UNTIL.replace(microsecond=0)
    last_second = UNTIL.replace(microsecond=0) - timedelta(microseconds=1)
    assert verify_pay_token(SECRET, ORDER, token, last_second) is not None


def test_an_expired_token_is_refused() -> None:
    token = sign_pay_token(SECRET, ORDER, UNTIL)
    assert verify_pay_token(SECRET, ORDER, token, UNTIL.replace(microsecond=0)) is None
    assert verify_pay_token(SECRET, ORDER, token, UNTIL + timedelta(days=1)) is None


def test_a_forged_token_is_refused() -> None:
    token = sign_pay_token(SECRET, ORDER, UNTIL)
    expiry, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    later = sign_pay_token(SECRET, ORDER, UNTIL + timedelta(days=30)).split(".")[0]
    forged = [
        f"{expiry}.{flipped}",  # another signature
        f"{later}.{signature}",  # a later expiry with the old signature
        sign_pay_token("another-secret-0123456789", ORDER, UNTIL),  # signed with another key
    ]
    for candidate in forged:
        assert verify_pay_token(SECRET, ORDER, candidate, NOW) is None, candidate


def test_another_orders_token_is_refused() -> None:
    token = sign_pay_token(SECRET, ORDER, UNTIL)
    assert verify_pay_token(SECRET, uuid.uuid4(), token, NOW) is None


@pytest.mark.parametrize(
    "token",
    [
        None,
        "",
        "garbage",
        ".",
        "123.",
        ".abc",
        "x123.abc",
        "-1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "1e9.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "1234567890123.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",  # 13 digits
        "1924000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",  # padded
        "1924000000.AAAA",  # short
        "1924000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/",  # not URL-safe
        "1924000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAé",  # not ASCII
        " 1924000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "1924000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
    ],
)
def test_a_malformed_token_is_refused(token: str | None) -> None:
    assert verify_pay_token(SECRET, ORDER, token, NOW) is None


def test_one_spelling_per_expiry() -> None:
    """A leading zero would sign the same expiry: refused, so a token has one spelling."""
    expiry, signature = sign_pay_token(SECRET, ORDER, UNTIL).split(".")
    assert verify_pay_token(SECRET, ORDER, f"0{expiry}.{signature}", NOW) is None
