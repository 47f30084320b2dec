"""The console over HTTP: who gets in, what a refused request changes (nothing), and what each action does."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db.tables import order_state_diffs, stripe_events
from payments.pages.sessions import ADMIN, REFERRER, SessionSigner, session_key
from tests.support import stripe_events as se
from tests.support.refund_gateway import RefundGateway
from tests.support.service import Service, running_service

from .support import console_csrf, operator_entries, plant_failed_event, sign_in

NO_AUTH = {"Authorization": ""}


async def _event_status(svc: Service, event_id: str) -> str:
    async with svc.engine.connect() as conn:
        return str(await conn.scalar(select(stripe_events.c.status).where(stripe_events.c.id == event_id)))


async def _paid_order(svc: Service, order_id: str) -> str:
    """A paid payment whose order diff waits in the outbox (this service has no Orders to deliver to)."""
    pid = await svc.add_payment(order_id)
    response = await svc.deliver(
        se.event("checkout.session.completed", se.session(f"cs_{order_id}", pid, order_id, f"pi_{order_id}"))
    )
    assert response.status_code == 200
    async with svc.engine.connect() as conn:
        return str(
            await conn.scalar(select(order_state_diffs.c.id).where(order_state_diffs.c.order_id == order_id))
        )


async def test_signed_out_gets_the_sign_in_page_and_no_data(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        _, event_id = await plant_failed_event(svc, "ord_hidden")
        for path in ("/console", "/console/payments?q=ord_hidden", "/console/referrals"):
            page = await svc.http.get(path, headers=NO_AUTH)
            assert page.status_code == 401, path
            assert 'action="/console/signin"' in page.text
            assert "ord_hidden" not in page.text and event_id not in page.text
        # The API's bearer token is not a console session either.
        with_bearer = await svc.http.get("/console")
        assert with_bearer.status_code == 401


async def test_sign_in_sets_a_strict_http_only_expiring_cookie(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        wrong = await svc.http.post("/console/signin", data={"token": "not-it"}, headers=NO_AUTH)
        assert wrong.status_code == 401 and "set-cookie" not in wrong.headers
        response = await sign_in(svc)
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/console" in cookie
        assert "max-age=3600" in cookie
        assert "secure" not in cookie  # plain http here; https (or an https public URL) adds it
        assert (await svc.http.get("/console", headers=NO_AUTH)).status_code == 200


async def test_https_public_url_makes_the_cookie_secure(engine: AsyncEngine) -> None:
    async with running_service(engine, public_url="https://pay.example.com") as svc:
        assert "secure" in (await sign_in(svc)).headers["set-cookie"].lower()


async def test_forged_expired_and_referrer_cookies_are_refused_and_change_nothing(
    engine: AsyncEngine,
) -> None:
    async with running_service(engine) as svc:
        _, event_id = await plant_failed_event(svc, "ord_forge")
        key = session_key(svc.container.settings)
        assert key is not None
        now = svc.container.clock
        good, session = SessionSigner(key, now).issue(ADMIN, "admin", timedelta(hours=1))
        body, signature = good.split(".")
        csrf = SessionSigner(key, now).csrf_token(session)
        expired, _ = SessionSigner(key, lambda: now() - timedelta(hours=2)).issue(
            ADMIN, "admin", timedelta(hours=1)
        )
        other_key, _ = SessionSigner(b"another key entirely", now).issue(ADMIN, "admin", timedelta(hours=1))
        referrer, referrer_session = SessionSigner(key, now).issue(REFERRER, "ref_a", timedelta(hours=1))
        cookies = {
            "tampered signature": f"{body}.{signature[:-2]}AA",
            "tampered payload": f"{body[:-2]}xx.{signature}",
            "other key": other_key,
            "expired": expired,
            "referrer session": referrer,
            "garbage": "x" * 5000,
        }
        # The same way of sending a cookie opens the console with the genuine one.
        svc.http.cookies.set("payments_console", good, path="/console")
        assert (await svc.http.get("/console", headers=NO_AUTH)).status_code == 200
        for name, value in cookies.items():
            svc.http.cookies.clear()
            svc.http.cookies.set("payments_console", value, path="/console")
            page = await svc.http.get("/console", headers=NO_AUTH)
            assert page.status_code == 401 and event_id not in page.text, name
            token = (
                SessionSigner(key, now).csrf_token(referrer_session) if name == "referrer session" else csrf
            )
            act = await svc.http.post(
                f"/console/events/{event_id}/replay", data={"csrf": token}, headers=NO_AUTH
            )
            assert act.status_code == 401, name
        assert await _event_status(svc, event_id) == "failed"
        assert await operator_entries(svc) == []


async def test_missing_or_foreign_csrf_token_is_refused_and_changes_nothing(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        _, event_id = await plant_failed_event(svc, "ord_csrf")
        await sign_in(svc)
        url = f"/console/events/{event_id}/replay"
        missing = await svc.http.post(url, data={"back": "/console"}, headers=NO_AUTH)
        assert missing.status_code == 403
        foreign = await svc.http.post(url, data={"csrf": "A" * 43}, headers=NO_AUTH)
        assert foreign.status_code == 403
        cross_site = await svc.http.post(
            url, data={"csrf": await console_csrf(svc)}, headers={**NO_AUTH, "Origin": "https://evil.example"}
        )
        assert cross_site.status_code == 403
        as_json = await svc.http.post(url, json={"csrf": await console_csrf(svc)}, headers=NO_AUTH)
        assert as_json.status_code == 415
        assert await _event_status(svc, event_id) == "failed"
        assert await operator_entries(svc) == []


async def test_replaying_a_failed_event_applies_it_and_logs_the_action(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        pid, event_id = await plant_failed_event(svc, "ord_replay")
        await sign_in(svc)
        landing = await svc.http.get("/console", headers=NO_AUTH)
        assert 'id="count-events" data-count="1"' in landing.text and event_id in landing.text
        done = await svc.http.post(
            f"/console/events/{event_id}/replay",
            data={"csrf": await console_csrf(svc), "back": "/console"},
            headers=NO_AUTH,
            follow_redirects=True,
        )
        assert done.status_code == 200
        assert f"event {event_id} replayed: processed" in done.text
        assert 'id="count-events" data-count="0"' in done.text
        assert (await svc.payment(pid)).status == "succeeded"
        assert await operator_entries(svc) == [("console:admin", "event.replay", event_id, True)]


async def test_retry_makes_an_undelivered_message_due_now(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        message_id = await _paid_order(svc, "ord_outbox")
        async with svc.engine.begin() as conn:
            await conn.execute(
                order_state_diffs.update()
                .where(order_state_diffs.c.id == message_id)
                .values(next_attempt_at=svc.container.clock() + timedelta(hours=3), last_error="Orders: 503")
            )
        await sign_in(svc)
        landing = await svc.http.get("/console", headers=NO_AUTH)
        assert "Last delivery error: Orders: 503" in landing.text
        await svc.http.post(
            f"/console/outbox/{message_id}/retry", data={"csrf": csrf_of_page(landing.text)}, headers=NO_AUTH
        )
        async with svc.engine.connect() as conn:
            due = await conn.scalar(
                select(order_state_diffs.c.next_attempt_at).where(order_state_diffs.c.id == message_id)
            )
        assert due is not None and due.replace(tzinfo=None) <= svc.container.clock().replace(tzinfo=None)
        assert await operator_entries(svc) == [("console:admin", "outbox.retry", message_id, True)]


def csrf_of_page(html: str) -> str:
    from .support import csrf_of

    return csrf_of(html)


async def test_an_unknown_id_is_logged_as_not_done(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        await sign_in(svc)
        page = await svc.http.post(
            "/console/events/evt_nope/replay",
            data={"csrf": await console_csrf(svc)},
            headers=NO_AUTH,
            follow_redirects=True,
        )
        assert "Not done" in page.text and "no stored event evt_nope" in page.text
        assert await operator_entries(svc) == [("console:admin", "event.replay", "evt_nope", False)]


async def test_a_referrer_id_longer_than_its_column_is_refused_before_a_ban_stores_it(
    engine: AsyncEngine,
) -> None:
    async with running_service(engine) as svc:
        await sign_in(svc)
        csrf = await console_csrf(svc)
        for action in ("ban", "unban"):
            response = await svc.http.post(
                f"/console/referrers/{'r' * 129}/{action}",
                data={"csrf": csrf, "reason": "x"},
                headers=NO_AUTH,
                follow_redirects=False,
            )
            assert response.status_code == 422, (action, response.text)
        assert await operator_entries(svc) == []


async def test_a_back_link_elsewhere_is_not_followed(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        await sign_in(svc)
        response = await svc.http.post(
            "/console/audit/verify",
            data={"csrf": await console_csrf(svc), "back": "https://evil.example/console"},
            headers=NO_AUTH,
        )
        assert response.status_code == 303 and response.headers["location"].startswith("/console?done=")


async def test_find_a_payment_by_any_of_its_ids(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        await _paid_order(svc, "ord_find")
        await sign_in(svc)
        for query in ("ord_find", "pay_ord_find", "cs_ord_find", "pi_ord_find"):
            page = await svc.http.get("/console/payments", params={"q": query}, headers=NO_AUTH)
            assert page.status_code == 200
            assert "Order <code>ord_find</code>" in page.text, query
            assert "pending → <strong>paid</strong>" in page.text
            assert "checkout.session.completed" in page.text
        missing = await svc.http.get("/console/payments", params={"q": "ord_none"}, headers=NO_AUTH)
        assert "Nothing matches" in missing.text


async def test_find_a_payment_by_the_refund_id_the_unconfirmed_queue_lists(engine: AsyncEngine) -> None:
    """A refund Stripe has not answered has no re_… id yet: ours is the one the console shows."""
    async with running_service(engine) as svc:
        pid = await svc.add_payment("ord_rf")
        await svc.add_requested_refund(pid, "rf_console_1", 500)
        await sign_in(svc)
        landing = await svc.http.get("/console", headers=NO_AUTH)
        assert "<code>rf_console_1</code>" in landing.text
        page = await svc.http.get("/console/payments", params={"q": "rf_console_1"}, headers=NO_AUTH)
        assert "Order <code>ord_rf</code>" in page.text


async def test_sign_out_ends_the_session(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        await sign_in(svc)
        out = await svc.http.post("/console/signout", data={"csrf": await console_csrf(svc)}, headers=NO_AUTH)
        assert out.status_code == 303 and 'payments_console=""' in out.headers["set-cookie"]
        assert (await svc.http.get("/console", headers=NO_AUTH)).status_code == 401


async def test_without_an_admin_credential_there_is_no_console(engine: AsyncEngine) -> None:
    async with running_service(engine, api_token=None) as svc:
        page = await svc.http.post("/console/signin", data={"token": ""}, headers=NO_AUTH)
        assert page.status_code == 503 and "PAYMENTS_API_TOKEN" in page.text


async def _held(svc: Service, order_id: str, referrer_id: str) -> str:
    """A commission the elevated-risk guard held for a person to decide."""
    from payments.domain.payment import PaymentSnapshot
    from payments.domain.payment_state import PaymentFacts, PaymentStatus
    from payments.domain.state_diff import Cause

    paid = PaymentSnapshot(
        payment_id=f"pay_{order_id}",
        order_id=order_id,
        user_id=f"cust_{order_id}",
        amount=20_000,
        currency="eur",
        referrer_id=referrer_id,
        customer_email=None,
        status=PaymentStatus.SUCCEEDED,
        facts=PaymentFacts(
            succeeded=True, amount_received=20_000, currency_received="eur", risk_level="elevated"
        ),
    )
    commission = await svc.container.commissions.accrue_commission(
        paid, Cause(f"evt_{order_id}", "charge.succeeded"), svc.container.clock()
    )
    assert commission is not None and commission.status.value == "held"
    return commission.id


async def test_commission_decisions_bans_and_verification_from_the_console(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        approve_id = await _held(svc, "ord_h1", "ref_h")
        reject_id = await _held(svc, "ord_h2", "ref_h")
        await sign_in(svc)
        landing = await svc.http.get("/console", headers=NO_AUTH)
        assert 'id="count-held" data-count="2"' in landing.text
        csrf = await console_csrf(svc)
        for path in (
            f"/console/commissions/{approve_id}/approve",
            f"/console/commissions/{reject_id}/reject",
            f"/console/commissions/{reject_id}/reject",  # no longer held: refused, and logged as not done
            "/console/referrers/ref_h/ban",
            "/console/referrers/ref_h/unban",
            "/console/audit/verify",
        ):
            response = await svc.http.post(
                path, data={"csrf": csrf, "reason": "seen on the console"}, headers=NO_AUTH
            )
            assert response.status_code == 303, path
        for commission_id, status in ((approve_id, "pending"), (reject_id, "refused")):
            got = (await svc.http.get(f"/v1/commissions/{commission_id}")).json()
            # The approved one was canceled by the ban that followed; the audit says who did each step.
            audit = (await svc.http.get(f"/v1/commissions/{commission_id}/audit")).json()
            assert [e["actor"] for e in audit][1:] == ["console:admin"] * (len(audit) - 1)
            assert got["status"] in (status, "canceled")
        assert [(a, s, ok) for _, a, s, ok in await operator_entries(svc)] == [
            ("commission.approve", approve_id, True),
            ("commission.reject", reject_id, True),
            ("commission.reject", reject_id, False),
            ("referrer.ban", "ref_h", True),
            ("referrer.unban", "ref_h", True),
            ("audit.verify", "referral_audit_log", True),
        ]
        programme = await svc.http.get("/console/referrals", headers=NO_AUTH)
        assert "audit chain intact" in programme.text and "by console:admin" in programme.text
        assert 'action="/console/referrers/ref_h/unban"' not in programme.text


async def _in_review(svc: Service, order_id: str) -> str:
    pid = await svc.add_payment(order_id, amount=10_000)
    await svc.deliver(
        se.event(
            "checkout.session.completed",
            se.session(f"cs_{order_id}", pid, order_id, f"pi_{order_id}", amount=9_000),
        )
    )
    assert (await svc.payment(pid)).status == "needs_review"
    return pid


async def test_a_payment_in_review_is_accepted_from_the_console(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        pid = await _in_review(svc, "ord_rev_accept")
        await sign_in(svc)
        landing = await svc.http.get("/console", headers=NO_AUTH)
        assert 'id="count-review" data-count="1"' in landing.text
        assert f'action="/console/payments/{pid}/review/accept"' in landing.text
        done = await svc.http.post(
            f"/console/payments/{pid}/review/accept",
            data={"csrf": await console_csrf(svc)},
            headers=NO_AUTH,
            follow_redirects=True,
        )
        assert 'id="count-review" data-count="0"' in done.text
        assert (await svc.payment(pid)).status == "succeeded"
        assert [(a, s, ok) for _, a, s, ok in await operator_entries(svc)] == [("review.accept", pid, True)]


async def test_a_payment_in_review_is_refunded_from_the_console(engine: AsyncEngine) -> None:
    gateway = RefundGateway()
    async with running_service(engine, gateway=gateway) as svc:
        pid = await _in_review(svc, "ord_rev_refund")
        await sign_in(svc)
        await svc.http.post(
            f"/console/payments/{pid}/review/refund",
            data={"csrf": await console_csrf(svc)},
            headers=NO_AUTH,
        )
        assert (await svc.payment(pid)).status == "refunded"
        # A second click finds nothing to review: refused, logged as not done, nothing refunded twice.
        await svc.http.post(
            f"/console/payments/{pid}/review/refund",
            data={"csrf": await console_csrf(svc)},
            headers=NO_AUTH,
        )
        assert (await svc.payment(pid)).amount_refunded == 9_000
        assert [r["refund"].amount for r in gateway.refunds_created] == [9_000]
        assert [(a, ok) for _, a, _, ok in await operator_entries(svc)] == [
            ("review.refund", True),
            ("review.refund", False),
        ]
