"""In-memory referral repositories (``referrals/ports.py``) for ``FakeUnitOfWork``'s ``referrals``.

Rows are frozen and replaced, never changed in place, so ``ReferralTables.copy`` is a snapshot the fake
store puts back when a unit of work raises. Locks are no-ops: the fake store runs one unit of work at a
time. The report's totals are summed from the commission rows themselves; that the SQL adapter's daily
totals agree with the rows is checked by the integration tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from payments.domain.audit_chain import GENESIS_HASH, ChainHead, ChainRecord, StoredEntry
from payments.domain.commission import (
    EARNING_STATUSES,
    Adjustment,
    Commission,
    CommissionFilter,
    CommissionStatus,
    PayoutLine,
    ReferrerEarnings,
)
from payments.referrals.ports import TotalsKey, TotalsValue
from payments.unit_of_work import ConcurrentWrite


@dataclass(frozen=True, slots=True)
class PayoutRow:
    id: str
    referrer_id: str
    actor: str
    created_at: datetime
    lines: tuple[PayoutLine, ...]


@dataclass
class ReferralTables:
    commissions: dict[str, Commission] = field(default_factory=dict)
    # adjustment id → (adjustment, its commission's created_at)
    adjustments: dict[str, tuple[Adjustment, datetime]] = field(default_factory=dict)
    payouts: dict[str, PayoutRow] = field(default_factory=dict)
    bans: dict[str, tuple[str, str, datetime]] = field(default_factory=dict)  # reason, actor, at
    daily: dict[tuple[Any, ...], tuple[int, int, int]] = field(default_factory=dict)
    audit: list[StoredEntry] = field(default_factory=list)
    head: ChainHead | None = None

    def copy(self) -> ReferralTables:
        return ReferralTables(
            commissions=dict(self.commissions),
            adjustments=dict(self.adjustments),
            payouts=dict(self.payouts),
            bans=dict(self.bans),
            daily=dict(self.daily),
            audit=list(self.audit),
            head=self.head,
        )


class FakeCommissionRepository:
    def __init__(self, tables: ReferralTables) -> None:
        self._t = tables

    async def get(self, commission_id: str, *, for_update: bool = False) -> Commission | None:
        return self._t.commissions.get(commission_id)

    async def get_by_order(self, order_id: str, *, for_update: bool = False) -> Commission | None:
        return next((c for c in self._t.commissions.values() if c.order_id == order_id), None)

    async def insert(self, commission: Commission) -> None:
        if commission.id in self._t.commissions or await self.get_by_order(commission.order_id):
            raise ConcurrentWrite(f"commission {commission.id}: the order has one already")
        self._t.commissions[commission.id] = commission

    async def save(self, before: Commission, after: Commission) -> None:
        stored = self._t.commissions.get(after.id)
        if stored is None or stored.status is not before.status:
            raise RuntimeError(f"commission {after.id} changed under its row lock")
        # The columns the SQL adapter writes after accrual; the rest stay as accrued.
        self._t.commissions[after.id] = replace(
            stored,
            amount=after.amount,
            status=after.status,
            reason=after.reason,
            status_before_hold=after.status_before_hold,
            paid_at=after.paid_at,
            payout_id=after.payout_id,
            updated_at=after.updated_at,
        )

    async def save_all(self, moves: Sequence[tuple[Commission, Commission]]) -> None:
        if any(before.amount != after.amount for before, after in moves):
            raise ValueError("save_all moves statuses only; an amount changes through save")
        for before, after in moves:
            await self.save(before, after)

    async def lock_by_status(
        self, referrer_id: str, statuses: Sequence[CommissionStatus]
    ) -> list[Commission]:
        return sorted(
            (
                c
                for c in self._t.commissions.values()
                if c.referrer_id == referrer_id and c.status in statuses
            ),
            key=lambda c: c.id,
        )

    async def lock_due(self, now: datetime, after_id: str, limit: int) -> list[Commission]:
        due = sorted(
            (
                c
                for c in self._t.commissions.values()
                if c.status is CommissionStatus.PENDING
                and c.hold_until is not None
                and c.hold_until <= now
                and c.id > after_id
            ),
            key=lambda c: c.id,
        )
        return due[:limit]

    async def count_recent(self, referrer_id: str, since: datetime) -> int:
        return sum(
            1
            for c in self._t.commissions.values()
            if c.referrer_id == referrer_id
            and c.created_at > since
            and c.status is not CommissionStatus.REFUSED
        )

    async def adjustments_total(self, commission_id: str) -> int:
        return sum(a.amount for a, _ in self._t.adjustments.values() if a.commission_id == commission_id)

    async def insert_adjustment(self, adjustment: Adjustment, commission_created_at: datetime) -> None:
        self._t.adjustments[adjustment.id] = (adjustment, commission_created_at)

    async def adjustments_of(self, commission_id: str) -> list[Adjustment]:
        found = [a for a, _ in self._t.adjustments.values() if a.commission_id == commission_id]
        return sorted(found, key=lambda a: (a.created_at, a.id))

    async def lock_unsettled_adjustments(self, referrer_id: str) -> list[Adjustment]:
        found = [
            a for a, _ in self._t.adjustments.values() if a.referrer_id == referrer_id and a.payout_id is None
        ]
        return sorted(found, key=lambda a: (a.created_at, a.id))

    async def settle_adjustments(self, ids: Sequence[str], payout_id: str, now: datetime) -> None:
        for adjustment_id in ids:
            adjustment, created = self._t.adjustments[adjustment_id]
            if adjustment.payout_id is None:
                settled = replace(adjustment, payout_id=payout_id, settled_at=now)
                self._t.adjustments[adjustment_id] = (settled, created)

    async def insert_payout(
        self, payout_id: str, referrer_id: str, actor: str, now: datetime, lines: Sequence[PayoutLine]
    ) -> None:
        self._t.payouts[payout_id] = PayoutRow(payout_id, referrer_id, actor, now, tuple(lines))

    async def lock_referrer(self, referrer_id: str) -> None:
        return None  # one unit of work at a time

    async def banned_among(self, referrer_ids: Sequence[str]) -> set[str]:
        return {r for r in referrer_ids if r in self._t.bans}

    async def is_banned(self, referrer_id: str) -> bool:
        return referrer_id in self._t.bans

    async def ban(self, referrer_id: str, reason: str, actor: str, now: datetime) -> bool:
        if referrer_id in self._t.bans:
            return False
        self._t.bans[referrer_id] = (reason, actor, now)
        return True

    async def unban(self, referrer_id: str) -> bool:
        return self._t.bans.pop(referrer_id, None) is not None


class FakeAuditRepository:
    def __init__(self, tables: ReferralTables) -> None:
        self._t = tables

    async def lock_head(self) -> ChainHead:
        if self._t.head is None:
            self._t.head = ChainHead(seq=0, entry_id=None, hash=GENESIS_HASH)
        return self._t.head

    async def append(self, entries: Sequence[tuple[ChainRecord, str]], at: datetime) -> None:
        if not entries:
            return
        self._t.audit = [*self._t.audit, *(StoredEntry(record, digest, at) for record, digest in entries)]
        last, last_hash = entries[-1]
        self._t.head = ChainHead(seq=last.seq, entry_id=last.id, hash=last_hash)

    async def read_head(self) -> ChainHead | None:
        return self._t.head

    async def for_commission(self, commission_id: str) -> list[StoredEntry]:
        return [e for e in self._ordered() if e.record.commission_id == commission_id]

    async def has_entry(self, commission_id: str, action: str, payment_id: str) -> bool:
        return any(
            e.record.commission_id == commission_id
            and e.record.action == action
            and e.record.payment_id == payment_id
            for e in self._t.audit
        )

    async def entries(self, after_seq: int, up_to_seq: int, limit: int) -> list[StoredEntry]:
        return [e for e in self._ordered() if after_seq < e.record.seq <= up_to_seq][:limit]

    async def first_beyond_head(self) -> tuple[str, int, int] | None:
        head = self._t.head.seq if self._t.head is not None else 0
        beyond = [e for e in self._ordered() if e.record.seq > head]
        return (beyond[0].record.id, beyond[0].record.seq, head) if beyond else None

    async def count(self) -> int:
        return len(self._t.audit)

    def _ordered(self) -> list[StoredEntry]:
        return sorted(self._t.audit, key=lambda e: e.record.seq)


class FakeDailyTotals:
    def __init__(self, tables: ReferralTables) -> None:
        self._t = tables

    async def apply(self, rows: Sequence[dict[str, Any]]) -> None:
        for row in rows:
            key = (row["referrer_id"], row["day"], row["status"], row["currency"])
            count, original, amount = self._t.daily.get(key, (0, 0, 0))
            self._t.daily[key] = (
                count + row["count"],
                original + row["original_amount"],
                amount + row["amount"],
            )


class FakeIdentityRepository:
    def __init__(self, identities: set[tuple[str, str, str]]) -> None:
        self._identities = identities  # (user_id, kind, hash), as the unit of work records them

    async def of_user(self, user_id: str) -> list[tuple[str, str]]:
        return sorted((kind, digest) for user, kind, digest in self._identities if user == user_id)


class FakeReportRepository:
    def __init__(self, tables: ReferralTables) -> None:
        self._t = tables

    async def totals(self, where: CommissionFilter) -> dict[TotalsKey, TotalsValue]:
        sums: dict[TotalsKey, TotalsValue] = {}
        for c in self._selected(where):
            count, original, amount = sums.get((c.status, c.currency), (0, 0, 0))
            sums[(c.status, c.currency)] = (count + 1, original + c.original_amount, amount + c.amount)
        return sums

    async def adjustments(self, where: CommissionFilter) -> dict[str, tuple[int, int, int]]:
        if where.status not in (None, CommissionStatus.PAID):
            return {}
        sums: dict[str, tuple[int, int, int]] = {}
        for adjustment, created in self._t.adjustments.values():
            if adjustment.referrer_id != where.referrer_id or not _in_period(created, where):
                continue
            total, unsettled, settled = sums.get(adjustment.currency, (0, 0, 0))
            if adjustment.payout_id is None:
                unsettled += adjustment.amount
            else:
                settled += adjustment.amount
            sums[adjustment.currency] = (total + adjustment.amount, unsettled, settled)
        return sums

    async def page(
        self, where: CommissionFilter, limit: int, after: tuple[datetime, str] | None
    ) -> list[Commission]:
        rows = sorted(self._selected(where), key=lambda c: (c.created_at, c.id), reverse=True)
        if after is not None:
            rows = [c for c in rows if (c.created_at, c.id) < after]
        return rows[:limit]

    async def more_than(self, where: CommissionFilter, rows: int) -> bool:
        return len(self._selected(where)) > rows

    async def top_referrers(self, limit: int) -> list[ReferrerEarnings]:
        sums: dict[tuple[str, str], tuple[int, int, int]] = {}
        for c in self._t.commissions.values():
            if c.status in EARNING_STATUSES:
                count, gross, current = sums.get((c.referrer_id, c.currency), (0, 0, 0))
                sums[(c.referrer_id, c.currency)] = (count + 1, gross + c.original_amount, current + c.amount)
        order = sorted(sums.items(), key=lambda item: (-item[1][1], item[0]))[:limit]

        def ban_of(referrer_id: str) -> tuple[datetime | None, str | None]:
            ban = self._t.bans.get(referrer_id)
            return (ban[2], ban[0]) if ban else (None, None)

        ranked = [
            ReferrerEarnings(referrer, currency, count, gross, current, *ban_of(referrer))
            for (referrer, currency), (count, gross, current) in order
        ]
        listed = {r.referrer_id for r in ranked}
        newest_bans = sorted(self._t.bans.items(), key=lambda item: item[1][2], reverse=True)[:limit]
        ranked += [
            ReferrerEarnings(referrer, "", 0, 0, 0, at, reason)
            for referrer, (reason, _actor, at) in newest_bans
            if referrer not in listed
        ]
        return ranked

    def _selected(self, where: CommissionFilter) -> list[Commission]:
        return [
            c
            for c in self._t.commissions.values()
            if c.referrer_id == where.referrer_id
            and _in_period(c.created_at, where)
            and (where.status is None or c.status is where.status)
        ]


def _in_period(moment: datetime, where: CommissionFilter) -> bool:
    return (where.period_from is None or moment >= where.period_from) and (
        where.period_to is None or moment < where.period_to
    )


class FakeReferralRepositories:
    def __init__(self, tables: ReferralTables, identities: set[tuple[str, str, str]]) -> None:
        self.commissions = FakeCommissionRepository(tables)
        self.audit = FakeAuditRepository(tables)
        self.totals = FakeDailyTotals(tables)
        self.identities = FakeIdentityRepository(identities)
        self.reports = FakeReportRepository(tables)
