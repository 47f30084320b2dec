"""Commissions for the pages' tests and screenshots, accrued through the real CommissionService at chosen
times (months back), some of them partly refunded afterwards: what months of webhooks would leave."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from payments.adapters.db.unit_of_work import SqlPaymentStore
from payments.bootstrap import Container
from payments.domain.payment import PaymentSnapshot
from payments.domain.payment_state import PaymentFacts, PaymentStatus, RefundFact, RefundStatus
from payments.domain.state_diff import Cause


def month_starts(now: datetime, count: int) -> list[datetime]:
    """The first instants of the ``count`` months ending with ``now``'s, oldest first."""
    month = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    out = [month]
    for _ in range(count - 1):
        month = (month - timedelta(days=1)).replace(day=1)
        out.append(month)
    return out[::-1]


async def plant_commissions(
    c: Container,
    referrer_id: str,
    months: list[datetime],
    per_month: int,
    *,
    currency: str = "eur",
    refund_every: int = 4,
    now: datetime | None = None,
) -> int:
    """Accrue ``per_month`` commissions in each month (two hours apart, under the velocity guard); every
    ``refund_every``-th payment is then half refunded. Nothing later than ``now`` is planted."""
    planted = 0
    limit = now or datetime.now(UTC)
    for month_index, month in enumerate(months):
        # One unit of work a month, as the service's jobs run in one (much faster than one per payment).
        async with SqlPaymentStore(c.engine)() as uow:
            for k in range(per_month):
                at = month + timedelta(hours=2 * k + 1, minutes=month_index % 50)
                if at >= limit:
                    break
                order = f"ord_{referrer_id}_{month:%Y%m}_{k}"
                amount = 2_000 + 1_000 * ((month_index * 7 + k * 3) % 17)
                paid = PaymentSnapshot(
                    payment_id=f"pay_{order}",
                    order_id=order,
                    user_id=f"cust_{order}",
                    amount=amount,
                    currency=currency,
                    referrer_id=referrer_id,
                    customer_email=None,
                    status=PaymentStatus.SUCCEEDED,
                    facts=PaymentFacts(succeeded=True, amount_received=amount, currency_received=currency),
                )
                await c.commissions.accrual.accrue(
                    uow.referrals, paid, Cause(f"evt_seed_{order}", "payment_intent.succeeded"), at
                )
                planted += 1
                if refund_every and k % refund_every == refund_every - 1:
                    refunded = replace(
                        paid,
                        status=PaymentStatus.PARTIALLY_REFUNDED,
                        facts=replace(
                            paid.facts,
                            refunds={f"re_{order}": RefundFact(amount // 2, RefundStatus.SUCCEEDED, 0)},
                        ),
                    )
                    await c.commissions.on_payment_changed(
                        uow,
                        paid,
                        refunded,
                        Cause(f"evt_seed_refund_{order}", "charge.refunded"),
                        at + timedelta(minutes=30),
                    )
    return planted


async def plant_many(
    c: Container, referrer_id: str, months: list[datetime], per_month: int, *, now: datetime
) -> int:
    """Volume for the "thousands of commissions" checks: the same rows and daily totals the service keeps,
    written through its repository and totals in one transaction (accruing each through the guards and
    the audit chain would take minutes on a shared machine and prove nothing more about the pages)."""
    from payments.domain.commission import CommissionStatus, commission_for
    from payments.referrals.models import Commission
    from payments.referrals.totals import TotalsChanges

    changes, planted = TotalsChanges(), 0
    async with SqlPaymentStore(c.engine)() as uow:
        for month_index, month in enumerate(months):
            for k in range(per_month):
                at = month + timedelta(hours=2 * k + 1)
                if at >= now:
                    break
                amount = 2_000 + 1_000 * ((month_index * 7 + k * 3) % 17)
                original = commission_for(amount, 1000)
                kept = original // 2 if k % 4 == 3 else original
                commission = Commission(
                    id=f"com_{referrer_id}_{month:%Y%m}_{k:04d}",
                    order_id=f"ord_{referrer_id}_{month:%Y%m}_{k}",
                    payment_id=f"pay_{referrer_id}_{month:%Y%m}_{k}",
                    referrer_id=referrer_id,
                    customer_user_id=f"cust_{month:%Y%m}_{k}",
                    currency="eur",
                    payment_amount=amount,
                    original_amount=original,
                    amount=kept,
                    rate_bps=1000,
                    min_amount=100,
                    hold_days=30,
                    status=CommissionStatus.APPROVED
                    if at < now - timedelta(days=30)
                    else CommissionStatus.PENDING,
                    reason=None,
                    status_before_hold=None,
                    hold_until=at + timedelta(days=30),
                    paid_at=None,
                    payout_id=None,
                    created_at=at,
                    updated_at=at,
                )
                await uow.referrals.commissions.insert(commission)
                changes.added(commission)
                planted += 1
        await uow.referrals.totals.apply(changes.rows())
    return planted
