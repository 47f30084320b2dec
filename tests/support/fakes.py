"""In-memory stand-ins for the database and Stripe, for service tests that run in milliseconds.

- ``FakeStore``: a ``UnitOfWorkFactory`` and a ``PaymentStore`` (``webhooks/ports.py``) over dicts. Each
  unit of work runs alone (one at a time, as SQLite's write transaction does), sees the tables as they
  are, and is undone if its block raises (a snapshot taken on entry is put back): the same commit and
  rollback rule as ``adapters/db/unit_of_work.py``. The unique keys the services rely on (an order's one
  live attempt, idempotency keys, Stripe ids, an order's diff sequence) refuse a write with
  ``ConcurrentWrite``, as the SQL repositories do.
- ``FakeStripeGateway``: ``CheckoutGateway``, ``RefundGateway`` and the webhook processor's
  ``ChargeRefunds``. It records every call, keeps Stripe's idempotency (the same key answers the same
  object) and Stripe's refusals (no expiring a completed session, no canceling a succeeded intent), and
  can be told to fail the next call of a kind with a ``GatewayError``, before or after Stripe acted.
  The integration tests use it too, behind a ``PaymentService`` on a real database.

Neither knows SQL: the ``UnitOfWork`` Protocol offers services repositories only, so there is nothing
here for a service to send SQL to.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from payments.checkout.ports import CheckoutGateway
from payments.domain.attempts import MAX_ATTEMPTS
from payments.domain.payment_state import PaymentFacts, PaymentStatus, RefundStatus
from payments.domain.state_diff import Cause, StateDiff
from payments.domain.stripe_facts import EventFacts
from payments.ids import new_id
from payments.records import (
    REQUESTED,
    SETTLED,
    STATUS_RANK,
    EventStatus,
    IncomingEvent,
    OperatorAction,
    OutboxMessage,
    PaymentRecord,
    RefundRecord,
    StoredEvent,
)
from payments.refunds.ports import RefundGateway
from payments.stripe_port import (
    CheckoutRequest,
    CheckoutSession,
    GatewayError,
    GatewayErrorKind,
    IntentState,
    PaymentIntent,
    PaymentIntentRequest,
    Refund,
    SessionState,
)
from payments.unit_of_work import ConcurrentWrite, NeedsLocks, UnitOfWork, UnitOfWorkFactory
from payments.webhooks.orchestrator import PaymentOrchestrator
from payments.webhooks.ports import PaymentStore
from payments.webhooks.processor import ChargeRefunds
from tests.support.fake_events import FakeEventRepository
from tests.support.fake_operations import FakeOperatorLog, FakeOperatorReads
from tests.support.fake_referrals import FakeReferralRepositories, ReferralTables

T = TypeVar("T")

# The statuses under which an attempt counts as live (the partial unique index uq_payments_live_order).
_LIVE = frozenset({PaymentStatus.OPEN.value, PaymentStatus.PROCESSING.value})
_STRIPE_IDS = ("stripe_checkout_session_id", "stripe_payment_intent_id", "stripe_charge_id")
_MAX_LISTED_ATTEMPTS = MAX_ATTEMPTS
_REQUESTED_BATCH = 100


# -- the tables ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventRow:
    id: str
    type: str
    created: int
    payload: str
    status: EventStatus
    attempts: int
    received_at: datetime
    payment_id: str | None = None
    ref: str | None = None
    last_error: str | None = None

    def stored(self) -> StoredEvent:
        return StoredEvent(
            id=self.id, type=self.type, status=self.status, payload=self.payload, attempts=self.attempts
        )


@dataclass(frozen=True, slots=True)
class SweepRow:
    watermark: int
    lease_owner: str | None
    lease_until: datetime | None
    updated_at: datetime


@dataclass
class Tables:
    """Rows are frozen and replaced, never changed in place, so a shallow copy is a snapshot."""

    payments: dict[str, PaymentRecord] = field(default_factory=dict)
    refunds: dict[str, RefundRecord] = field(default_factory=dict)
    refund_errors: dict[str, str] = field(default_factory=dict)
    diffs: list[OutboxMessage] = field(default_factory=list)  # order_state_diffs, the outbox's rows
    events: dict[str, EventRow] = field(default_factory=dict)
    identities: set[tuple[str, str, str]] = field(default_factory=set)
    sweeps: dict[str, SweepRow] = field(default_factory=dict)
    operator_actions: dict[str, OperatorAction] = field(default_factory=dict)
    referrals: ReferralTables = field(default_factory=ReferralTables)

    def copy(self) -> Tables:
        return Tables(
            payments=dict(self.payments),
            refunds=dict(self.refunds),
            refund_errors=dict(self.refund_errors),
            diffs=list(self.diffs),
            events=dict(self.events),
            identities=set(self.identities),
            sweeps=dict(self.sweeps),
            operator_actions=dict(self.operator_actions),
            referrals=self.referrals.copy(),
        )

    def put_payment(self, row: PaymentRecord) -> None:
        """Insert or replace a payment row, refused as the database's unique keys refuse it."""
        for other in self.payments.values():
            if other.id == row.id:
                continue
            clash = (
                (other.order_id == row.order_id and other.attempt == row.attempt)
                or (row.idempotency_key is not None and other.idempotency_key == row.idempotency_key)
                or (other.order_id == row.order_id and row.status in _LIVE and other.status in _LIVE)
                or any(
                    getattr(row, c) is not None and getattr(other, c) == getattr(row, c) for c in _STRIPE_IDS
                )
            )
            if clash:
                raise ConcurrentWrite(f"payment {row.id} clashes with {other.id} on a unique key")
        self.payments[row.id] = row

    def payment(self, payment_id: str) -> PaymentRecord:
        return self.payments[payment_id]

    def diffs_of(self, order_id: str) -> list[OutboxMessage]:
        return sorted((d for d in self.diffs if d.order_id == order_id), key=lambda d: d.seq)

    def put_diff(self, row: OutboxMessage) -> None:
        self.diffs = [row if d.id == row.id else d for d in self.diffs]

    def refunds_of(self, payment_id: str) -> list[RefundRecord]:
        return sorted(
            (r for r in self.refunds.values() if r.payment_id == payment_id),
            key=lambda r: (r.created_at, r.id),
        )


