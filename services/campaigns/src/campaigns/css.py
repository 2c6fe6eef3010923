"""Creator custom CSS, made safe: parsed with a real CSS parser (tinycss2), rebuilt from an
allowlist, every selector scoped under `.user-content`. Pure function, no I/O.

Why an allowlist rebuild instead of filtering the input text: CSS escapes (`\\65 xpression`),
comments inside keywords (`exp/**/ression`) and HTML break-outs (`</style>`) defeat text
filters; the tokenizer resolves all of them, and we serialize only what we understood.

What survives:
- qualified rules whose every selector can be scoped: each selector of a selector list is
  prefixed with `.user-content ` (a leading `html`, `body`, `:root` or `:scope` compound
  means `.user-content` itself); a selector starting with `+`/`~` (a sibling of the
  container), naming `html`/`body`/`:root` elsewhere, or using unknown syntax is dropped;
- `@media` and `@supports` with their nested rules scoped the same way; every other at-rule
  (`@import`, `@font-face`, `@keyframes` (global names), `@namespace`, `@page`...) is dropped;
- declarations whose value uses only allowlisted functions; `url()` only for https URLs on
  `allowed_url_hosts` (empty: no `url()` at all). `behavior`, `-moz-binding`, `expression()`,
  `javascript:`/`vbscript:`, parse errors, at-keywords and `<` anywhere drop the declaration;
  `position` keeps only `static`, `relative`, `absolute` or `sticky` as a plain keyword (so
  neither `fixed` nor `var(--x)` holding `fixed` gets through).

Content stays inside its box: property filters alone cannot stop an overlay (negative
margins, huge transforms, absolute offsets), so every non-empty result starts with
`CONTAINMENT`: the container clips what it paints (`contain: paint`, `overflow: hidden`) and
is the containing block and stacking context of everything in it, `position: fixed` included.
Rules aimed at the container itself (`html`, `body`, `:root`) may not undo that: their
`contain`, `overflow*`, `position`, `isolation`, `content-visibility`, `all` and
`display: contents` declarations are dropped.

Before any parsing, `check_bounds` refuses (422) what the parser and this module would choke
on: brackets nested deeper than `MAX_DEPTH` (the parse tree is walked recursively) and digit
runs longer than `MAX_DIGITS` (tinycss2 turns numbers into ints and floats).
"""

import re
from collections.abc import Collection, Iterable, Sequence
from urllib.parse import urlsplit

import tinycss2
from tinycss2.ast import (
    AtRule,
    Declaration,
    FunctionBlock,
    HashToken,
    IdentToken,
    LiteralToken,
    Node,
    ParenthesesBlock,
    QualifiedRule,
    SquareBracketsBlock,
    StringToken,
    URLToken,
    WhitespaceToken,
)

SCOPE = ".user-content"
MAX_NESTING = 3
MAX_DEPTH = 32
"""Brackets (`(`, `[`, `{`, functions) open at once, counted on the raw text."""
MAX_DIGITS = 64

