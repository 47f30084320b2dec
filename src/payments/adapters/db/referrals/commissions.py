"""Commissions, adjustments, payouts, bans and referrer locks in and out (SQLAlchemy Core, the same
statements on both backends); the Protocol is ``CommissionRepository`` in ``referrals/ports.py``.

Reads meant to be followed by a write take the row lock (``FOR UPDATE`` on PostgreSQL; SQLite has one
writer at a time already). Every transaction locks commission rows before the audit chain head, and
several rows in id order, so two transactions never wait on each other in a cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import groupby
from typing import Any

from sqlalchemy import RowMapping, delete, func, insert, select, update

from payments.adapters.db.referral_tables import (
    referral_adjustments,
    referral_bans,
    referral_commissions,
    referral_payout_lines,
    referral_payouts,
    referral_referrer_locks,
)
from payments.adapters.db.referrals.portable import insert_ignoring_conflicts
from payments.adapters.db.repositories import ConnectionSource
from payments.adapters.db.timestamps import as_utc as utc
from payments.adapters.db.timestamps import as_utc_or_none as utc_or_none
from payments.domain.commission import Adjustment, Commission, CommissionStatus, PayoutLine

_c = referral_commissions
_a = referral_adjustments
# SQLite's limit on bound parameters is far above this; PostgreSQL plans short IN lists better.
_CHUNK = 500


def commission_from_row(row: RowMapping) -> Commission:
    before_hold = row["status_before_hold"]
    return Commission(
        id=row["id"],
        order_id=row["order_id"],
        payment_id=row["payment_id"],
        referrer_id=row["referrer_id"],
        customer_user_id=row["customer_user_id"],
        currency=row["currency"],
        payment_amount=int(row["payment_amount"]),
        original_amount=int(row["original_amount"]),
        amount=int(row["amount"]),
        rate_bps=int(row["rate_bps"]),
        min_amount=int(row["min_amount"]),
        hold_days=int(row["hold_days"]),
        status=CommissionStatus(row["status"]),
        reason=row["reason"],
        status_before_hold=CommissionStatus(before_hold) if before_hold else None,
        hold_until=utc_or_none(row["hold_until"]),
        paid_at=utc_or_none(row["paid_at"]),
        payout_id=row["payout_id"],
        created_at=utc(row["created_at"]),
        updated_at=utc(row["updated_at"]),
    )


def adjustment_from_row(row: RowMapping) -> Adjustment:
    return Adjustment(
        id=row["id"],
        commission_id=row["commission_id"],
        referrer_id=row["referrer_id"],
        currency=row["currency"],
        amount=int(row["amount"]),
        reason=row["reason"],
        cause_event_id=row["cause_event_id"],
        created_at=utc(row["created_at"]),
        payout_id=row["payout_id"],
        settled_at=utc_or_none(row["settled_at"]),
    )


def chunks(ids: Sequence[str]) -> list[Sequence[str]]:
    return [ids[i : i + _CHUNK] for i in range(0, len(ids), _CHUNK)]


class SqlCommissionRepository:
    def __init__(self, connection: ConnectionSource) -> None:
        self._connection = connection

    async def get(self, commission_id: str, *, for_update: bool = False) -> Commission | None:
        conn = await self._connection()
        query = select(_c).where(_c.c.id == commission_id)
        if for_update:
            query = query.with_for_update()
        row = (await conn.execute(query)).mappings().first()
        return commission_from_row(row) if row is not None else None

    async def get_by_order(self, order_id: str, *, for_update: bool = False) -> Commission | None:
        conn = await self._connection()
        query = select(_c).where(_c.c.order_id == order_id)
        if for_update:
            query = query.with_for_update()
        row = (await conn.execute(query)).mappings().first()
        return commission_from_row(row) if row is not None else None

    async def insert(self, commission: Commission) -> None:
        conn = await self._connection()
        await conn.execute(
            insert(_c).values(
                id=commission.id,
                order_id=commission.order_id,
                payment_id=commission.payment_id,
                referrer_id=commission.referrer_id,
                customer_user_id=commission.customer_user_id,
                currency=commission.currency,
                payment_amount=commission.payment_amount,
                original_amount=commission.original_amount,
                amount=commission.amount,
                rate_bps=commission.rate_bps,
                min_amount=commission.min_amount,
                hold_days=commission.hold_days,
                status=commission.status.value,
                reason=commission.reason,
                status_before_hold=None,
                hold_until=utc_or_none(commission.hold_until),
                paid_at=None,
                payout_id=None,
                created_at=utc(commission.created_at),
                updated_at=utc(commission.updated_at),
            )
        )

    async def save(self, before: Commission, after: Commission) -> None:
        """Write the fields that change after accrual; guarded by the status read under the row lock."""
        conn = await self._connection()
        result = await conn.execute(
            update(_c)
            .where(_c.c.id == after.id, _c.c.status == before.status.value)
            .values(
                amount=after.amount,
                status=after.status.value,
                reason=after.reason,
                status_before_hold=after.status_before_hold.value if after.status_before_hold else None,
                paid_at=utc_or_none(after.paid_at),
                payout_id=after.payout_id,
                updated_at=utc(after.updated_at),
            )
        )
        if result.rowcount != 1:
            raise RuntimeError(f"commission {after.id} changed under its row lock")

    async def lock_by_status(
        self,
        referrer_id: str,
        statuses: Sequence[CommissionStatus],
    ) -> list[Commission]:
        conn = await self._connection()
        query = (
            select(_c)
            .where(_c.c.referrer_id == referrer_id, _c.c.status.in_([s.value for s in statuses]))
            .order_by(_c.c.id)
            .with_for_update()
        )
        return [commission_from_row(row) for row in (await conn.execute(query)).mappings()]

    async def lock_due(self, now: datetime, after_id: str, limit: int) -> list[Commission]:
        """Pending commissions whose hold is over; rows a webhook holds right now are left to the next run."""
        conn = await self._connection()
        query = (
            select(_c)
            .where(
                _c.c.status == CommissionStatus.PENDING.value,
                _c.c.hold_until <= utc(now),
                _c.c.id > after_id,
            )
            .order_by(_c.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [commission_from_row(row) for row in (await conn.execute(query)).mappings()]

    async def save_all(self, moves: Sequence[tuple[Commission, Commission]]) -> None:
        """``save`` for many rows whose amounts do not change (release, payout, ban): one UPDATE per
        batch of rows moving alike, each guarded by the status read under the row locks."""

        def alike(move: tuple[Commission, Commission]) -> tuple[Any, ...]:
            before, after = move
            return (
                before.status.value,
                after.status.value,
                after.reason or "",
                after.status_before_hold.value if after.status_before_hold else "",
                after.paid_at.isoformat() if after.paid_at else "",
                after.payout_id or "",
                after.updated_at.isoformat(),
            )

        if any(before.amount != after.amount for before, after in moves):
            raise ValueError("save_all moves statuses only; an amount changes through save")
        conn = await self._connection()
        for _, group in groupby(sorted(moves, key=alike), key=alike):
            batch = list(group)
            before, after = batch[0]
            for part in chunks([a.id for _, a in batch]):
                result = await conn.execute(
                    update(_c)
                    .where(_c.c.id.in_(part), _c.c.status == before.status.value)
                    .values(
                        status=after.status.value,
                        reason=after.reason,
                        status_before_hold=(
                            after.status_before_hold.value if after.status_before_hold else None
                        ),
                        paid_at=utc_or_none(after.paid_at),
                        payout_id=after.payout_id,
                        updated_at=utc(after.updated_at),
                    )
                )
                if result.rowcount != len(part):
                    raise RuntimeError("a commission changed under its row lock")

    async def count_recent(self, referrer_id: str, since: datetime) -> int:
        conn = await self._connection()
        query = (
            select(func.count())
            .select_from(_c)
            .where(
                _c.c.referrer_id == referrer_id,
                _c.c.created_at > utc(since),
                _c.c.status != CommissionStatus.REFUSED.value,
            )
        )
        return int(await conn.scalar(query) or 0)

    # -- adjustments ---------------------------------------------------------------------------------
    async def adjustments_total(self, commission_id: str) -> int:
        conn = await self._connection()
        query = select(func.coalesce(func.sum(_a.c.amount), 0)).where(_a.c.commission_id == commission_id)
        return int(await conn.scalar(query) or 0)

    async def insert_adjustment(self, adjustment: Adjustment, commission_created_at: datetime) -> None:
        conn = await self._connection()
        await conn.execute(
            insert(_a).values(
                id=adjustment.id,
                commission_created_at=utc(commission_created_at),
                commission_id=adjustment.commission_id,
                referrer_id=adjustment.referrer_id,
                currency=adjustment.currency,
                amount=adjustment.amount,
                reason=adjustment.reason,
                cause_event_id=adjustment.cause_event_id,
                created_at=utc(adjustment.created_at),
                payout_id=None,
                settled_at=None,
            )
        )

    async def adjustments_of(self, commission_id: str) -> list[Adjustment]:
        conn = await self._connection()
        query = select(_a).where(_a.c.commission_id == commission_id).order_by(_a.c.created_at, _a.c.id)
        return [adjustment_from_row(row) for row in (await conn.execute(query)).mappings()]

    async def lock_unsettled_adjustments(self, referrer_id: str) -> list[Adjustment]:
        conn = await self._connection()
        query = (
            select(_a)
            .where(_a.c.referrer_id == referrer_id, _a.c.payout_id.is_(None))
            .order_by(_a.c.created_at, _a.c.id)
            .with_for_update()
        )
        return [adjustment_from_row(row) for row in (await conn.execute(query)).mappings()]

    async def settle_adjustments(self, ids: Sequence[str], payout_id: str, now: datetime) -> None:
        conn = await self._connection()
        for part in chunks(ids):
            await conn.execute(
                update(_a)
                .where(_a.c.id.in_(part), _a.c.payout_id.is_(None))
                .values(payout_id=payout_id, settled_at=utc(now))
            )

    # -- payouts and bans ----------------------------------------------------------------------------
    async def insert_payout(
        self,
        payout_id: str,
        referrer_id: str,
        actor: str,
        now: datetime,
        lines: Sequence[PayoutLine],
    ) -> None:
        conn = await self._connection()
        await conn.execute(
            insert(referral_payouts).values(
                id=payout_id, referrer_id=referrer_id, actor=actor, created_at=utc(now)
            )
        )
        await conn.execute(
            insert(referral_payout_lines),
            [
                {
                    "payout_id": payout_id,
                    "currency": line.currency,
                    "commissions_amount": line.commissions_amount,
                    "adjustments_amount": line.adjustments_amount,
                    "net_amount": line.net_amount,
                    "commission_count": line.commission_count,
                    "adjustment_count": line.adjustment_count,
                }
                for line in lines
            ],
        )

    async def lock_referrer(self, referrer_id: str) -> None:
        """Hold the referrer's lock row until the transaction ends (take it before any commission row)."""
        conn = await self._connection()
        await insert_ignoring_conflicts(
            conn, referral_referrer_locks, [{"referrer_id": referrer_id}], ["referrer_id"]
        )
        query = (
            select(referral_referrer_locks.c.referrer_id)
            .where(referral_referrer_locks.c.referrer_id == referrer_id)
            .with_for_update()
        )
        await conn.execute(query)

    async def banned_among(self, referrer_ids: Sequence[str]) -> set[str]:
        conn = await self._connection()
        found: set[str] = set()
        for part in chunks(sorted(set(referrer_ids))):
            query = select(referral_bans.c.referrer_id).where(referral_bans.c.referrer_id.in_(part))
            found.update((await conn.execute(query)).scalars())
        return found

    async def is_banned(self, referrer_id: str) -> bool:
        conn = await self._connection()
        query = select(referral_bans.c.referrer_id).where(referral_bans.c.referrer_id == referrer_id)
        return (await conn.execute(query)).first() is not None

    async def ban(self, referrer_id: str, reason: str, actor: str, now: datetime) -> bool:
        """True when this call banned the referrer, False when they already were."""
        conn = await self._connection()
        inserted = await insert_ignoring_conflicts(
            conn,
            referral_bans,
            [{"referrer_id": referrer_id, "reason": reason, "actor": actor, "banned_at": utc(now)}],
            ["referrer_id"],
        )
        return inserted == 1

    async def unban(self, referrer_id: str) -> bool:
        """True when this call lifted a ban, False when there was none."""
        conn = await self._connection()
        result = await conn.execute(delete(referral_bans).where(referral_bans.c.referrer_id == referrer_id))
        return int(result.rowcount) == 1