# -- repositories --------------------------------------------------------------------------------------


class FakePaymentRepository:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def get(self, payment_id: str, *, for_update: bool = False) -> PaymentRecord | None:
        return self._t.payments.get(payment_id)

    async def latest_for_order(self, order_id: str, *, for_update: bool = False) -> PaymentRecord | None:
        attempts = [p for p in self._t.payments.values() if p.order_id == order_id]
        return max(attempts, key=lambda p: p.attempt, default=None)

    async def list_for_order(self, order_id: str) -> list[PaymentRecord]:
        attempts = sorted(
            (p for p in self._t.payments.values() if p.order_id == order_id), key=lambda p: p.attempt
        )
        return attempts[:_MAX_LISTED_ATTEMPTS]

    async def set_diff_seq(self, payment_id: str, diff_seq: int) -> None:
        self._t.put_payment(replace(self._t.payment(payment_id), diff_seq=diff_seq))

    async def count_with_status(self, status: PaymentStatus) -> int:
        return sum(1 for p in self._t.payments.values() if p.status == status.value)

    async def get_by_idempotency_key(self, key: str) -> PaymentRecord | None:
        return next((p for p in self._t.payments.values() if p.idempotency_key == key), None)

    async def get_by_checkout_session(self, session_id: str) -> PaymentRecord | None:
        return next(
            (p for p in self._t.payments.values() if p.stripe_checkout_session_id == session_id), None
        )

    async def add(self, record: PaymentRecord) -> None:
        if record.id in self._t.payments:
            raise ConcurrentWrite(f"payment {record.id} exists")
        self._t.put_payment(record)

    async def add_first(self, record: PaymentRecord) -> bool:
        if await self.latest_for_order(record.order_id) is not None:
            return False
        try:
            await self.add(record)
        except ConcurrentWrite:
            return False
        return True

    async def mark_superseded(self, payment_id: str, now: datetime) -> None:
        self._t.put_payment(replace(self._t.payment(payment_id), superseded=True, updated_at=now))

    async def save_checkout_window(
        self, record: PaymentRecord, *, expires_at: datetime, generation: int, now: datetime
    ) -> bool:
        current = self._t.payment(record.id)
        if current.stripe_key_generation != record.stripe_key_generation or (
            (current.stripe_expires_at is None) != (record.stripe_expires_at is None)
        ):
            return False
        self._t.put_payment(
            replace(current, stripe_expires_at=expires_at, stripe_key_generation=generation, updated_at=now)
        )
        return True

    async def save_stripe_link(
        self, payment_id: str, now: datetime, links: Mapping[str, str | None]
    ) -> PaymentRecord | None:
        values: dict[str, Any] = {k: v for k, v in links.items() if v}
        saved = replace(self._t.payment(payment_id), updated_at=now, last_error=None, **values)
        self._t.put_payment(saved)
        return saved

    async def save_error(self, payment_id: str, now: datetime, error: str) -> None:
        self._t.put_payment(replace(self._t.payment(payment_id), updated_at=now, last_error=error[:500]))


