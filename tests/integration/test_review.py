"""needs_review is not a dead end: Orders hears it, and a person accepts the money or refunds it all."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from payments import commands
from payments.adapters.db.tables import operator_actions, order_state_diffs
from payments.housekeeping import run_once
from payments.observability.metrics import PAYMENTS_NEEDING_REVIEW
from tests.support import stripe_events as se
from tests.support.refund_gateway import RefundGateway
from tests.support.service import Service, running_service, service_settings


async def _underpaid(svc: Service, order_id: str) -> str:
    pid = await svc.add_payment(order_id, amount=10_000)
    wrong = se.session(f"cs_{order_id}", pid, order_id, f"pi_{order_id}", amount=9_000)
    assert (await svc.deliver(se.event("checkout.session.completed", wrong))).status_code == 200
    assert (await svc.payment(pid)).status == "needs_review"
    assert await svc.history(order_id) == [("pending", "needs_review", 9_000, 0)]
    return pid


async def test_accept_then_refund_over_http_and_the_gauge_follows(engine: AsyncEngine) -> None:
    gateway = RefundGateway()
    async with running_service(engine, gateway=gateway) as svc:
        accepted = await _underpaid(svc, "ord_rv1")
        refunded = await _underpaid(svc, "ord_rv2")
        await run_once(svc.container)
        assert PAYMENTS_NEEDING_REVIEW._value.get() == 2

        response = await svc.http.post(f"/v1/payments/{accepted}/review", json={"decision": "accept"})
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "succeeded"
        assert await svc.history("ord_rv1") == [
            ("pending", "needs_review", 9_000, 0),
            ("needs_review", "paid", 9_000, 0),
        ]
        # Accepted means paid with what Stripe received: that is what can be refunded.
        over = await svc.http.post(f"/v1/payments/{accepted}/refunds", json={"amount": 9_001})
        assert over.json()["error"]["code"] == "over_refund"

        response = await svc.http.post(f"/v1/payments/{refunded}/review", json={"decision": "refund"})
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "refunded"
        assert [r["refund"].amount for r in gateway.refunds_created] == [9_000]
        assert await svc.history("ord_rv2") == [
            ("pending", "needs_review", 9_000, 0),
            ("needs_review", "refunded", 9_000, 9_000),
        ]
        await run_once(svc.container)
        assert PAYMENTS_NEEDING_REVIEW._value.get() == 0

        # Once resolved, a second decision changes nothing.
        again = await svc.http.post(f"/v1/payments/{refunded}/review", json={"decision": "accept"})
        assert (again.status_code, again.json()["error"]["code"]) == (409, "payment_not_in_review")
        assert len(gateway.refunds_created) == 1


async def test_review_refuses_bad_input_and_payments_not_in_review(engine: AsyncEngine) -> None:
    async with running_service(engine, gateway=RefundGateway()) as svc:
        paid = await svc.add_payment("ord_rv3")
        await svc.deliver(se.event("checkout.session.completed", se.session("cs_rv3", paid, "ord_rv3", "pi")))
        bad = await svc.http.post(f"/v1/payments/{paid}/review", json={"decision": "maybe"})
        assert (bad.status_code, bad.json()["error"]["field"]) == (422, "decision")
        not_in_review = await svc.http.post(f"/v1/payments/{paid}/review", json={"decision": "refund"})
        assert (not_in_review.status_code, not_in_review.json()["error"]["code"]) == (
            409,
            "payment_not_in_review",
        )
        missing = await svc.http.post("/v1/payments/pay_nope/review", json={"decision": "accept"})
        assert missing.status_code == 404
        assert (await svc.http.post(f"/v1/payments/{paid}/review", json={})).status_code == 422
        assert (await svc.payment(paid)).status == "succeeded"


async def test_the_cli_resolves_a_review(
    engine: AsyncEngine, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_service(engine) as svc:
        pid = await _underpaid(svc, "ord_rv4")
    settings = service_settings(database_url=database_url)
    assert await commands.payment_review(settings, pid, "accept") == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"payment {pid} reviewed (accept): now succeeded"
    assert await commands.payment_review(settings, pid, "accept") == 1
    assert "not waiting for review" in capsys.readouterr().out
    # Both the decision and the refused second one are in the operator log, as the console's are.
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(
                operator_actions.c.actor,
                operator_actions.c.action,
                operator_actions.c.subject,
                operator_actions.c.ok,
            ).order_by(operator_actions.c.at)
        )
        assert [tuple(r) for r in rows] == [
            ("cli", "review.accept", pid, True),
            ("cli", "review.accept", pid, False),
        ]


async def _taken_in_usd(svc: Service, order_id: str) -> str:
    """Asked 100.00 EUR; Stripe took 120.00 USD."""
    pid = await svc.add_payment(order_id, amount=10_000, currency="eur")
    session = se.session(f"cs_{order_id}", pid, order_id, f"pi_{order_id}", amount=12_000, currency="usd")
    assert (await svc.deliver(se.event("checkout.session.completed", session))).status_code == 200
    return pid


async def _heard(svc: Service, order_id: str) -> list[tuple[object, ...]]:
    d = order_state_diffs.c
    async with svc.engine.connect() as conn:
        rows = await conn.execute(
            select(d.from_state, d.to_state, d.amount_paid, d.amount_refunded, d.currency)
            .where(d.order_id == order_id)
            .order_by(d.seq)
        )
        return [tuple(r) for r in rows]


async def test_orders_hears_the_currency_stripe_took_after_the_review_too(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        refunded = await _taken_in_usd(svc, "ord_usd1")
        given_back = se.refund("re_usd1", "pi_ord_usd1", "ch_usd1", 12_000, currency="usd")
        assert (await svc.deliver(se.event("refund.created", given_back))).status_code == 200
        assert (await svc.payment(refunded)).status == "refunded"
        assert await _heard(svc, "ord_usd1") == [
            ("pending", "needs_review", 12_000, 0, "usd"),
            ("needs_review", "refunded", 12_000, 12_000, "usd"),
        ]

        accepted = await _taken_in_usd(svc, "ord_usd2")
        answer = await svc.http.post(f"/v1/payments/{accepted}/review", json={"decision": "accept"})
        assert answer.status_code == 200, answer.text
        assert await _heard(svc, "ord_usd2") == [
            ("pending", "needs_review", 12_000, 0, "usd"),
            ("needs_review", "paid", 12_000, 0, "usd"),
        ]
