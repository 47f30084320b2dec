"""Housekeeping's sweep of the Events API: from a leased watermark, each event applied once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db.tables import event_sweeps
from payments.adapters.db.unit_of_work import SqlPaymentStore
from payments.stripe_port import GatewayError, GatewayErrorKind
from payments.webhooks.sweep import HOLD_AT_MOST, EventSweep, SweepConfig
from tests.support import stripe_events as se
from tests.support.clock import NOW
from tests.support.refund_gateway import RefundGateway
from tests.support.service import running_service

T0 = int(NOW.timestamp())


class FakeEvents:
    """Stripe's Events API over a list: created-window filter, oldest first."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.calls: list[tuple[int, int | None]] = []
        self.down = False

    async def iter_events(
        self, *, created_gte: int, created_lt: int | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        self.calls.append((created_gte, created_lt))
        if self.down:
            raise GatewayError(GatewayErrorKind.UNAVAILABLE, "Stripe is unavailable")
        for event in sorted(self.events, key=lambda e: e["created"]):
            if event["created"] >= created_gte and (created_lt is None or event["created"] < created_lt):
                yield event


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


CONFIG = SweepConfig(lag=timedelta(minutes=5), window=timedelta(hours=1), initial_lookback=timedelta(days=3))


async def _watermark(engine: AsyncEngine) -> int | None:
    async with engine.connect() as conn:
        return await conn.scalar(select(event_sweeps.c.watermark))


async def test_the_sweep_applies_what_no_webhook_brought_once_and_keeps_its_place(
    engine: AsyncEngine,
) -> None:
    clock = Clock(NOW)
    async with running_service(engine, clock=clock, gateway=RefundGateway()) as svc:
        pid = await svc.add_payment("ord_sw")
        source = FakeEvents()
        paid = se.event(
            "checkout.session.completed", se.session("cs_sw", pid, "ord_sw", "pi_sw"), created=T0 - 3600 * 30
        )
        refund = se.event(
            "refund.created", se.refund("re_sw", "pi_sw", "ch_sw", 1000), created=T0 - 3600 * 29
        )
        too_recent = se.event("refund.created", se.refund("re_sw2", "pi_sw", "ch_sw", 500), created=T0 - 60)
        source.events = [refund, paid, too_recent]
        sweep = EventSweep(SqlPaymentStore(engine), source, svc.container.webhooks, clock, CONFIG)
        other_replica = EventSweep(SqlPaymentStore(engine), source, svc.container.webhooks, clock, CONFIG)

        result = await sweep.run_once()
        assert result is not None
        # Three days of history, an hour per call, up to five minutes ago: the recent refund waits.
        assert (result.applied, result.failed) == (2, 0)
        assert result.watermark == T0 - 300 == await _watermark(engine)
        assert source.calls[0][0] == T0 - 3 * 86_400
        payment = await svc.payment(pid)
        assert (payment.status, payment.amount_refunded) == ("partially_refunded", 1000)
        assert await svc.history("ord_sw") == [
            ("pending", "paid", 10_000, 0),
            ("paid", "partially_refunded", 10_000, 1000),
        ]

        # Nothing new is due yet: no call to Stripe at all.
        calls = len(source.calls)
        assert await other_replica.run_once() is None
        assert len(source.calls) == calls

        # Ten minutes on, the other replica sweeps from the shared watermark: the recent refund, once.
        clock.now = NOW + timedelta(minutes=10)
        result = await other_replica.run_once()
        assert result is not None and (result.fetched, result.applied) == (1, 1)
        assert (await svc.payment(pid)).amount_refunded == 1500
        assert len(await svc.history("ord_sw")) == 3


async def test_a_held_lease_keeps_other_replicas_out(engine: AsyncEngine) -> None:
    clock = Clock(NOW)
    async with running_service(engine, clock=clock) as svc:
        source = FakeEvents()
        a = EventSweep(SqlPaymentStore(engine), source, svc.container.webhooks, clock, CONFIG)
        b = EventSweep(SqlPaymentStore(engine), source, svc.container.webhooks, clock, CONFIG)
        assert await a._lease(NOW) is not None  # a is mid-round
        assert await b.run_once() is None
        assert source.calls == []
        clock.now = NOW + CONFIG.lease + timedelta(seconds=1)  # a died: its lease lapses
        assert await b.run_once() is not None


async def test_stripe_down_or_a_retryable_failure_holds_the_watermark(engine: AsyncEngine) -> None:
    clock = Clock(NOW)
    gateway = RefundGateway()
    async with running_service(engine, clock=clock, gateway=gateway) as svc:
        pid = await svc.add_payment("ord_hold")
        source = FakeEvents()
        sweep = EventSweep(SqlPaymentStore(engine), source, svc.container.webhooks, clock, CONFIG)
        source.down = True
        assert (await sweep.run_once()) is not None
        start = await _watermark(engine)
        assert start == T0 - 3 * 86_400  # nothing fetched, nothing skipped

        source.down = False
        paid = se.event(
            "checkout.session.completed", se.session("cs_h", pid, "ord_hold", "pi_h"), created=T0 - 7200
        )
        charge = se.charge("ch_h", "pi_h")
        del charge["refunds"]
        refunded = se.event("charge.refunded", {**charge, "amount_refunded": 700}, created=T0 - 3600)
        source.events = [paid, refunded]
        gateway.listing_fails = True
        result = await sweep.run_once()
        assert result is not None and (result.applied, result.failed) == (1, 1)
        assert await _watermark(engine) == T0 - 3600  # held at the event that must be fetched again

        gateway.listing_fails = False
        gateway.charge_refunds["ch_h"] = [se.refund("re_h", "pi_h", "ch_h", 700)]
        result = await sweep.run_once()
        assert result is not None and result.applied == 1
        assert await _watermark(engine) == T0 - 300
        assert (await svc.payment(pid)).amount_refunded == 700


def _paid_then_refunded_without_refunds(payment_id: str, tag: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A completion two hours ago, then a charge.refunded an hour ago whose refunds must be listed."""
    paid = se.event(
        "checkout.session.completed",
        se.session(f"cs_{tag}", payment_id, f"ord_{tag}", f"pi_{tag}"),
        created=T0 - 7200,
    )
    charge = se.charge(f"ch_{tag}", f"pi_{tag}")
    del charge["refunds"]
    return paid, se.event("charge.refunded", {**charge, "amount_refunded": 700}, created=T0 - 3600)


async def test_an_event_stripe_keeps_failing_holds_the_sweep_for_an_hour_then_stays_failed_behind_it(
    engine: AsyncEngine,
) -> None:
    clock = Clock(NOW)
    gateway = RefundGateway()
    gateway.listing_fails = True  # a restricted key that may not list refunds: it will never succeed
    async with running_service(engine, clock=clock, gateway=gateway) as svc:
        pid = await svc.add_payment("ord_s")
        paid, stuck = _paid_then_refunded_without_refunds(pid, "s")
        later = se.event("refund.created", se.refund("re_s2", "pi_s", "ch_s", 100), created=T0 - 1800)
        source = FakeEvents()
        source.events = [paid, stuck, later]
        sweep = EventSweep(SqlPaymentStore(engine), source, svc.container.webhooks, clock, CONFIG)

        for _ in range(2):
            assert await sweep.run_once() is not None
            assert await _watermark(engine) == T0 - 3600
        clock.now = NOW + HOLD_AT_MOST
        assert await sweep.run_once() is not None
        assert await _watermark(engine) == T0 - 300 + int(HOLD_AT_MOST.total_seconds())
        assert (await svc.payment(pid)).amount_refunded == 100  # the rest of its window was applied
        assert [e.id for e in await svc.container.events.needing_look()] == [stuck["id"]]


class _DatabaseFaultAt:
    """The processor, but the database drops the connection while it handles one given event."""

    def __init__(self, inner: Any, event_id: str) -> None:
        self._inner, self._event_id = inner, event_id

    async def process(self, event: dict[str, Any], payload: str, **kw: Any) -> Any:
        if event["id"] == self._event_id:
            raise ConnectionResetError("the database connection dropped")
        return await self._inner.process(event, payload, **kw)


async def test_a_database_fault_holds_the_sweep_even_past_an_event_stripe_kept_failing(
    engine: AsyncEngine,
) -> None:
    clock = Clock(NOW)
    gateway = RefundGateway()
    gateway.listing_fails = True
    async with running_service(engine, clock=clock, gateway=gateway) as svc:
        pid = await svc.add_payment("ord_d")
        paid, stuck = _paid_then_refunded_without_refunds(pid, "d")
        faulted = se.event("refund.created", se.refund("re_d1", "pi_d", "ch_d", 100), created=T0 - 1800)
        behind = se.event("refund.created", se.refund("re_d2", "pi_d", "ch_d", 200), created=T0 - 1700)
        source = FakeEvents()
        source.events = [paid, stuck, faulted, behind]
        processor = _DatabaseFaultAt(svc.container.webhooks, faulted["id"])
        sweep = EventSweep(SqlPaymentStore(engine), source, processor, clock, CONFIG)  # type: ignore[arg-type]
        assert await sweep.run_once() is not None
        assert await _watermark(engine) == T0 - 3600
        clock.now = NOW + HOLD_AT_MOST  # past the hour for the event Stripe fails, not for the fault
        assert await sweep.run_once() is not None
        assert await _watermark(engine) == T0 - 1800