class FakeRefundRepository:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def get(self, refund_id: str) -> RefundRecord | None:
        return self._t.refunds.get(refund_id)

    async def by_idempotency_key(self, payment_id: str, key: str) -> RefundRecord | None:
        return next(
            (r for r in self._t.refunds.values() if r.payment_id == payment_id and r.idempotency_key == key),
            None,
        )

    async def reserved_amount(self, payment_id: str) -> int:
        return sum(r.amount for r in self._t.refunds_of(payment_id) if r.status != RefundStatus.FAILED.value)

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
        if idempotency_key is not None and await self.by_idempotency_key(payment_id, idempotency_key):
            raise ConcurrentWrite(f"payment {payment_id} has a refund under that idempotency key")
        refund = RefundRecord(
            id=new_id("rf"),
            payment_id=payment_id,
            amount=amount,
            currency=currency,
            status=REQUESTED,
            reason=reason,
            source="api",
            stripe_refund_id=None,
            idempotency_key=idempotency_key,
            created_at=now,
        )
        self._t.refunds[refund.id] = refund
        return refund

    async def requested_before(self, cutoff: datetime) -> list[RefundRecord]:
        stuck = [r for r in self._t.refunds.values() if r.status == REQUESTED and r.created_at < cutoff]
        return sorted(stuck, key=lambda r: (r.created_at, r.id))[:_REQUESTED_BATCH]

    async def mark_failed(self, refund_id: str, error: str, now: datetime) -> None:
        self._t.refunds[refund_id] = replace(self._t.refunds[refund_id], status=RefundStatus.FAILED.value)
        self._t.refund_errors[refund_id] = error[:500]


class FakeDiffRepository:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def history(self, order_id: str) -> list[dict[str, Any]]:
        return [
            {
                "seq": row.seq,
                "from_state": row.from_state,
                "to_state": row.to_state,
                "amount_paid": row.amount_paid,
                "amount_refunded": row.amount_refunded,
                "currency": row.currency,
                "cause_event_id": row.cause_event_id,
                "cause_event_type": row.cause_event_type,
                "at": row.at,
            }
            for row in self._t.diffs_of(order_id)
        ]

    async def last_for_order(self, order_id: str) -> tuple[int, str] | None:
        rows = self._t.diffs_of(order_id)
        return (rows[-1].seq, rows[-1].to_state) if rows else None


