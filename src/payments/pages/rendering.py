"""Jinja2 templates from the package, the filters they use, and the headers every page carries."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from importlib.resources import files
from typing import Any

from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from payments.domain.money import Money

# No outside origin at all: the pages' one stylesheet and script come from this service.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    # same-origin, not no-referrer: with no-referrer Chromium sends "Origin: null" on our own forms.
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

ASSETS = {"pages.css": "text/css; charset=utf-8"}


def money(amount: int | None, currency: str | None) -> str:
    if amount is None or not currency:
        return "—"
    return Money(int(amount), currency.lower()).format()


def when(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def age(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "—"
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"


def thousands(value: int) -> str:
    return f"{value:,}".replace(",", "\u202f")  # a narrow no-break space reads in every locale


def bps(rate: int) -> str:
    return f"{rate // 100}.{rate % 100:02d} %"


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("payments.pages", "templates"),
        autoescape=select_autoescape(["html", "svg"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(money=money, when=when, thousands=thousands, bps=bps)
    env.globals.update(age=age)
    return env


def page(template: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
    html = environment().get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


@cache
def _asset(name: str) -> bytes:
    return files("payments.pages").joinpath("static", name).read_bytes()


def asset(name: str) -> Response:
    media = ASSETS.get(name)
    if media is None:
        return Response(status_code=404)
    return Response(
        _asset(name),
        media_type=media,
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )
