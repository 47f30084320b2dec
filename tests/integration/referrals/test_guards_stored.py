"""Every fraud guard, end to end: the stored status and reason, and the audit entry that records them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db.referral_tables import referral_audit_log, referral_commissions
from payments.adapters.db.unit_of_work import SqlPaymentStore
from payments.domain.payment import PaymentSnapshot
from payments.domain.state_diff import Cause
from payments.referrals import AuditAction, CommissionService
from tests.integration.referrals.support import SETTINGS, Webhooks, commission_of, paid, snapshot
from tests.support.clock import NOW

Setup = Callable[[AsyncEngine, CommissionService], Awaitable[PaymentSnapshot]]


async def _referrer_paid_before(engine: AsyncEngine, service: CommissionService, email: str, fp: str) -> None:
    """The referrer shops too: their own payment teaches the guards their email and card."""
    own = snapshot("ord_referrers_own", user_id="ref_1", referrer_id=None, email=email)
    await Webhooks(engine, service, own).deliver(paid(fingerprint=fp))


async def no_referrer(engine: AsyncEngine, service: CommissionService) -> PaymentSnapshot:
    return snapshot(referrer_id="   ")


async def self_referral(engine: AsyncEngine, service: CommissionService) -> PaymentSnapshot:
    return snapshot(user_id="ref_1")


async def shared_email(engine: AsyncEngine, service: CommissionService) -> PaymentSnapshot:
    await _referrer_paid_before(engine, service, "Re.Ferrer+deals@gmail.com", "fp_referrer")
    return snapshot(email="referrer@googlemail.com")


async def shared_card(engine: AsyncEngine, service: CommissionService) -> PaymentSnapshot:
    await _referrer_paid_before(engine, service, "referrer@example.com", "fp_shared")
    return snapshot(email="someone.else@example.com")


async def below_minimum(engine: AsyncEngine, service: CommissionService) -> PaymentSnapshot:
    return snapshot(amount=99)


async def banned_referrer(engine: AsyncEngine, service: CommissionService) -> PaymentSnapshot:
    await service.ban_referrer("ref_1", "admin:alice", "fake accounts", NOW - timedelta(days=1))
    return snapshot()


async def velocity(engine: AsyncEngine, service: CommissionService) -> PaymentSnapshot:
    for i in range(SETTINGS.referral_velocity_per_hour):
        earlier = snapshot(f"ord_burst_{i}", user_id=f"user_burst_{i}", email=None)
        await Webhooks(engine, service, earlier).deliver(
            paid(fingerprint=f"fp_{i}"), now=NOW - timedelta(minutes=30)
        )
    return snapshot()


async def elevated_risk(engine: AsyncEngine, service: CommissionService) -> PaymentSnapshot:
    return snapshot()


async def amount_mismatch(engine: AsyncEngine, service: CommissionService) -> PaymentSnapshot:
    return snapshot()


@dataclass(frozen=True)
class Case:
    name: str
    setup: Setup
    status: str
    reason: str
    action: AuditAction
    risk: str = "normal"
    received: int = 10_000


CASES = [
    Case("no_referrer", no_referrer, "refused", "no_referrer", AuditAction.REFUSED),
    Case("self_referral", self_referral, "refused", "self_referral", AuditAction.REFUSED),
    Case("shared_email", shared_email, "refused", "shared_email", AuditAction.REFUSED),
    Case("shared_card", shared_card, "refused", "shared_card", AuditAction.REFUSED),
    Case("below_minimum", below_minimum, "refused", "below_minimum", AuditAction.REFUSED, received=99),
    Case("banned_referrer", banned_referrer, "refused", "banned_referrer", AuditAction.REFUSED),
    Case("velocity", velocity, "held", "velocity", AuditAction.HELD),
    Case("elevated_risk", elevated_risk, "held", "elevated_risk", AuditAction.HELD, risk="elevated"),
    Case("amount_mismatch", amount_mismatch, "held", "amount_mismatch", AuditAction.HELD, received=9_000),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_guard_stores_its_reason_and_audits_it(engine: AsyncEngine, case: Case) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    payment = await case.setup(engine, service)
    await Webhooks(engine, service, payment).deliver(
        paid(case.received, fingerprint="fp_shared", risk=case.risk)
    )

    commission = await commission_of(engine, payment.order_id)
    assert (commission.status.value, commission.reason) == (case.status, case.reason)
    audit = await service.get_audit(commission.id)
    assert [(e.action, e.reason) for e in audit] == [(case.action, case.reason)]
    assert audit[0].after is not None and audit[0].after["status"] == case.status


async def test_duplicate_order_is_refused_on_the_existing_commission_and_audited_once(
    engine: AsyncEngine,
) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    first = snapshot()
    await Webhooks(engine, service, first).deliver(paid())
    second = replace(snapshot(), payment_id="pay_second_attempt")

    for _ in range(3):
        await Webhooks(engine, service, second).deliver(paid())

    commission = await commission_of(engine, "ord_1")
    assert (commission.payment_id, commission.status.value, commission.reason) == (
        "pay_ord_1",
        "pending",
        None,
    )
    audit = await service.get_audit(commission.id)
    assert [(e.action, e.reason, e.payment_id) for e in audit] == [
        (AuditAction.ACCRUED, None, "pay_ord_1"),
        (AuditAction.REFUSED, "duplicate_order", "pay_second_attempt"),
    ]


async def test_a_clean_referral_accrues_pending_until_the_hold_ends(engine: AsyncEngine) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    await Webhooks(engine, service, snapshot()).deliver(paid())

    commission = await commission_of(engine, "ord_1")
    assert (commission.status.value, commission.amount, commission.reason) == ("pending", 1_000, None)
    assert commission.hold_until == NOW + timedelta(days=30)
    assert (commission.rate_bps, commission.min_amount, commission.hold_days) == (1_000, 100, 30)


async def test_a_payment_without_referrer_stores_nothing(engine: AsyncEngine) -> None:
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    payment = snapshot(referrer_id=None)
    assert await service.accrue_commission(payment.with_facts(paid()), Cause("evt_1", "t"), NOW) is None
    await Webhooks(engine, service, payment).deliver(paid())
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(referral_commissions)) == 0
        assert await conn.scalar(select(func.count()).select_from(referral_audit_log)) == 0


SESSION_COMPLETED = replace(paid(), card_fingerprint="", risk_level="")


@pytest.mark.parametrize(
    ("setup", "risk", "status", "action"),
    [
        (shared_card, "normal", "refused", AuditAction.REFUSED),
        (elevated_risk, "elevated", "held", AuditAction.HELD),
    ],
    ids=["shared_card", "elevated_risk"],
)
async def test_a_charge_guard_applies_when_the_charge_comes_after_the_session(
    engine: AsyncEngine, setup: Setup, risk: str, status: str, action: AuditAction
) -> None:
    """checkout.session.completed carries no card and no Radar risk: the charge that brings them later
    asks those guards again, with the same outcome as when the charge came first."""
    service = CommissionService(SETTINGS, SqlPaymentStore(engine))
    payment = await setup(engine, service)
    webhooks = Webhooks(engine, service, payment)
    await webhooks.deliver(SESSION_COMPLETED)
    await webhooks.deliver(paid(fingerprint="fp_shared", risk=risk))

    commission = await commission_of(engine, payment.order_id)
    reason = setup.__name__
    assert (commission.status.value, commission.reason) == (status, reason)
    audit = await service.get_audit(commission.id)
    assert [(e.action, e.reason) for e in audit] == [(AuditAction.ACCRUED, None), (action, reason)]