class FakeOutboxRepository:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def _undelivered(self) -> list[OutboxMessage]:
        return [d for d in self._t.diffs if d.delivered_at is None]

    async def claim_due(
        self, now: datetime, lease_until: datetime, limit: int, *, skip_orders: Collection[str] = ()
    ) -> list[OutboxMessage]:
        heads: dict[str, OutboxMessage] = {}
        for d in self._undelivered():  # each order's first undelivered diff, whether due or not
            if d.order_id not in heads or d.seq < heads[d.order_id].seq:
                heads[d.order_id] = d
        due = sorted(
            (d for d in heads.values() if d.next_attempt_at <= now and d.order_id not in skip_orders),
            key=lambda d: (d.next_attempt_at, d.at, d.order_id, d.seq),
        )[:limit]
        for d in due:
            self._t.put_diff(replace(d, next_attempt_at=lease_until))
        return due

    async def mark_delivered(self, message_id: str, now: datetime) -> bool:
        found = next((d for d in self._undelivered() if d.id == message_id), None)
        if found is None:
            return False
        self._t.put_diff(replace(found, delivered_at=now, last_error=None))
        return True

    async def mark_failed(self, message_id: str, error: str, next_attempt_at: datetime) -> None:
        for d in self._undelivered():
            if d.id == message_id:
                self._t.put_diff(
                    replace(
                        d, attempts=d.attempts + 1, last_error=error[:500], next_attempt_at=next_attempt_at
                    )
                )

    async def pending(self, *, limit: int | None = None) -> list[OutboxMessage]:
        waiting = sorted(self._undelivered(), key=lambda d: (d.at, d.order_id, d.seq))
        return waiting if limit is None else waiting[:limit]

    async def count_pending(self) -> int:
        return len(self._undelivered())

    async def make_due(self, now: datetime, message_id: str | None = None) -> int:
        chosen = [d for d in self._undelivered() if message_id is None or d.id == message_id]
        for d in chosen:
            self._t.put_diff(replace(d, next_attempt_at=now))
        return len(chosen)

    async def last_error(self) -> str | None:
        failed = [d for d in self._undelivered() if d.last_error is not None]
        return max(failed, key=lambda d: d.next_attempt_at).last_error if failed else None


class FakeSweepLeases:
    def __init__(self, tables: Tables) -> None:
        self._t = tables

    async def take(self, name: str, owner: str, now: datetime, until: datetime) -> int | None:
        row = self._t.sweeps.get(name)
        if row is None or not (row.lease_until is None or row.lease_until < now or row.lease_owner == owner):
            return None
        self._t.sweeps[name] = replace(row, lease_owner=owner, lease_until=until, updated_at=now)
        return row.watermark

    async def exists(self, name: str) -> bool:
        return name in self._t.sweeps

    async def create(self, name: str, watermark: int, owner: str, until: datetime, now: datetime) -> None:
        if name in self._t.sweeps:
            raise ConcurrentWrite(f"sweep {name} exists")
        self._t.sweeps[name] = SweepRow(watermark, owner, until, now)

    async def advance(self, name: str, owner: str, watermark: int, until: datetime, now: datetime) -> bool:
        row = self._t.sweeps.get(name)
        if row is None or row.lease_owner != owner:
            return False
        self._t.sweeps[name] = replace(row, watermark=watermark, lease_until=until, updated_at=now)
        return True

    async def release(self, name: str, owner: str, watermark: int, now: datetime) -> None:
        row = self._t.sweeps.get(name)
        if row is not None and row.lease_owner == owner:
            self._t.sweeps[name] = SweepRow(watermark, None, None, now)


# -- the unit of work and the store --------------------------------------------------------------------


class FakeUnitOfWork:
    def __init__(self, tables: Tables) -> None:
        self._t = tables
        self.payments = FakePaymentRepository(tables)
        self.refunds = FakeRefundRepository(tables)
        self.diffs = FakeDiffRepository(tables)
        self.outbox = FakeOutboxRepository(tables)
        self.events = FakeEventRepository(tables)
        self.operator_reads = FakeOperatorReads(tables)
        self.operator_log = FakeOperatorLog(tables)
        self.sweeps = FakeSweepLeases(tables)
        self.referrals = FakeReferralRepositories(tables.referrals, tables.identities)

    async def record_event(
        self,
        event: IncomingEvent,
        now: datetime,
        *,
        payment_id: str | None,
        lookup: EventFacts | None = None,
    ) -> bool:
        if event.id in self._t.events:
            return False
        self._t.events[event.id] = EventRow(
            id=event.id,
            type=event.type,
            created=event.created,
            payload=event.payload,
            status=EventStatus.PROCESSED,
            attempts=1,
            received_at=now,
            payment_id=payment_id,
        )
        return True

    async def event_status_for_update(self, event_id: str) -> EventStatus | None:
        row = self._t.events.get(event_id)
        return row.status if row is not None else None

    async def mark_event(
        self,
        event_id: str,
        status: EventStatus,
        now: datetime,
        *,
        payment_id: str | None = None,
        ref: str | None = None,
        error: str | None = None,
        new_attempt: bool = True,
    ) -> None:
        row = self._t.events[event_id]
        self._t.events[event_id] = replace(
            row,
            status=status,
            payment_id=payment_id,
            ref=ref,
            last_error=error[:1000] if error else None,
            attempts=row.attempts + int(new_attempt),
        )

    async def deferred_for(self, refs: Sequence[str]) -> list[StoredEvent]:
        waiting = [e for e in self._t.events.values() if e.status is EventStatus.DEFERRED and e.ref in refs]
        return [e.stored() for e in sorted(waiting, key=lambda e: (e.created, e.id))]

    async def find_payment(
        self,
        *,
        payment_id: str | None,
        session_id: str | None,
        payment_intent_id: str | None,
        charge_id: str | None,
    ) -> PaymentRecord | None:
        for p in self._t.payments.values():
            if (
                (payment_id is not None and p.id == payment_id)
                or (session_id is not None and p.stripe_checkout_session_id == session_id)
                or (payment_intent_id is not None and p.stripe_payment_intent_id == payment_intent_id)
                or (charge_id is not None and p.stripe_charge_id == charge_id)
            ):
                return p
        return None

    async def get_payment_for_update(self, payment_id: str) -> PaymentRecord | None:
        return self._t.payments.get(payment_id)

    async def save_state(
        self,
        record: PaymentRecord,
        *,
        facts: PaymentFacts,
        status: PaymentStatus,
        amount_refunded: int,
        now: datetime,
        links: dict[str, str],
        diff_seq: int,
    ) -> None:
        current = self._t.payment(record.id)
        self._t.put_payment(
            replace(
                current,
                facts=facts.to_json(),
                status=status.value,
                amount_refunded=amount_refunded,
                version=record.version + 1,
                diff_seq=diff_seq,
                updated_at=now,
                # A Stripe id is learned once and never replaced.
                stripe_checkout_session_id=current.stripe_checkout_session_id
                or links.get("stripe_checkout_session_id"),
                stripe_payment_intent_id=current.stripe_payment_intent_id
                or links.get("stripe_payment_intent_id"),
                stripe_charge_id=current.stripe_charge_id or links.get("stripe_charge_id"),
            )
        )

    async def record_refund_seen(
        self,
        *,
        payment_id: str,
        stripe_refund_id: str,
        our_refund_id: str | None,
        amount: int,
        currency: str,
        status: str,
        reason: str | None,
        now: datetime,
    ) -> None:
        found = next(
            (
                r
                for r in self._t.refunds.values()
                if r.stripe_refund_id == stripe_refund_id or (our_refund_id and r.id == our_refund_id)
            ),
            None,
        )
        if found is None:
            refund = RefundRecord(
                id=new_id("rf"),
                payment_id=payment_id,
                amount=amount,
                currency=currency,
                status=status,
                reason=reason,
                source="dashboard",
                stripe_refund_id=stripe_refund_id,
                idempotency_key=None,
                created_at=now,
            )
            self._t.refunds[refund.id] = refund
            return
        forward = STATUS_RANK[status] > STATUS_RANK.get(found.status, 0)  # a status never moves back
        self._t.refunds[found.id] = replace(
            found, stripe_refund_id=stripe_refund_id, status=status if forward else found.status
        )

    async def append_diff(self, diff: StateDiff, seq: int, now: datetime) -> None:
        if any(row.seq == seq for row in self._t.diffs_of(diff.order_id)):
            raise ConcurrentWrite(f"order {diff.order_id} has a diff {seq}")
        self._t.diffs.append(
            OutboxMessage(
                id=new_id("msg"),
                order_id=diff.order_id,
                seq=seq,
                payment_id=diff.payment_id,
                from_state=diff.from_state.value,
                to_state=diff.to_state.value,
                amount_paid=diff.amount_paid,
                amount_refunded=diff.amount_refunded,
                currency=diff.currency,
                cause_event_id=diff.cause.event_id,
                cause_event_type=diff.cause.event_type,
                at=now,
                next_attempt_at=now,
            )
        )

    async def record_identities(self, user_id: str, hashes: Sequence[tuple[str, str]], now: datetime) -> None:
        self._t.identities.update((user_id, kind, digest) for kind, digest in hashes)


class FakeStore:
    """Units of work over one set of tables; ``tables`` is there for a test to arrange and inspect."""

    def __init__(self) -> None:
        self.tables = Tables()
        self.commits = 0
        self.rollbacks = 0
        self.needs_locks_next = 0  # optimistic units of work left to end in NeedsLocks (a lost race)
        self.optimistic_units = 0
        self.autocommit_units = 0
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None

    def __call__(self) -> AbstractAsyncContextManager[UnitOfWork]:
        return self.transaction()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[UnitOfWork]:
        async with self._alone():
            snapshot = self.tables.copy()
            try:
                yield FakeUnitOfWork(self.tables)
            except BaseException:
                self.tables = snapshot
                self.rollbacks += 1
                raise
            self.commits += 1

    def autocommit(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """As ``transaction()``: the same rules hold for one statement at a time."""
        self.autocommit_units += 1
        return self.transaction()

    @asynccontextmanager
    async def optimistic(self) -> AsyncIterator[UnitOfWork]:
        """As ``transaction()``; while ``needs_locks_next`` lasts, one ends in ``NeedsLocks`` after its
        work, which is then thrown away, as PostgreSQL's statement would apply nothing."""
        async with self._alone():
            self.optimistic_units += 1
            snapshot = self.tables.copy()
            try:
                yield FakeUnitOfWork(self.tables)
                if self.needs_locks_next:
                    self.needs_locks_next -= 1
                    raise NeedsLocks("a race the test arranged")
            except BaseException:
                self.tables = snapshot
                self.rollbacks += 1
                raise
            self.commits += 1

    @asynccontextmanager
    async def _alone(self) -> AsyncIterator[None]:
        # A unit of work opened inside another by the same task would wait for itself for ever (on
        # SQLite too, as a second connection): say so instead of hanging the test.
        if self._owner is not None and self._owner is asyncio.current_task():
            raise RuntimeError("a unit of work opened inside another one")
        async with self._lock:
            self._owner = asyncio.current_task()
            try:
                yield
            finally:
                self._owner = None

    # -- PaymentStore: the ledger outside a unit of work ----------------------------------------------
    async def event_status(self, event_id: str) -> EventStatus | None:
        row = self.tables.events.get(event_id)
        return row.status if row is not None else None

    async def get_event(self, event_id: str) -> StoredEvent | None:
        row = self.tables.events.get(event_id)
        return row.stored() if row is not None else None

    async def record_failure(self, event: IncomingEvent, now: datetime, error: str) -> None:
        async with self._alone():
            row = self.tables.events.get(event.id)
            if row is None:
                self.tables.events[event.id] = EventRow(
                    id=event.id,
                    type=event.type,
                    created=event.created,
                    payload=event.payload,
                    status=EventStatus.FAILED,
                    attempts=1,
                    received_at=now,
                    last_error=error[:1000],
                )
            elif row.status not in SETTLED:
                self.tables.events[event.id] = replace(
                    row, status=EventStatus.FAILED, last_error=error[:1000], attempts=row.attempts + 1
                )

    async def linked_deferred(self, since: datetime) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for e in self.tables.events.values():
            if e.status is not EventStatus.DEFERRED or e.received_at < since or e.ref is None:
                continue
            for p in self.tables.payments.values():
                if e.ref in {getattr(p, c) for c in _STRIPE_IDS} and (e.ref, p.id) not in found:
                    found.append((e.ref, p.id))
        return found


async def apply_facts(
    uow: UnitOfWorkFactory, payment_id: str, found: EventFacts, event_id: str, now: datetime
) -> None:
    """What a webhook would do with ``found``: the payment changes through the orchestrator, in one unit."""
    async with uow() as tx:
        record = await tx.get_payment_for_update(payment_id)
        assert record is not None
        await PaymentOrchestrator().apply(tx, record, found, Cause(event_id, "test.event"), now)


def chain(store: FakeStore, order_id: str) -> list[tuple[int, str, str]]:
    """The order's diffs as Orders hears them: (seq, from, to)."""
    return [(d.seq, d.from_state, d.to_state) for d in store.tables.diffs_of(order_id)]


# -- Stripe --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GatewayCall:
    method: str
    target: str  # what the call was about: an object id, or the request's payment id
    idempotency_key: str | None


@dataclass(frozen=True, slots=True)
class _Failure:
    error: GatewayError
    after_effect: bool  # Stripe acted, then the answer was lost (a timeout)


class FakeStripeGateway:
    """Stripe's objects in dicts, with the rules our services meet (idempotency, what may be ended)."""

    def __init__(self, *, refund_status: str = "succeeded") -> None:
        self.calls: list[GatewayCall] = []
        # Each Checkout Session request as sent, with its key, refused ones too: what a test of the
        # parameters (the expiry window) reads.
        self.checkout_requests: list[tuple[CheckoutRequest, str]] = []
        self.sessions: dict[str, SessionState] = {}
        self.intents: dict[str, IntentState] = {}
        self.refunds: list[Refund] = []  # oldest first
        self.charge_refunds: dict[str, list[dict[str, Any]]] = {}
        self.refund_status = refund_status
        self._by_key: dict[str, str] = {}
        self._intent_amounts: dict[str, int] = {}
        self._failures: dict[str, list[_Failure]] = {}
        self._ids = itertools.count(1)

    # -- what a test arranges --------------------------------------------------------------------------
    def fail_next(
        self,
        method: str,
        kind: GatewayErrorKind,
        *,
        code: str | None = None,
        param: str | None = None,
        after_effect: bool = False,
    ) -> None:
        """The next call of ``method`` raises ``GatewayError(kind)``; with ``after_effect``, only after
        Stripe has done what was asked (the answer was lost on the way back)."""
        error = GatewayError(kind, f"fake Stripe: {kind.value}", code=code, param=param)
        self.fail_next_with(method, error, after_effect=after_effect)

    def fail_next_with(self, method: str, error: GatewayError, *, after_effect: bool = False) -> None:
        """As ``fail_next``, with the very error a test built (its message, code and param)."""
        self._failures.setdefault(method, []).append(_Failure(error, after_effect))

    def forget_idempotency_keys(self) -> None:
        """Stripe keeps a key for 24 hours: past them, a request under it is a new request."""
        self._by_key.clear()

    def pay_session(self, session_id: str) -> None:
        """The customer completes the Checkout Session."""
        s = self.sessions[session_id]
        self.sessions[session_id] = replace(s, status="complete", payment_status="paid")

    def pay_intent(self, intent_id: str) -> None:
        i = self.intents[intent_id]
        self.intents[intent_id] = replace(
            i, status="succeeded", amount_received=self._intent_amounts[intent_id]
        )

    def calls_to(self, method: str) -> list[GatewayCall]:
        return [c for c in self.calls if c.method == method]

    def keys_of(self, method: str) -> list[str | None]:
        """The idempotency keys the calls of ``method`` were sent under, in order."""
        return [c.idempotency_key for c in self.calls_to(method)]

    # -- CheckoutGateway -------------------------------------------------------------------------------
    async def create_checkout_session(self, req: CheckoutRequest, *, idempotency_key: str) -> CheckoutSession:
        self.checkout_requests.append((req, idempotency_key))
        return await self._call(
            "create_checkout_session",
            req.metadata.get("payment_id", ""),
            idempotency_key,
            lambda: self._open_session(req, idempotency_key),
        )

    async def create_payment_intent(
        self, req: PaymentIntentRequest, *, idempotency_key: str
    ) -> PaymentIntent:
        return await self._call(
            "create_payment_intent",
            req.metadata.get("payment_id", ""),
            idempotency_key,
            lambda: self._open_intent(req, idempotency_key),
        )

    async def expire_checkout_session(self, session_id: str, *, idempotency_key: str) -> SessionState:
        def expire() -> SessionState:
            s = self.sessions[session_id]
            if s.status != "open":
                raise GatewayError(
                    GatewayErrorKind.INVALID, "session not open", code="checkout_session_not_open"
                )
            self.sessions[session_id] = replace(s, status="expired")
            return self.sessions[session_id]

        return await self._call("expire_checkout_session", session_id, idempotency_key, expire)

    async def retrieve_checkout_session(self, session_id: str) -> SessionState:
        return await self._call(
            "retrieve_checkout_session", session_id, None, lambda: self.sessions[session_id]
        )

    async def cancel_payment_intent(self, intent_id: str, *, idempotency_key: str) -> IntentState:
        def cancel() -> IntentState:
            i = self.intents[intent_id]
            if i.status in ("succeeded", "processing", "canceled"):
                raise GatewayError(
                    GatewayErrorKind.INVALID, "unexpected state", code="payment_intent_unexpected_state"
                )
            self.intents[intent_id] = replace(i, status="canceled")
            return self.intents[intent_id]

        return await self._call("cancel_payment_intent", intent_id, idempotency_key, cancel)

    async def retrieve_payment_intent(self, intent_id: str) -> IntentState:
        return await self._call("retrieve_payment_intent", intent_id, None, lambda: self.intents[intent_id])

    # -- RefundGateway ---------------------------------------------------------------------------------
    async def create_refund(
        self,
        *,
        payment_intent_id: str,
        amount: int,
        reason: str | None,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> Refund:
        def refund() -> Refund:
            made = self._by_key.get(idempotency_key)
            if made is not None:  # Stripe's idempotency: the same key answers the same refund
                return next(r for r in self.refunds if r.id == made)
            created = Refund(
                id=f"re_fake_{next(self._ids)}",
                amount=amount,
                currency=intent.currency if (intent := self.intents.get(payment_intent_id)) else "eur",
                status=self.refund_status,
                payment_intent_id=payment_intent_id,
                charge_id=None,
                created=1_764_000_000 + len(self.refunds),
                metadata=dict(metadata),
            )
            self._by_key[idempotency_key] = created.id
            self.refunds.append(created)
            return created

        return await self._call("create_refund", payment_intent_id, idempotency_key, refund)

    async def list_refunds(self, payment_intent_id: str) -> list[Refund]:
        return await self._call(
            "list_refunds",
            payment_intent_id,
            None,
            lambda: [r for r in reversed(self.refunds) if r.payment_intent_id == payment_intent_id],
        )

    # -- ChargeRefunds (the webhook processor) ---------------------------------------------------------
    async def list_charge_refunds(self, charge_id: str) -> list[dict[str, Any]]:
        return await self._call(
            "list_charge_refunds", charge_id, None, lambda: list(self.charge_refunds.get(charge_id, []))
        )

    # -- the machinery ---------------------------------------------------------------------------------
    async def _call(self, method: str, target: str, key: str | None, act: Callable[[], T]) -> T:
        self.calls.append(GatewayCall(method, target, key))
        pending = self._failures.get(method)
        failure = pending.pop(0) if pending else None
        if failure is not None and not failure.after_effect:
            raise failure.error
        result = act()
        if failure is not None:
            raise failure.error
        return result

    def _open_session(self, req: CheckoutRequest, key: str) -> CheckoutSession:
        session_id = self._by_key.get(key) or f"cs_fake_{next(self._ids)}"
        self._by_key[key] = session_id
        if session_id not in self.sessions:
            self.sessions[session_id] = SessionState(
                id=session_id,
                status="open",
                payment_status="unpaid",
                amount_total=req.amount,
                currency=req.currency,
                payment_intent_id=None,
            )
        return CheckoutSession(
            id=session_id, url=f"https://checkout.stripe.test/c/{session_id}", payment_intent_id=None
        )

    def _open_intent(self, req: PaymentIntentRequest, key: str) -> PaymentIntent:
        intent_id = self._by_key.get(key) or f"pi_fake_{next(self._ids)}"
        self._by_key[key] = intent_id
        if intent_id not in self.intents:
            self._intent_amounts[intent_id] = req.amount
            self.intents[intent_id] = IntentState(
                id=intent_id,
                status="requires_payment_method",
                amount_received=0,
                currency=req.currency,
                charge_id=None,
            )
        return PaymentIntent(
            id=intent_id, client_secret=f"{intent_id}_secret_fake", status=self.intents[intent_id].status
        )


# Checked by mypy where this module is type-checked (``mypy --strict tests/support/fakes.py``): the fakes
# keep up with the Protocols they stand in for.
def _conforms(store: FakeStore, gateway: FakeStripeGateway) -> None:
    factory: UnitOfWorkFactory = store
    ledger: PaymentStore = store
    uow: UnitOfWork = FakeUnitOfWork(store.tables)
    checkout: CheckoutGateway = gateway
    refunds: RefundGateway = gateway
    charges: ChargeRefunds = gateway
    del factory, ledger, uow, checkout, refunds, charges
