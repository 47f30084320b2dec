"""Both payload shapes Stripe sends (before and after API 2022-11-15), straight into the webhook."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db.tables import refunds, stripe_events
from tests.support import stripe_events as se
from tests.support.refund_gateway import RefundGateway
from tests.support.service import running_service


def _old_intent(pi: str, pid: str, order: str, ch: str, captured: int = 10_000) -> dict[str, Any]:
    """A 2020-era PaymentIntent: no amount_received, its charges embedded."""
    intent = se.payment_intent(pi, pid, order, charge=ch)
    del intent["amount_received"]
    charge = {**se.charge(ch, pi, amount=captured), "amount_captured": captured}
    intent["charges"] = {"object": "list", "data": [charge], "has_more": False}
    return intent


@pytest.mark.parametrize(
    "shape",
    ["amount_received", "charges_embedded", "latest_charge_expanded", "amount_only"],
)
async def test_a_correct_payment_is_paid_whichever_field_carries_the_amount(
    engine: AsyncEngine, shape: str
) -> None:
    async with running_service(engine) as svc:
        pid = await svc.add_payment("ord_sh")
        intent = se.payment_intent("pi_sh", pid, "ord_sh", charge="ch_sh")
        if shape == "charges_embedded":
            intent = _old_intent("pi_sh", pid, "ord_sh", "ch_sh")
        elif shape == "latest_charge_expanded":
            del intent["amount_received"]
            intent["latest_charge"] = se.charge("ch_sh", "pi_sh")
        elif shape == "amount_only":
            del intent["amount_received"]
        await svc.deliver(se.event("payment_intent.succeeded", intent))
        assert (await svc.payment(pid)).status == "succeeded"
        assert await svc.history("ord_sh") == [("pending", "paid", 10_000, 0)]


async def test_charges_that_captured_less_are_a_true_mismatch(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        pid = await svc.add_payment("ord_mm")
        await svc.deliver(
            se.event("payment_intent.succeeded", _old_intent("pi_mm", pid, "ord_mm", "ch_mm", captured=7_000))
        )
        assert (await svc.payment(pid)).status == "needs_review"
        assert await svc.history("ord_mm") == [("pending", "needs_review", 7_000, 0)]


def _new_charge(ch: str, pi: str, refunded: int) -> dict[str, Any]:
    """A charge as API versions since 2022-11-15 render it: ``refunds`` is not there."""
    charge = se.charge(ch, pi)
    del charge["refunds"]
    return {**charge, "amount_refunded": refunded, "refunded": refunded >= charge["amount"]}


async def _paid(svc: Any, order: str) -> str:
    pid = await svc.add_payment(order)
    await svc.deliver(
        se.event("checkout.session.completed", se.session(f"cs_{order}", pid, order, f"pi_{order}"))
    )
    return str(pid)


async def _refund_rows(svc: Any, pid: str) -> list[tuple[str, int]]:
    async with svc.engine.connect() as conn:
        rows = await conn.execute(
            select(refunds.c.stripe_refund_id, refunds.c.amount).where(refunds.c.payment_id == pid)
        )
        return sorted((r[0], r[1]) for r in rows)


async def test_a_refund_seen_only_through_charge_refunded_without_refunds(engine: AsyncEngine) -> None:
    gateway = RefundGateway()
    async with running_service(engine, gateway=gateway) as svc:
        pid = await _paid(svc, "ord_cr")
        refund = se.refund("re_cr1", "pi_ord_cr", "ch_cr", 2500)
        gateway.charge_refunds["ch_cr"] = [refund]
        assert (
            await svc.deliver(se.event("charge.refunded", _new_charge("ch_cr", "pi_ord_cr", 2500)))
        ).status_code == 200
        payment = await svc.payment(pid)
        assert (payment.status, payment.amount_refunded) == ("partially_refunded", 2500)
        assert await _refund_rows(svc, pid) == [("re_cr1", 2500)]
        assert await svc.history("ord_cr") == [
            ("pending", "paid", 10_000, 0),
            ("paid", "partially_refunded", 10_000, 2500),
        ]
        # The same refund's own events, and a later charge.updated, count nothing twice.
        for evt in (
            se.event("refund.created", refund),
            se.event("refund.updated", refund),
            se.event("charge.updated", _new_charge("ch_cr", "pi_ord_cr", 2500)),
        ):
            assert (await svc.deliver(evt)).status_code == 200
        assert (await svc.payment(pid)).amount_refunded == 2500
        assert await _refund_rows(svc, pid) == [("re_cr1", 2500)]
        assert gateway.listings == ["ch_cr"]  # a charge whose refunds are all known is not listed again
        assert len(await svc.history("ord_cr")) == 2


async def test_the_old_shape_embeds_the_refunds_and_needs_no_listing(engine: AsyncEngine) -> None:
    gateway = RefundGateway()
    async with running_service(engine, gateway=gateway) as svc:
        pid = await _paid(svc, "ord_old")
        refund = se.refund("re_old", "pi_ord_old", "ch_old", 4000)
        charge = se.charge("ch_old", "pi_ord_old", refunds=[refund])
        assert (await svc.deliver(se.event("charge.refunded", charge))).status_code == 200
        assert (await svc.payment(pid)).amount_refunded == 4000
        assert await _refund_rows(svc, pid) == [("re_old", 4000)]
        assert gateway.listings == []


async def test_when_the_refunds_cannot_be_listed_the_event_is_kept_failed_and_retried(
    engine: AsyncEngine,
) -> None:
    gateway = RefundGateway()
    async with running_service(engine, gateway=gateway) as svc:
        pid = await _paid(svc, "ord_lf")
        gateway.listing_fails = True
        evt = se.event("charge.refunded", _new_charge("ch_lf", "pi_ord_lf", 1000))
        response = await svc.deliver(evt)
        assert response.status_code == 502  # not acked: Stripe (or the sweep) delivers it again
        async with engine.connect() as conn:
            status, error = (
                await conn.execute(
                    select(stripe_events.c.status, stripe_events.c.last_error).where(
                        stripe_events.c.id == evt["id"]
                    )
                )
            ).one()
        assert status == "failed" and "listing its refunds failed" in error
        assert (await svc.payment(pid)).amount_refunded == 0

        # Stripe's listing lags behind the charge: still failed, never a silently short total.
        gateway.listing_fails = False
        assert (await svc.deliver(evt)).status_code == 502
        assert (await svc.payment(pid)).amount_refunded == 0

        gateway.charge_refunds["ch_lf"] = [se.refund("re_lf", "pi_ord_lf", "ch_lf", 1000)]
        response = await svc.deliver(evt)
        assert response.status_code == 200 and response.json()["duplicate"] is False
        assert (await svc.payment(pid)).amount_refunded == 1000
        assert (await svc.deliver(evt)).json()["duplicate"] is True


async def test_a_deferred_charge_refunded_is_not_filed_processed_and_housekeeping_retries_it(
    engine: AsyncEngine,
) -> None:
    now = [datetime.now(UTC)]
    gateway = RefundGateway()
    async with running_service(engine, gateway=gateway, clock=lambda: now[0]) as svc:
        pid = await svc.add_payment("ord_df", session_id="cs_df")
        early = se.event("charge.refunded", _new_charge("ch_df", "pi_df", 1500))
        assert (await svc.deliver(early)).status_code == 200  # deferred: no payment names pi_df yet
        await svc.deliver(se.event("checkout.session.completed", se.session("cs_df", pid, "ord_df", "pi_df")))
        async with engine.connect() as conn:
            status, error = (
                await conn.execute(
                    select(stripe_events.c.status, stripe_events.c.last_error).where(
                        stripe_events.c.id == early["id"]
                    )
                )
            ).one()
        assert status == "failed" and "listed from Stripe" in error
        assert (await svc.payment(pid)).amount_refunded == 0

        gateway.charge_refunds["ch_df"] = [se.refund("re_df", "pi_df", "ch_df", 1500)]
        assert await svc.container.webhooks.retry_failed() == 0  # too soon after the last try
        now[0] += timedelta(minutes=5)
        assert await svc.container.webhooks.retry_failed() == 1
        payment = await svc.payment(pid)
        assert (payment.status, payment.amount_refunded) == ("partially_refunded", 1500)
        assert await svc.container.webhooks.retry_failed() == 0