# Functions allowed in declaration values (`url` is allowed too, but checked on its own).
VALUE_FUNCTIONS = frozenset(
    {
        "rgb", "rgba", "hsl", "hsla", "hwb", "lab", "lch", "oklab", "oklch", "color",
        "color-mix", "light-dark", "calc", "min", "max", "clamp", "var", "env", "attr",
        "linear-gradient", "radial-gradient", "conic-gradient", "repeating-linear-gradient",
        "repeating-radial-gradient", "repeating-conic-gradient", "translate", "translatex",
        "translatey", "translatez", "translate3d", "rotate", "rotatex", "rotatey", "rotatez",
        "rotate3d", "scale", "scalex", "scaley", "scalez", "scale3d", "skew", "skewx", "skewy",
        "matrix", "matrix3d", "perspective", "cubic-bezier", "steps", "minmax", "repeat",
        "fit-content", "blur", "brightness", "contrast", "drop-shadow", "grayscale",
        "hue-rotate", "invert", "opacity", "saturate", "sepia", "counter", "counters",
        "circle", "ellipse", "inset", "polygon",
    }
)  # fmt: skip
# Pseudo-class functions allowed in selectors (their arguments are checked like selectors).
SELECTOR_FUNCTIONS = frozenset(
    {
        "not", "is", "where", "has", "nth-child", "nth-last-child", "nth-of-type",
        "nth-last-of-type", "lang", "dir",
    }
)  # fmt: skip
FORBIDDEN_PROPERTIES = frozenset({"behavior", "-ms-behavior", "-moz-binding", "binding"})
SELECTOR_LITERALS = frozenset({".", ">", "+", "~", "*", ":"})
ATTRIBUTE_LITERALS = frozenset({"=", "~=", "|=", "^=", "$=", "*="})
ROOT_COMPOUNDS = frozenset({"html", "body", ":root", ":scope"})
# Checked on a normalized copy (lowercase, no whitespace, comments, backslashes or NULs):
# a second line of defence behind the token allowlist.
DANGEROUS = ("expression(", "javascript:", "vbscript:", "-moz-binding", "behavior:", "</")
_NORMALIZE = re.compile(r"\s|/\*.*?\*/|\\|\x00", re.DOTALL)
_PROPERTY = re.compile(r"^(?:--[a-zA-Z0-9_-]+|-?[a-z][a-z0-9-]*)$")
_LONG_NUMBER = re.compile(rf"[0-9]{{{MAX_DIGITS + 1}}}")
_OPEN, _CLOSE = frozenset("([{"), frozenset(")]}")


def check_bounds(css: str) -> str:
    """`css` if it is within the parser's bounds, else ValueError (a 422 in a request)."""
    depth = 0
    for char in css:
        if char in _OPEN:
            depth += 1
            if depth > MAX_DEPTH:
                raise ValueError(f"must not nest brackets more than {MAX_DEPTH} deep")
        elif char in _CLOSE:
            depth = max(depth - 1, 0)
    if _LONG_NUMBER.search(css):
        raise ValueError(f"must not contain a number of more than {MAX_DIGITS} digits")
    return css


# First rule of every non-empty result: what the creator's CSS paints stays in its box.
CONTAINMENT = (
    f"{SCOPE} {{ contain: paint !important; position: relative !important; "
    "overflow: hidden !important; isolation: isolate !important }"
)
# Declarations a rule on the container itself may not make (they would undo CONTAINMENT).
CONTAINER_LOCKED = frozenset(
    {
        "contain", "overflow", "overflow-x", "overflow-y", "overflow-block", "overflow-inline",
        "overflow-clip-margin", "position", "isolation", "content-visibility", "all",
    }
)  # fmt: skip
POSITIONS = frozenset({"static", "relative", "absolute", "sticky"})


def sanitize_css(css: str, allowed_url_hosts: Collection[str] = ()) -> str:
    """Return `css` reduced to safe, scoped rules after `CONTAINMENT` (or the empty
    string when nothing survives); ValueError beyond `check_bounds`."""
    check_bounds(css)
    hosts = frozenset(h.lower() for h in allowed_url_hosts)
    rules = tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True)
    kept = _rules(rules, hosts, depth=0)
    if not kept:
        return ""
    out = "\n".join([CONTAINMENT, *kept])
    # Nothing above can emit `<`; kept as a last guard against an HTML `</style>` break-out.
    return out.replace("<", "\\3c ")


def _rules(nodes: Iterable[Node], hosts: frozenset[str], depth: int) -> list[str]:
    out: list[str] = []
    for node in nodes:
        if isinstance(node, QualifiedRule):
            text = _qualified_rule(node, hosts)
        elif isinstance(node, AtRule):
            text = _at_rule(node, hosts, depth)
        else:  # parse errors, stray tokens
            text = None
        if text:
            out.append(text)
    return out


def _qualified_rule(rule: QualifiedRule, hosts: frozenset[str]) -> str | None:
    selectors = scope_selectors(rule.prelude)
    if selectors is None or rule.content is None:
        return None
    on_container = any(part.strip() == SCOPE for part in selectors.split(","))
    declarations = _declarations(rule.content, hosts, on_container)
    if not declarations:
        return None
    return f"{selectors} {{ {'; '.join(declarations)} }}"


def _at_rule(rule: AtRule, hosts: frozenset[str], depth: int) -> str | None:
    if rule.lower_at_keyword not in ("media", "supports") or rule.content is None:
        return None
    if depth >= MAX_NESTING or not _safe_value(rule.prelude, frozenset()):
        return None
    prelude = tinycss2.serialize(_strip(rule.prelude))
    if not prelude or "<" in prelude:
        return None
    nested = tinycss2.parse_rule_list(rule.content, skip_comments=True, skip_whitespace=True)
    inner = _rules(nested, hosts, depth + 1)
    if not inner:
        return None
    return f"@{rule.lower_at_keyword} {prelude} {{\n" + "\n".join(inner) + "\n}"


def _declarations(
    content: Sequence[Node], hosts: frozenset[str], on_container: bool = False
) -> list[str]:
    out: list[str] = []
    for node in tinycss2.parse_blocks_contents(content, skip_comments=True, skip_whitespace=True):
        if not isinstance(node, Declaration):  # nested rules, errors
            continue
        name = node.lower_name
        if name in FORBIDDEN_PROPERTIES or not _PROPERTY.match(name):
            continue
        if not _safe_value(node.value, hosts):
            continue
        value = tinycss2.serialize(_strip(node.value))
        if not value or _dangerous(value) or _dangerous(name):
            continue
        if name == "position" and not _plain_keyword(node.value, POSITIONS):
            continue
        if on_container and (
            name in CONTAINER_LOCKED or (name == "display" and "contents" in _idents(node.value))
        ):
            continue
        out.append(f"{name}: {value}{' !important' if node.important else ''}")
    return out


def _safe_value(tokens: Iterable[Node], hosts: frozenset[str]) -> bool:
    """Only plain tokens, allowlisted functions and allowlisted URLs, at any depth."""
    return all(_safe_token(token, hosts) for token in tokens)


def _safe_token(token: Node, hosts: frozenset[str]) -> bool:
    if isinstance(token, URLToken):
        return allowed_url(token.value, hosts)
    if isinstance(token, FunctionBlock):
        if token.lower_name == "url":
            args = [a for a in token.arguments if not isinstance(a, WhitespaceToken)]
            return (
                len(args) == 1
                and isinstance(args[0], StringToken)
                and allowed_url(args[0].value, hosts)
            )
        return token.lower_name in VALUE_FUNCTIONS and _safe_value(token.arguments, hosts)
    if isinstance(token, ParenthesesBlock | SquareBracketsBlock):
        return _safe_value(token.content, hosts)
    if isinstance(token, StringToken | IdentToken):
        return not _dangerous(token.value)
    if isinstance(token, LiteralToken):
        return "<" not in token.value
    return token.type not in ("error", "at-keyword", "{} block")


def allowed_url(url: str, hosts: frozenset[str]) -> bool:
    """An https URL on an allowlisted host, with nothing that could confuse a URL parser."""
    if not hosts or any(c.isspace() or ord(c) < 0x20 or c in "\\<>\"'" for c in url):
        return False
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    return (
        parts.scheme == "https"
        and parts.username is None
        and parts.password is None
        and port in (None, 443)
        and (parts.hostname or "") in hosts
    )


def scope_selectors(prelude: Sequence[Node]) -> str | None:
    """`a, b > c` -> `.user-content a, .user-content b > c`; None if any part is unsafe."""
    selectors: list[list[Node]] = [[]]
    for token in prelude:
        if isinstance(token, LiteralToken) and token.value == ",":
            selectors.append([])
        else:
            selectors[-1].append(token)
    scoped = [_scope(_strip(s)) for s in selectors]
    if not scoped or any(s is None for s in scoped):
        return None
    return ", ".join(s for s in scoped if s is not None)


