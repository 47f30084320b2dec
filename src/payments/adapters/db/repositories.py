"""Repositories over a unit of work's connection (the Protocols are in ``payments/unit_of_work.py``).

Each takes a ``ConnectionSource`` rather than a connection: on PostgreSQL the unit of work first sends
the writes it holds back, so a repository read sees them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from payments.adapters.db import diffs_repo, events_repo, payments_repo, refunds_repo
from payments.domain.payment_state import PaymentStatus
from payments.records import EventNeedingLook, EventStatus, PaymentRecord, RefundRecord
from payments.unit_of_work import ConcurrentWrite

ConnectionSource = Callable[[], Awaitable[AsyncConnection]]


class SqlPaymentRepository:
    def __init__(self, connection: ConnectionSource, raw: Any | None = None) -> None:
        """``raw``: the asyncpg connection under ``connection``, when the unit of work holds it."""
        self._connection = connection
        self._raw = raw

    async def get(self, payment_id: str, *, for_update: bool = False) -> PaymentRecord | None:
        return await payments_repo.get(await self._connection(), payment_id, for_update=for_update)

    async def get_by_idempotency_key(self, key: str) -> PaymentRecord | None:
        return await payments_repo.get_by_idempotency_key(await self._connection(), key)

    async def get_by_checkout_session(self, session_id: str) -> PaymentRecord | None:
        return await payments_repo.get_by_checkout_session(await self._connection(), session_id)

    async def add(self, record: PaymentRecord) -> None:
        values = {name: getattr(record, name) for name in PaymentRecord.__slots__}
        try:
            await payments_repo.insert_payment(await self._connection(), values)
        except IntegrityError:
            # Only the unique keys can refuse a new row (the statement is ours); the transaction is
            # unusable now (PostgreSQL), so the caller starts another.
            raise ConcurrentWrite(f"another transaction wrote a payment like {record.id} first") from None

    async def add_first(self, record: PaymentRecord) -> bool:
        return await payments_repo.add_first(await self._connection(), record, self._raw)

    async def mark_superseded(self, payment_id: str, now: datetime) -> None:
        await payments_repo.mark_superseded(await self._connection(), payment_id, now)

    async def save_checkout_window(
        self, record: PaymentRecord, *, expires_at: datetime, generation: int, now: datetime
    ) -> bool:
        return await payments_repo.save_checkout_window(
            await self._connection(), record, expires_at=expires_at, generation=generation, now=now
        )

    async def save_stripe_link(
        self, payment_id: str, now: datetime, links: Mapping[str, str | None]
    ) -> PaymentRecord | None:
        conn = await self._connection()
        return await payments_repo.save_stripe_link(conn, payment_id, now, links, self._raw)

    async def save_error(self, payment_id: str, now: datetime, error: str) -> None:
        await payments_repo.save_error(await self._connection(), payment_id, now, error)

    async def latest_for_order(self, order_id: str, *, for_update: bool = False) -> PaymentRecord | None:
        return await payments_repo.latest_for_order(await self._connection(), order_id, for_update=for_update)

    async def list_for_order(self, order_id: str) -> list[PaymentRecord]:
        return await payments_repo.list_for_order(await self._connection(), order_id)

    async def set_diff_seq(self, payment_id: str, diff_seq: int) -> None:
        await payments_repo.set_diff_seq(await self._connection(), payment_id, diff_seq)

    async def count_with_status(self, status: PaymentStatus) -> int:
        return await payments_repo.count_with_status(await self._connection(), status)


class SqlRefundRepository:
    def __init__(self, connection: ConnectionSource) -> None:
        self._connection = connection

    async def get(self, refund_id: str) -> RefundRecord | None:
        return await refunds_repo.get(await self._connection(), refund_id)

    async def by_idempotency_key(self, payment_id: str, key: str) -> RefundRecord | None:
        return await refunds_repo.by_idempotency_key(await self._connection(), payment_id, key)

    async def reserved_amount(self, payment_id: str) -> int:
        return await refunds_repo.reserved_amount(await self._connection(), payment_id)

    async def add_requested(
        self,
        *,
        payment_id: str,
        amount: int,
        currency: str,
        reason: str | None,
        idempotency_key: str | None,
        now: datetime,
    ) -> RefundRecord:
        try:
            return await refunds_repo.insert_requested(
                await self._connection(),
                payment_id=payment_id,
                amount=amount,
                currency=currency,
                reason=reason,
                idempotency_key=idempotency_key,
                now=now,
            )
        except IntegrityError:
            # RefundService reserves under the payment's row lock, so only a caller without it gets here.
            raise ConcurrentWrite(f"payment {payment_id} has a refund under that idempotency key") from None

    async def requested_before(self, cutoff: datetime) -> list[RefundRecord]:
        return await refunds_repo.requested_before(await self._connection(), cutoff)

    async def mark_failed(self, refund_id: str, error: str, now: datetime) -> None:
        await refunds_repo.mark_failed(await self._connection(), refund_id, error, now)


class SqlDiffRepository:
    def __init__(self, connection: ConnectionSource) -> None:
        self._connection = connection

    async def history(self, order_id: str) -> list[dict[str, Any]]:
        return await diffs_repo.history(await self._connection(), order_id)

    async def last_for_order(self, order_id: str) -> tuple[int, str] | None:
        return await diffs_repo.last_for_order(await self._connection(), order_id)


class SqlEventRepository:
    """The ledger away from the webhook path (that one is the unit of work's own methods)."""

    def __init__(self, connection: ConnectionSource) -> None:
        self._connection = connection

    async def needing_look(self, statuses: tuple[EventStatus, ...], limit: int) -> list[EventNeedingLook]:
        return await events_repo.needing_look(await self._connection(), statuses, limit)

    async def prune(self, older_than: datetime) -> int:
        return await events_repo.prune(await self._connection(), older_than)

    async def failed_for_retry(
        self, now: datetime, max_attempts: int, limit: int, spacing: timedelta
    ) -> list[str]:
        return await events_repo.failed_for_retry(await self._connection(), now, max_attempts, limit, spacing)
