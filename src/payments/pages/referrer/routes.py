"""Referrer routes: a link's token becomes a cookie session; the dashboard and the CSV read the same
CommissionService calls as the API's report, for the signed-in referrer only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from payments.pages import web
from payments.pages.chart import MonthFigures, build
from payments.pages.forms import FormError, read_form
from payments.pages.referrer.period import Period, PeriodError
from payments.pages.rendering import SECURITY_HEADERS, page
from payments.pages.sessions import REFERRER, REFERRER_LIFETIME, Session
from payments.referrals.access import InvalidReferrerToken, referrer_from_token
from payments.referrals.models import ExportsBusy, InvalidReportQuery

router = APIRouter(prefix="/referrer", include_in_schema=False)

COOKIE = "payments_referrer"
PATH = "/referrer"
PAGE_SIZE = 50
STATUSES = ("pending", "approved", "held", "paid", "refused", "canceled", "reversed")


def _session(request: Request) -> Session | None:
    return web.current_session(request, COOKIE, REFERRER)


def _signed_out(request: Request, status: int = 401, message: str | None = None) -> Response:
    return page(
        "referrer/signin.html",
        {"title": "Your referral dashboard", "message": message},
        status=status,
    )


@router.get("/signin")
async def signin(request: Request, token: Annotated[str, Query(max_length=2048)] = "") -> Response:
    c = web.container(request)
    signer = web.signer(request)
    if signer is None or c.settings.jwt_secret is None:
        return _signed_out(request, 503, "Referrer sign-in is not set up on this service.")
    try:
        referrer_id = referrer_from_token(token, c.settings.jwt_secret, c.settings.token_policy())
    except InvalidReferrerToken:
        return _signed_out(request, 401, "This link has expired or is not valid. Ask for a new one.")
    value, _ = signer.issue(REFERRER, referrer_id, REFERRER_LIFETIME)
    # Straight on to a URL without the token, so it stays out of the history and any later Referer.
    response = web.see_other(PATH)
    web.set_session_cookie(request, response, COOKIE, value, PATH, int(REFERRER_LIFETIME.total_seconds()))
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    session = _session(request)
    if session is None:
        return _signed_out(request)
    signer = web.signer(request)
    try:
        form = await read_form(request)
    except FormError as exc:
        return page("error.html", {"title": "Refused", "message": exc.message}, exc.status)
    if not web.same_origin(request) or signer is None or not signer.csrf_ok(session, form.get("csrf")):
        return page("error.html", {"title": "Refused", "message": "Reload the page and sign out again."}, 403)
    response = _signed_out(request, 200, "You are signed out.")
    web.clear_session_cookie(request, response, COOKIE, PATH)
    return response


@router.get("")
async def dashboard(
    request: Request,
    period_from: Annotated[str | None, Query(alias="from", max_length=7)] = None,
    period_to: Annotated[str | None, Query(alias="to", max_length=7)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    session = _session(request)
    if session is None:
        return _signed_out(request)
    c = web.container(request)
    signer = web.signer(request)
    assert signer is not None
    base: dict[str, Any] = {
        "title": "Your referral earnings",
        "referrer_id": session.subject,
        "csrf": signer.csrf_token(session),
        "statuses": STATUSES,
        "status": status or "",
        "from_text": period_from or "",
        "to_text": period_to or "",
    }
    try:
        period = Period.of(period_from, period_to, c.clock())
    except PeriodError as exc:
        return page("referrer/dashboard.html", {**base, "error": str(exc), "period": None}, 422)
    filters = urlencode(
        {"from": f"{period.first:%Y-%m}", "to": f"{period.last:%Y-%m}", "status": status or ""}
    )
    try:
        report = await c.commissions.get_referrer_report(
            session.subject,
            period_from=period.start,
            period_to=period.end,
            status=status or None,
            limit=PAGE_SIZE,
            cursor=cursor or None,
        )
    except InvalidReportQuery as exc:
        return page(
            "referrer/dashboard.html",
            {
                **base,
                "error": str(exc),
                "period": period,
                "from_text": f"{period.first:%Y-%m}",
                "to_text": f"{period.last:%Y-%m}",
            },
            422,
        )
    by_month = await c.commissions.earnings_by_period(session.subject, period.months)
    currencies = sorted({net.currency for month in by_month for net in month})
    charts = []
    for currency in currencies:
        figures = []
        for (start, _end), nets in zip(period.months, by_month, strict=True):
            net = next((n for n in nets if n.currency == currency), None)
            figures.append(
                MonthFigures(start, net.gross, net.clawed_back, net.net)
                if net
                else MonthFigures(start, 0, 0, 0)
            )
        charts.append(build(currency, figures))
    return page(
        "referrer/dashboard.html",
        {
            **base,
            "error": None,
            "period": period,
            "from_text": f"{period.first:%Y-%m}",
            "to_text": f"{period.last:%Y-%m}",
            "report": report,
            "charts": charts,
            "filters": filters,
            "first_page": not cursor,
        },
    )


@router.get("/commissions.csv")
async def csv(
    request: Request,
    period_from: Annotated[str | None, Query(alias="from", max_length=7)] = None,
    period_to: Annotated[str | None, Query(alias="to", max_length=7)] = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    session = _session(request)
    if session is None:
        return _signed_out(request)
    c = web.container(request)
    try:
        period = Period.of(period_from, period_to, c.clock())
    except PeriodError as exc:
        return page("error.html", {"title": "Not a period", "message": str(exc)}, 422)
    # The exports run on their own small pool: downloads never take the webhooks' connections.
    lines = c.commissions.stream_report_csv(
        session.subject,
        period_from=period.start,
        period_to=period.end,
        status=status or None,
        for_referrer=True,
    )
    try:
        header = await anext(lines)  # a bad filter raises here, before any byte of the answer is sent
    except InvalidReportQuery as exc:
        return page("error.html", {"title": "Not a filter", "message": str(exc)}, 422)
    except ExportsBusy:
        message = "Every download is in use right now; please try again in a few seconds."
        return page("error.html", {"title": "Busy", "message": message}, 503)

    async def body() -> AsyncIterator[str]:
        yield header
        async for line in lines:
            yield line

    name = f"commissions-{period.first:%Y-%m}-to-{period.last:%Y-%m}.csv"
    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": SECURITY_HEADERS["Cache-Control"],
            "X-Content-Type-Options": "nosniff",
        },
    )