def _scope(tokens: list[Node]) -> str | None:
    if not tokens or not _safe_selector(tokens):
        return None
    # Drop leading root compounds (`html body p` -> `p`): they mean the container itself.
    while tokens:
        end = _compound_end(tokens)
        if tinycss2.serialize(tokens[:end]).lower() not in ROOT_COMPOUNDS:
            break
        tokens = _strip(tokens[end:])
    if not tokens:
        return SCOPE
    first = tokens[0]
    if isinstance(first, LiteralToken) and first.value in ("+", "~"):
        return None  # a sibling of the container is outside it
    if _mentions_root(tokens):
        return None
    text = tinycss2.serialize(tokens)
    if "<" in text or _dangerous(text):
        return None
    return f"{SCOPE} {text}"


def _compound_end(tokens: list[Node]) -> int:
    for i, token in enumerate(tokens):
        if isinstance(token, WhitespaceToken) or (
            isinstance(token, LiteralToken) and token.value in (">", "+", "~")
        ):
            return i
    return len(tokens)


def _mentions_root(tokens: Sequence[Node]) -> bool:
    """`html`/`body` as a type selector or `:root`/`:scope` anywhere (incl. in `:not()`)."""
    previous: Node | None = None
    for token in tokens:
        if isinstance(token, IdentToken):
            after_colon = isinstance(previous, LiteralToken) and previous.value == ":"
            after_dot = isinstance(previous, LiteralToken) and previous.value == "."
            name = token.lower_value
            if (after_colon and name in ("root", "scope")) or (
                not after_colon and not after_dot and name in ("html", "body")
            ):
                return True
        elif isinstance(token, FunctionBlock) and _mentions_root(token.arguments):
            return True
        previous = token
    return False


def _safe_selector(tokens: Iterable[Node]) -> bool:
    for token in tokens:
        if isinstance(token, WhitespaceToken | IdentToken):
            continue
        if isinstance(token, HashToken):
            if not token.is_identifier:
                return False
        elif isinstance(token, LiteralToken):
            if token.value not in SELECTOR_LITERALS:
                return False
        elif isinstance(token, SquareBracketsBlock):
            for part in token.content:
                if isinstance(part, LiteralToken) and part.value not in ATTRIBUTE_LITERALS:
                    return False
                if not isinstance(part, WhitespaceToken | IdentToken | StringToken | LiteralToken):
                    return False
                if isinstance(part, StringToken) and ("<" in part.value or _dangerous(part.value)):
                    return False
        elif isinstance(token, FunctionBlock):
            if token.lower_name not in SELECTOR_FUNCTIONS:
                return False
            if not _safe_selector_arguments(token.arguments):
                return False
        elif token.type not in ("number", "dimension"):
            return False
    return True


def _safe_selector_arguments(tokens: Sequence[Node]) -> bool:
    """Arguments of `:not()`, `:nth-child()`...: selector tokens plus numbers and commas."""
    return _safe_selector(
        t for t in tokens if not (isinstance(t, LiteralToken) and t.value in (",", "+", "-"))
    )


def _strip(tokens: Sequence[Node]) -> list[Node]:
    items = list(tokens)
    while items and isinstance(items[0], WhitespaceToken):
        items.pop(0)
    while items and isinstance(items[-1], WhitespaceToken):
        items.pop()
    return items


def _plain_keyword(tokens: Sequence[Node], allowed: frozenset[str]) -> bool:
    """One identifier from `allowed`, nothing else (no `var()`, no second token)."""
    items = _strip(tokens)
    return len(items) == 1 and isinstance(items[0], IdentToken) and items[0].lower_value in allowed


def _idents(tokens: Iterable[Node]) -> set[str]:
    return {t.lower_value for t in tokens if isinstance(t, IdentToken)}


def _dangerous(text: str) -> bool:
    normalized = _NORMALIZE.sub("", text).lower()
    return any(marker in normalized for marker in DANGEROUS)
