"""The storage the referral module runs on; ``adapters/db/referrals/`` implements it over SQL.

A unit of work exposes these as ``uow.referrals`` (``payments/unit_of_work.py``), all in its one
transaction. Reads meant to be followed by a write take the row lock (``lock_*``, ``for_update``). Every
transaction locks the referrer, then commission rows (several in id order), then the audit chain head, so
two transactions never wait on each other in a cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from payments.domain.audit_chain import ChainHead, ChainRecord, StoredEntry
from payments.domain.commission import (
    Adjustment,
    Commission,
    CommissionFilter,
    CommissionStatus,
    PayoutLine,
    ReferrerEarnings,
)

TotalsKey = tuple[CommissionStatus, str]  # status, currency
TotalsValue = tuple[int, int, int]  # count, original amount, amount


class CommissionRepository(Protocol):
    async def get(self, commission_id: str, *, for_update: bool = False) -> Commission | None: ...

    async def get_by_order(self, order_id: str, *, for_update: bool = False) -> Commission | None: ...

    async def insert(self, commission: Commission) -> None: ...

    async def save(self, before: Commission, after: Commission) -> None:
        """Write what changed since accrual; ``before`` is the state read under the row lock."""
        ...

    async def save_all(self, moves: Sequence[tuple[Commission, Commission]]) -> None:
        """``save`` for many status moves at once (their amounts do not change)."""
        ...

    async def lock_by_status(
        self, referrer_id: str, statuses: Sequence[CommissionStatus]
    ) -> list[Commission]: ...

    async def lock_due(self, now: datetime, after_id: str, limit: int) -> list[Commission]:
        """Pending commissions whose hold is over, by id after ``after_id``; rows another transaction
        holds are skipped (left to the next run)."""
        ...

    async def count_recent(self, referrer_id: str, since: datetime) -> int:
        """The referrer's commissions since ``since`` that were not refused (the velocity guard)."""
        ...

    async def adjustments_total(self, commission_id: str) -> int: ...

    async def insert_adjustment(self, adjustment: Adjustment, commission_created_at: datetime) -> None: ...

    async def adjustments_of(self, commission_id: str) -> list[Adjustment]: ...

    async def lock_unsettled_adjustments(self, referrer_id: str) -> list[Adjustment]: ...

    async def settle_adjustments(self, ids: Sequence[str], payout_id: str, now: datetime) -> None: ...

    async def insert_payout(
        self, payout_id: str, referrer_id: str, actor: str, now: datetime, lines: Sequence[PayoutLine]
    ) -> None: ...

    async def lock_referrer(self, referrer_id: str) -> None:
        """Hold the referrer's lock until the transaction ends (taken before any commission row)."""
        ...

    async def banned_among(self, referrer_ids: Sequence[str]) -> set[str]: ...

    async def is_banned(self, referrer_id: str) -> bool: ...

    async def ban(self, referrer_id: str, reason: str, actor: str, now: datetime) -> bool:
        """True when this call banned the referrer, False when they already were."""
        ...

    async def unban(self, referrer_id: str) -> bool:
        """True when this call lifted a ban, False when there was none."""
        ...


class AuditRepository(Protocol):
    async def lock_head(self) -> ChainHead:
        """The chain head, locked until the transaction ends."""
        ...

    async def append(self, entries: Sequence[tuple[ChainRecord, str]], at: datetime) -> None:
        """Store (record, hash) pairs and move the head to the last; the caller holds the head."""
        ...

    async def read_head(self) -> ChainHead | None: ...

    async def for_commission(self, commission_id: str) -> list[StoredEntry]: ...

    async def has_entry(self, commission_id: str, action: str, payment_id: str) -> bool: ...

    async def entries(self, after_seq: int, up_to_seq: int, limit: int) -> list[StoredEntry]: ...

    async def first_beyond_head(self) -> tuple[str, int, int] | None:
        """(id, seq, the head's seq) of the first entry past the chain head, the two read together: an
        append committing in between must not look like an entry written behind the chain's back."""
        ...

    async def count(self) -> int: ...


class DailyTotalsRepository(Protocol):
    async def apply(self, rows: Sequence[dict[str, Any]]) -> None:
        """Add each row (``TotalsChanges.rows()``) to its total."""
        ...


class IdentityRepository(Protocol):
    async def of_user(self, user_id: str) -> list[tuple[str, str]]:
        """(kind, value hash) pairs the user is known by."""
        ...


class ReportRepository(Protocol):
    async def totals(self, where: CommissionFilter) -> dict[TotalsKey, TotalsValue]: ...

    async def adjustments(self, where: CommissionFilter) -> dict[str, tuple[int, int, int]]:
        """Per currency: (all, unsettled, settled) adjustments of the selected commissions."""
        ...

    async def page(
        self, where: CommissionFilter, limit: int, after: tuple[datetime, str] | None
    ) -> list[Commission]:
        """Newest first on (created_at, id), after that key."""
        ...

    async def more_than(self, where: CommissionFilter, rows: int) -> bool: ...

    async def top_referrers(self, limit: int) -> list[ReferrerEarnings]:
        """The referrers who earned most, per currency, with their bans; then banned ones not among them."""
        ...


class ReferralRepositories(Protocol):
    # Read-only properties so an implementation's plain attributes satisfy them.
    @property
    def commissions(self) -> CommissionRepository: ...

    @property
    def audit(self) -> AuditRepository: ...

    @property
    def totals(self) -> DailyTotalsRepository: ...

    @property
    def identities(self) -> IdentityRepository: ...

    @property
    def reports(self) -> ReportRepository: ...


__all__ = [
    "AuditRepository",
    "CommissionRepository",
    "DailyTotalsRepository",
    "IdentityRepository",
    "ReferralRepositories",
    "ReportRepository",
    "TotalsKey",
    "TotalsValue",
]
