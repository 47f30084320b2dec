"""The bare webhook endpoint's own duties (it runs ahead of the middleware), and refund rows as the
webhook transaction writes them (one statement on PostgreSQL, the repository on SQLite)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db.tables import refunds
from tests.support import stripe_events as se
from tests.support.service import running_service


async def test_a_chunked_body_past_the_limit_is_refused_and_writes_nothing(engine: AsyncEngine) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b" " * (16 * 1024)  # 640 KiB in all, no Content-Length

    async with running_service(engine) as svc:
        response = await svc.http.post(
            "/v1/webhooks/stripe", content=chunks(), headers={"Stripe-Signature": "t=1,v1=00"}
        )
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "payload_too_large"
        assert response.headers["connection"] == "close"
        assert await svc.row_counts() == (0, 0, 0)


async def test_only_post_is_answered_and_the_request_id_comes_back(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        response = await svc.http.get("/v1/webhooks/stripe", headers={"X-Request-Id": "req-123"})
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"
        assert response.json()["error"]["code"] == "method_not_allowed"
        assert response.headers["x-request-id"] == "req-123"
        pid = await svc.add_payment("ord_rid")
        delivered = await svc.deliver(
            se.event("checkout.session.completed", se.session("cs_rid", pid, "ord_rid", "pi_rid"))
        )
        assert delivered.status_code == 200 and len(delivered.headers["x-request-id"]) == 32
        # The other routes still go through FastAPI.
        assert (await svc.http.get("/v1/nothing-here")).status_code == 404


async def _refund_rows(engine: AsyncEngine) -> list[tuple[str, str | None, str, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(refunds.c.id, refunds.c.stripe_refund_id, refunds.c.status, refunds.c.source).order_by(
                refunds.c.created_at
            )
        )
        return [(r.id, r.stripe_refund_id, r.status, r.source) for r in rows]


async def test_a_refund_row_only_moves_forward_and_ours_is_matched_by_its_id(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        pid = await svc.add_payment("ord_rows")
        await svc.deliver(
            se.event("checkout.session.completed", se.session("cs_rows", pid, "ord_rows", "pi_r"))
        )
        # A dashboard refund: failed arrives first, the older "pending" and "succeeded" news change nothing.
        dashboard = se.refund("re_dash", "pi_r", "ch_r", 1000)
        for status, event_type in (("failed", "refund.failed"), ("pending", "refund.created")):
            await svc.deliver(se.event(event_type, {**dashboard, "status": status}))
        await svc.deliver(se.event("refund.updated", dashboard))
        # Ours: the row written before we called Stripe gets Stripe's id and moves on, no second row.
        await svc.add_requested_refund(pid, "rf_ours", 2000)
        ours = se.refund("re_ours", "pi_r", "ch_r", 2000, status="pending", ours="rf_ours")
        await svc.deliver(se.event("refund.created", ours))
        await svc.deliver(se.event("refund.updated", {**ours, "status": "succeeded"}))
        await svc.deliver(se.event("refund.created", ours))  # a late, older copy under a new event id
        rows = {row[1]: row for row in await _refund_rows(engine)}
        assert len(rows) == 2
        assert rows["re_dash"][2:] == ("failed", "dashboard")
        assert rows["re_ours"] == ("rf_ours", "re_ours", "succeeded", "api")
        payment = await svc.payment(pid)
        assert (payment.status, payment.amount_refunded) == ("partially_refunded", 2000)
