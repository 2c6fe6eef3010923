"""The shared input validators: plain text, slugs, instants."""

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated

import pytest
from dropwave_runtime.inputs import PLAIN_LINE, PlainText, is_slug, utc_instant
from pydantic import BaseModel, StringConstraints, ValidationError


class Body(BaseModel):
    line: Annotated[str, StringConstraints(strip_whitespace=True, max_length=50), PLAIN_LINE] = "ok"
    text: PlainText = "ok"


REFUSED_EVERYWHERE = [
    "NUL \x00 byte",
    "bell \x07",
    "escape \x1b[31m",
    "carriage \r return",
    "DEL \x7f",
    "C1 \x85 next line",
    "line \u2028 separator",
    "paragraph \u2029 separator",
    "unpaired \ud800 surrogate",
    *(f"bidi {chr(c)} control" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))),
]


@pytest.mark.parametrize("value", REFUSED_EVERYWHERE)
def test_control_bidi_and_surrogates_are_refused_in_lines_and_texts(value: str) -> None:
    # (pydantic's own string constraints already refuse a surrogate: "valid string")
    with pytest.raises(ValidationError, match=r"must not contain|valid string"):
        Body(line=value)
    with pytest.raises(ValidationError, match="must not contain"):
        Body(text=value)


@pytest.mark.parametrize("value", ["two\nlines", "a\ttab", "crlf\r\nline"])
def test_a_line_is_one_line(value: str) -> None:
    with pytest.raises(ValidationError, match="must not contain"):
        Body(line=value)


def test_plain_text_keeps_lf_and_tab_and_any_printable_script() -> None:
    assert Body(text="first\n\tsecond").text == "first\n\tsecond"
    for value in ("Café crème", "שלום עולם", "مرحبا", "日本語 🎉", "zero\u200bwidth", "rlm\u200f"):
        assert Body(line=value).line == value


def test_the_documented_pattern_matches_the_rule() -> None:
    schema = Body.model_json_schema()["properties"]
    line, text = re.compile(schema["line"]["pattern"]), re.compile(schema["text"]["pattern"])
    assert schema["line"]["maxLength"] == 50
    for value in REFUSED_EVERYWHERE:
        if "surrogate" in value:  # no UTF-8 text carries one; the validator still refuses it
            continue
        assert not line.match(value), repr(value)
        assert not text.match(value), repr(value)
    assert not line.match("two\nlines")
    assert text.match("two\nlines")
    assert line.match("Café 日本語")
    assert text.match("Café 日本語")


def test_constraints_apply_before_the_check() -> None:
    assert Body(line="  padded  ").line == "padded"
    with pytest.raises(ValidationError, match="at most 50"):
        Body(line="x" * 51)


def test_slugs() -> None:
    assert is_slug("walnut-desk-2", 80)
    for bad in ("abc\x00def", "Abc", "a--b", "-a", "a/b", "a%00", "é", "", "a" * 81):
        assert not is_slug(bad, 80), bad


def test_utc_instant_bounds_and_overflow() -> None:
    odd = timezone(-timedelta(hours=1, minutes=30))
    assert utc_instant(datetime(2030, 1, 1, tzinfo=odd)) == datetime(2030, 1, 1, 1, 30, tzinfo=UTC)
    for bad in (
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=odd),  # overflows on the way to UTC
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))),
        datetime(2100, 1, 1, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, tzinfo=UTC),
        datetime(2030, 1, 1),  # naive
    ):
        with pytest.raises(ValueError, match=r"out of range|between|time zone"):
            utc_instant(bad)
