"""Text a client sends that we store, show or send on: the shared validators.

Every service's request schemas use these annotated types for free text, so a bad character
is a 422 problem at the door, never a 500 from the database (PostgreSQL refuses NUL in text,
asyncpg refuses lone surrogates) or a forged line in an email or SMS.

- `PlainLine`: one line (titles, names, reasons): no control character at all (C0, DEL,
  C1, so no CR/LF/TAB), no line or paragraph separator.
- `PlainText`: several lines (descriptions): like `PlainLine` but LF and TAB are allowed.
- Both refuse lone surrogates and the Unicode bidi overrides and isolates (U+202A-U+202E,
  U+2066-U+2069), which can make text read differently than it is (CVE-2021-42574).

They check, never rewrite: what is accepted is stored as sent. With bounds, write
`Annotated[str, StringConstraints(max_length=...), PLAIN_LINE]` (the check after the
constraints: a pydantic constraint placed after a validator is checked on the input as sent,
before `strip_whitespace`).

Also here: `SLUG_PATTERN` (a campaign's public name, resolved by campaigns and orders) and
`utc_instant` (a client's date or a cursor's: in UTC, within years 2000-2099; beyond, the
offset arithmetic alone can overflow, `9999-12-31T23:59:59-01:30`).
"""

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Bidi embeddings/overrides (LRE, RLE, PDF, LRO, RLO) and isolates (LRI, RLI, FSI, PDI)."""
LINE_SEPARATORS = frozenset("\u2028\u2029")
MULTILINE_ALLOWED = frozenset("\n\t")


SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
_SLUG = re.compile(SLUG_PATTERN)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def is_slug(value: str, max_length: int) -> bool:
    """Lowercase ASCII words joined by single hyphens (never NUL, `/`, `%`...)."""
    return len(value) <= max_length and _SLUG.fullmatch(value) is not None


def utc_instant(value: datetime) -> datetime:
    """`value` (aware) in UTC when it lies in [2000-01-01, 2100-01-01) UTC, else ValueError."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("must have a time zone")
    try:
        instant = value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("out of range") from exc
    if not EARLIEST <= instant < LATEST:
        raise ValueError("must be between 2000-01-01 and 2100-01-01 (UTC)")
    return instant


def _bad_character(value: str, allowed: frozenset[str]) -> str | None:
    for char in value:
        if char in allowed:
            continue
        if char in BIDI_CONTROLS:
            return "a bidirectional override or isolate"
        if char in LINE_SEPARATORS:
            return "a line break"
        category = unicodedata.category(char)
        if category == "Cc":
            return "a line break" if char in "\r\n" else "a control character"
        if category == "Cs":
            return "an unpaired surrogate"
    return None


def plain_line(value: str) -> str:
    """`value` if it is one line of plain text, else ValueError (a 422 in a request)."""
    bad = _bad_character(value, frozenset())
    if bad:
        raise ValueError(f"must not contain {bad}")
    return value


def plain_text(value: str) -> str:
    """`value` if it is plain text (LF and TAB allowed), else ValueError."""
    bad = _bad_character(value, MULTILINE_ALLOWED)
    if bad:
        raise ValueError(f"must not contain {bad}")
    return value


@dataclass(frozen=True)
class _Plain:
    """Validates with `check` after what precedes it in `Annotated` (so after
    `StringConstraints`' strip and lengths), and documents the rule as a JSON Schema
    `pattern` in OpenAPI."""

    check: Callable[[str], str]
    pattern: str

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema: dict[str, Any] = handler(schema)
        json_schema["pattern"] = self.pattern
        return json_schema


_REFUSED = r"\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
PLAIN_LINE = _Plain(plain_line, rf"^[^\t\n{_REFUSED}]*$")
"""Put after `StringConstraints` in `Annotated[str, ...]`: one line of plain text."""
PLAIN_TEXT = _Plain(plain_text, rf"^[^{_REFUSED}]*$")
"""Put after `StringConstraints` in `Annotated[str, ...]`: plain text, LF and TAB allowed."""
PlainLine = Annotated[str, PLAIN_LINE]
PlainText = Annotated[str, PLAIN_TEXT]
