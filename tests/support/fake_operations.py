"""The operator console's storage in memory (``uow.operator_reads``, ``uow.operator_log``) over the
``Tables`` of ``tests/support/fakes.py``; the same answers as ``adapters/db/operations_reads.py``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from payments.domain.payment_state import PaymentStatus
from payments.records import REQUESTED, OperatorAction, PaymentRecord, QueueRows, needs_a_look

if TYPE_CHECKING:
    from tests.support.fakes import Tables

T = TypeVar("T")


def _queue(
    rows: Iterable[T], since: Callable[[T], datetime], item: Callable[[T], dict[str, Any]], shown: int
) -> QueueRows:
    ordered = sorted(rows, key=since)
    items = tuple({**item(row), "since": since(row)} for row in ordered[:shown])
    return QueueRows(len(ordered), since(ordered[0]) if ordered else None, items)


class FakeOperatorReads:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def payments_to_review(self, shown: int) -> QueueRows:
        return _queue(
            (p for p in self._t.payments.values() if p.status == PaymentStatus.NEEDS_REVIEW.value),
            lambda p: p.updated_at,
            lambda p: {
                "id": p.id,
                "order_id": p.order_id,
                "amount": p.amount,
                "currency": p.currency,
                "facts": p.facts,
            },
            shown,
        )

    async def events_needing_look(self, shown: int) -> QueueRows:
        return _queue(
            (e for e in self._t.events.values() if needs_a_look(e.status, e.last_error)),
            lambda e: e.received_at,
            lambda e: {
                "id": e.id,
                "type": e.type,
                "status": e.status.value,
                "attempts": e.attempts,
                "last_error": e.last_error,
                "payment_id": e.payment_id,
            },
            shown,
        )

    async def undelivered_diffs(self, shown: int) -> QueueRows:
        return _queue(
            (d for d in self._t.diffs if d.delivered_at is None),
            lambda d: d.at,
            lambda d: {
                "id": d.id,
                "order_id": d.order_id,
                "seq": d.seq,
                "from_state": d.from_state,
                "to_state": d.to_state,
                "attempts": d.attempts,
                "last_error": d.last_error,
                "next_attempt_at": d.next_attempt_at,
            },
            shown,
        )

    async def held_commissions(self, shown: int) -> QueueRows:
        return QueueRows(0, None, ())  # the fake keeps no referral tables

    async def unconfirmed_refunds(self, shown: int) -> QueueRows:
        return _queue(
            (r for r in self._t.refunds.values() if r.status == REQUESTED),
            lambda r: r.created_at,
            lambda r: {
                "id": r.id,
                "payment_id": r.payment_id,
                "amount": r.amount,
                "currency": r.currency,
                "last_error": self._t.refund_errors.get(r.id),
            },
            shown,
        )

    async def payment_matching(self, needle: str) -> PaymentRecord | None:
        found = [
            p
            for p in self._t.payments.values()
            if needle
            in (
                p.id,
                p.order_id,
                p.stripe_checkout_session_id,
                p.stripe_payment_intent_id,
                p.stripe_charge_id,
            )
        ]
        if found:
            return max(found, key=lambda p: p.created_at)
        payment_id = next(
            (r.payment_id for r in self._t.refunds.values() if needle in (r.id, r.stripe_refund_id)), None
        ) or (self._t.events[needle].payment_id if needle in self._t.events else None)
        return self._t.payments.get(payment_id) if payment_id is not None else None

    async def attempts_of(self, order_id: str) -> list[PaymentRecord]:
        return sorted(
            (p for p in self._t.payments.values() if p.order_id == order_id),
            key=lambda p: (p.created_at, p.id),
        )

    async def refunds_of(self, payment_id: str) -> list[dict[str, Any]]:
        return [
            {
                "id": r.id,
                "amount": r.amount,
                "currency": r.currency,
                "status": r.status,
                "source": r.source,
                "stripe_refund_id": r.stripe_refund_id,
                "created_at": r.created_at,
            }
            for r in self._t.refunds_of(payment_id)
        ]

    async def events_of(self, payment_id: str, limit: int) -> list[dict[str, Any]]:
        rows = sorted(
            (e for e in self._t.events.values() if e.payment_id == payment_id),
            key=lambda e: (e.received_at, e.created),
        )
        return [
            {
                "id": e.id,
                "type": e.type,
                "status": e.status.value,
                "attempts": e.attempts,
                "last_error": e.last_error,
                "received_at": e.received_at,
                "processed_at": None,
            }
            for e in rows[:limit]
        ]


class FakeOperatorLog:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def record(self, entry: OperatorAction) -> None:
        if entry.id in self._t.operator_actions:
            raise AssertionError(f"operator action {entry.id} recorded twice")
        self._t.operator_actions[entry.id] = entry

    async def latest(self, action: str) -> OperatorAction | None:
        chosen = [a for a in self._t.operator_actions.values() if a.action == action]
        return max(chosen, key=lambda a: (a.at, a.id)) if chosen else None

    async def get(self, entry_id: str) -> OperatorAction | None:
        return self._t.operator_actions.get(entry_id)
