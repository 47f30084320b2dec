"""Console routes: each reads or acts through payments.operations and renders a template; no rule here."""

from __future__ import annotations

import hmac
import math
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, Any, Literal
from urllib.parse import quote

import structlog
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from payments.operations import lookup
from payments.operations.actions import OperatorActions, Outcome
from payments.pages import web
from payments.pages.console.signin_limit import SignInLimiter
from payments.pages.forms import FormError, read_form
from payments.pages.rendering import page
from payments.pages.sessions import ADMIN, CONSOLE_LIFETIME, Session

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/console", include_in_schema=False)
Id = Annotated[str, Path(min_length=1, max_length=255)]
# Stored by a ban (referral_bans, the referrer's lock row), so bounded like that column, not just compared.
ReferrerId = Annotated[str, Path(min_length=1, max_length=128)]

COOKIE = "payments_console"
PATH = "/console"
ACTOR = "console:admin"
FLASH_WINDOW = timedelta(minutes=10)


def _signin_page(
    request: Request, status: int, error: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    c = web.container(request)
    answer = page(
        "console/signin.html",
        {
            "error": error,
            "configured": c.settings.api_token is not None and web.signer(request) is not None,
            "title": "Sign in",
        },
        status=status,
    )
    answer.headers.update(headers or {})
    return answer


def _limiter(request: Request) -> SignInLimiter:
    state = request.app.state
    if not hasattr(state, "console_signin_limiter"):
        state.console_signin_limiter = SignInLimiter()
    return state.console_signin_limiter  # type: ignore[no-any-return]


def _session(request: Request) -> Session | None:
    return web.current_session(request, COOKIE, ADMIN)


async def _render(request: Request, session: Session, template: str, context: dict[str, Any]) -> Response:
    c = web.container(request)
    signer = web.signer(request)
    assert signer is not None  # a session was read, so a signer exists
    flash = None
    done = request.query_params.get("done")
    if done and len(done) <= 64:
        entry = await c.operator.entry(done)
        if entry is not None and c.clock() - entry.at <= FLASH_WINDOW:
            flash = entry
    return page(
        template,
        {
            **context,
            "csrf": signer.csrf_token(session),
            "now": c.clock(),
            "flash": flash,
            "section": template.split("/")[-1].removesuffix(".html"),
        },
    )


@router.get("/signin")
async def signin_form(request: Request) -> Response:
    if _session(request) is not None:
        return web.see_other(PATH)
    return _signin_page(request, 200)


@router.post("/signin")
async def signin(request: Request) -> Response:
    c = web.container(request)
    signer = web.signer(request)
    expected = c.settings.api_token
    if expected is None or signer is None:
        return _signin_page(request, 503)
    limiter, client = _limiter(request), request.client.host if request.client else "unknown"
    # Checked before the credential is read: once refused, not even the right one gets in until it ends.
    wait = limiter.retry_after(client)
    if wait is not None:
        log.warning("console.signin_throttled", client=limiter.hashed(client), retry_after=wait)
        minutes = math.ceil(wait / 60)
        return _signin_page(
            request,
            429,
            f"Too many wrong credentials from here: try again in {minutes} min.",
            {"Retry-After": str(wait)},
        )
    if not web.same_origin(request):
        return _signin_page(request, 403, "This form must be sent from this site.")
    try:
        form = await read_form(request)
    except FormError as exc:
        return _signin_page(request, exc.status, exc.message)
    given = form.get("token", "")
    if not given or not hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
        limiter.failed(client)
        log.info("console.signin_refused", client=limiter.hashed(client))
        return _signin_page(request, 401, "That is not the admin credential.")
    limiter.succeeded(client)
    value, _ = signer.issue(ADMIN, "admin", CONSOLE_LIFETIME)
    response = web.see_other(PATH)
    web.set_session_cookie(request, response, COOKIE, value, PATH, int(CONSOLE_LIFETIME.total_seconds()))
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    refused = await _refuse_post(request)
    if refused is not None:
        return refused
    response = web.see_other(f"{PATH}/signin")
    web.clear_session_cookie(request, response, COOKIE, PATH)
    return response


@router.get("")
async def needs_attention(request: Request) -> Response:
    session = _session(request)
    if session is None:
        return _signin_page(request, 401)
    found = await web.container(request).attention.needs_attention()
    return await _render(
        request,
        session,
        "console/attention.html",
        {"attention": found, "title": "Needs attention"},
    )


@router.get("/payments")
async def find_payment(
    request: Request, q: Annotated[str, Query(max_length=lookup.MAX_QUERY)] = ""
) -> Response:
    session = _session(request)
    if session is None:
        return _signin_page(request, 401)
    found = await web.container(request).lookup.find_payment(q) if q.strip() else None
    return await _render(
        request,
        session,
        "console/payment.html",
        {"q": q, "file": found, "searched": bool(q.strip()), "title": "Find a payment"},
    )


@router.get("/referrals")
async def referral_programme(request: Request) -> Response:
    session = _session(request)
    if session is None:
        return _signin_page(request, 401)
    c = web.container(request)
    ranked = await c.commissions.top_referrers()
    last = await c.operator.last_audit_verification()
    return await _render(
        request,
        session,
        "console/referrals.html",
        {"referrers": ranked, "last_verification": last, "title": "Referral programme"},
    )


# -- actions: POST, signed in, same origin, CSRF token; then back where the person was ----------------


async def _refuse_post(request: Request) -> Response | None:
    """None when the request may act; else the answer that refuses it (nothing was changed)."""
    session = _session(request)
    if session is None:
        return _signin_page(request, 401)
    if not web.same_origin(request):
        return page(
            "error.html", {"title": "Refused", "message": "This form must be sent from this site."}, 403
        )
    try:
        form = await read_form(request)
    except FormError as exc:
        return page("error.html", {"title": "Refused", "message": exc.message}, exc.status)
    signer = web.signer(request)
    if signer is None or not signer.csrf_ok(session, form.get("csrf")):
        return page(
            "error.html",
            {
                "title": "Refused",
                "message": "The form's security token is missing or stale; reload the page.",
            },
            403,
        )
    request.state.form = form
    return None


def _back(form: dict[str, str], outcome: Outcome) -> Response:
    back = form.get("back", PATH)
    # Only our own console pages: a crafted "back" must not send the person elsewhere.
    if not back.startswith(PATH) or back.startswith("//") or "\\" in back:
        back = PATH
    separator = "&" if "?" in back else "?"
    return web.see_other(f"{back}{separator}done={quote(outcome.entry_id)}")


async def _act(
    request: Request, action: Callable[[OperatorActions, dict[str, str]], Awaitable[Outcome]]
) -> Response:
    refused = await _refuse_post(request)
    if refused is not None:
        return refused
    form: dict[str, str] = request.state.form
    outcome = await action(web.container(request).operator, form)
    return _back(form, outcome)


@router.post("/payments/{payment_id}/review/{decision}")
async def review_payment(request: Request, payment_id: Id, decision: Literal["accept", "refund"]) -> Response:
    return await _act(request, lambda ops, _: ops.review_payment(payment_id, decision, ACTOR))


@router.post("/events/{event_id}/replay")
async def replay_event(request: Request, event_id: Id) -> Response:
    return await _act(request, lambda ops, _: ops.replay_event(event_id, ACTOR))


@router.post("/outbox/{message_id}/retry")
async def retry_outbox(request: Request, message_id: Id) -> Response:
    return await _act(request, lambda ops, _: ops.retry_outbox(message_id, ACTOR))


@router.post("/commissions/{commission_id}/approve")
async def approve_commission(request: Request, commission_id: Id) -> Response:
    return await _act(request, lambda ops, _: ops.decide_commission(commission_id, True, ACTOR))


@router.post("/commissions/{commission_id}/reject")
async def reject_commission(request: Request, commission_id: Id) -> Response:
    return await _act(request, lambda ops, _: ops.decide_commission(commission_id, False, ACTOR))


@router.post("/referrers/{referrer_id}/ban")
async def ban_referrer(request: Request, referrer_id: ReferrerId) -> Response:
    return await _act(
        request,
        lambda ops, form: ops.ban_referrer(
            referrer_id, form.get("reason") or "banned from the console", ACTOR
        ),
    )


@router.post("/referrers/{referrer_id}/unban")
async def unban_referrer(request: Request, referrer_id: ReferrerId) -> Response:
    return await _act(
        request,
        lambda ops, form: ops.unban_referrer(
            referrer_id, form.get("reason") or "unbanned from the console", ACTOR
        ),
    )


@router.post("/audit/verify")
async def verify_audit(request: Request) -> Response:
    async def verify(ops: OperatorActions, _: dict[str, str]) -> Outcome:
        return (await ops.verify_audit_chain(ACTOR))[1]

    return await _act(request, verify)
