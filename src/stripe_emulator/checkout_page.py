"""The hosted checkout page at a session's `url`: plain HTML forms, no JavaScript."""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path
from string import Template
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from .cards import DELAYED, DelayedMethod, PaymentMethodSpec, card_for_number
from .checkout_flow import expire_due_sessions, pay_session
from .engine import Emulator
from .errors import StripeError
from .forms import decode_form
from .money import format_amount

JSON = dict[str, Any]


@cache
def _template() -> Template:
    return Template((Path(__file__).parent / "templates" / "checkout.html").read_text())


def success_redirect(session: JSON) -> str | None:
    url = session["success_url"]
    # Stripe substitutes this literal placeholder, unencoded braces and all.
    return url.replace("{CHECKOUT_SESSION_ID}", session["id"]) if url else None


def _rows(emu: Emulator, session: JSON) -> str:
    rows = []
    for item in emu.store.line_items.get(session["id"], []):
        rows.append(
            '    <tr class="line-item"><td>{}</td><td>{}</td><td class="amount">{}</td></tr>'.format(
                html.escape(str(item["description"])),
                int(item["quantity"]),
                html.escape(format_amount(int(item["amount_total"]), item["currency"])),
            )
        )
    return "\n".join(rows)


def _forms(session: JSON, total: str) -> str:
    action = f"/pay/{html.escape(session['id'])}"
    email = html.escape(session["customer_email"] or "")
    cancel = (
        f'<p><a id="cancel" href="{action}/cancel">Cancel and return</a></p>' if session["cancel_url"] else ""
    )
    return f"""<form id="card-form" method="post" action="{action}">
  <label for="email">Email</label>
  <input id="email" name="email" type="email" value="{email}">
  <label for="card-number">Card number</label>
  <input id="card-number" name="card_number" inputmode="numeric" autocomplete="cc-number"
         placeholder="4242 4242 4242 4242" required>
  <label for="card-expiry">Expiry (MM / YY)</label>
  <input id="card-expiry" name="card_expiry" placeholder="12 / 34" value="12 / 34">
  <label for="card-cvc">CVC</label>
  <input id="card-cvc" name="card_cvc" placeholder="123" value="123">
  <label for="cardholder-name">Name on card</label>
  <input id="cardholder-name" name="name" autocomplete="cc-name">
  <button id="pay" type="submit">Pay {html.escape(total)}</button>
</form>
<form id="delayed-form" method="post" action="{action}">
  <input type="hidden" name="method" value="{DELAYED}">
  <input type="hidden" name="email" value="{email}">
  <button id="pay-delayed" type="submit">Pay by bank debit (settles later)</button>
</form>
{cancel}"""


def render_page(emu: Emulator, session: JSON, *, error: str | None = None, status: int = 200) -> Response:
    total = format_amount(int(session["amount_total"]), session["currency"])
    if session["status"] == "open":
        forms = _forms(session, total)
        message = f'<p class="error" id="error" role="alert">{html.escape(error)}</p>' if error else ""
    else:
        forms = ""
        text = {
            "complete": "This payment is complete.",
            "expired": "This checkout session has expired.",
        }.get(session["status"], f"This checkout session is {session['status']}.")
        message = f'<p class="notice" id="status">{html.escape(text)}</p>'
    page = _template().substitute(
        merchant="Emulator Test Merchant",
        rows=_rows(emu, session),
        total=html.escape(total),
        message=message,
        forms=forms,
        session_id=html.escape(session["id"]),
    )
    return HTMLResponse(page, status_code=status)


def _not_found(session_id: str) -> Response:
    return HTMLResponse(f"<h1>No such checkout session: {html.escape(session_id)}</h1>", status_code=404)


def routes(emu: Emulator) -> list[Route]:
    async def show(request: Request) -> Response:
        expire_due_sessions(emu)
        session = emu.store.table("checkout_sessions").get(request.path_params["id"])
        if session is None:
            return _not_found(request.path_params["id"])
        return render_page(emu, session)

    async def submit(request: Request) -> Response:
        session = emu.store.table("checkout_sessions").get(request.path_params["id"])
        if session is None:
            return _not_found(request.path_params["id"])
        form = decode_form((await request.body()).decode())
        method: PaymentMethodSpec = (
            DelayedMethod()
            if form.get("method") == DELAYED
            else card_for_number(str(form.get("card_number", "")))
        )
        email = str(form.get("email") or "") or None
        name = str(form.get("name") or "") or None
        try:
            pay_session(emu, session, method, email=email, name=name)
        except StripeError as exc:
            emu.store.save()
            # A decline keeps the person on the page with the reason, as Stripe's page does.
            return render_page(emu, session, error=exc.message)
        emu.store.save()
        target = success_redirect(session)
        if target is None:
            return render_page(emu, session)
        return RedirectResponse(target, status_code=303)

    async def cancel(request: Request) -> Response:
        session = emu.store.table("checkout_sessions").get(request.path_params["id"])
        if session is None:
            return _not_found(request.path_params["id"])
        if session["cancel_url"]:
            return RedirectResponse(session["cancel_url"], status_code=303)
        return render_page(emu, session)

    return [
        Route("/pay/{id}", show, methods=["GET"]),
        Route("/pay/{id}", submit, methods=["POST"]),
        Route("/pay/{id}/cancel", cancel, methods=["GET"]),
    ]
