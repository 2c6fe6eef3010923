"""Rendering the Jinja2 templates in ``templates/`` (HTML autoescaped, undefined is an error)."""

import functools
import re

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from .domain import RenderedEmail

_WHITESPACE = re.compile(r"\s+")


@functools.cache
def environment() -> Environment:
    return Environment(
        loader=PackageLoader("notifications", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        # Templates ship in the package: no file stat per render to see whether one changed
        # (5 % of the notifications fan-out's CPU; issue 15).
        auto_reload=False,
    )


def render(template_name: str, context: dict[str, object]) -> RenderedEmail:
    """Render ``<name>.subject.j2``, ``<name>.txt.j2`` and ``<name>.html.j2``."""
    env = environment()
    subject = env.get_template(f"{template_name}.subject.j2").render(context)
    return RenderedEmail(
        # One line: a header can't carry newlines (and must not let a title inject headers).
        subject=_WHITESPACE.sub(" ", subject).strip(),
        text=env.get_template(f"{template_name}.txt.j2").render(context),
        html=env.get_template(f"{template_name}.html.j2").render(context),
    )


def render_sms(template_name: str, context: dict[str, object]) -> str:
    """Render ``<name>.sms.j2`` as one line of text."""
    body = environment().get_template(f"{template_name}.sms.j2").render(context)
    return _WHITESPACE.sub(" ", body).strip()


def has_sms(template_name: str) -> bool:
    return f"{template_name}.sms.j2" in environment().list_templates()


def render_page(name: str, context: dict[str, object]) -> str:
    """Render the web page ``pages/<name>.html.j2`` (the unsubscribe page)."""
    return environment().get_template(f"pages/{name}.html.j2").render(context)
