"""The pages Stripe's hosted checkout sends a customer back to when the caller named none of its own.

Plain, public and uncacheable; they say whether the payment arrived and nothing else (no amount, no
order, no email): anyone holding the link sees them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from payments.api.http.auth import container
from payments.domain.attempts import is_paid
from payments.domain.payment_state import PaymentStatus

router = APIRouter(prefix="/checkout", include_in_schema=False)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;
color:#1a1a1a}}h1{{font-size:1.5rem}}</style></head>
<body><main><h1>{title}</h1><p>{text}</p></main></body></html>
"""

_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _page(title: str, text: str) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=title, text=text), headers=_HEADERS)


@router.get("/success")
async def success(
    request: Request, session_id: Annotated[str | None, Query(max_length=255)] = None
) -> HTMLResponse:
    status = await container(request).payments.status_for_session(session_id) if session_id else None
    if status is not None and is_paid(status):
        return _page("Payment received", "Thank you: your payment has arrived. You may close this page.")
    if status is PaymentStatus.FAILED:
        return _page("Payment not completed", "The payment did not go through. Please return to the shop.")
    return _page(
        "Thank you",
        "Your payment is being confirmed; the shop will let you know as soon as it is. "
        "You may close this page.",
    )


@router.get("/cancel")
async def cancel() -> HTMLResponse:
    return _page("Payment canceled", "No payment was taken. You can return to the shop and try again.")
