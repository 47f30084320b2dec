"""The unit of work: one object owns a database transaction; repositories hang off it.

Services receive a ``UnitOfWorkFactory`` and write ``async with self._uow() as uow:``. The block commits
when it ends normally and rolls back when it raises (``engine.begin()``'s rule), so a service never
commits by hand and never imports SQLAlchemy. The adapters are in ``adapters/db/unit_of_work.py``
(PostgreSQL through asyncpg for the webhook's statements, SQLAlchemy for the rest and for SQLite); the
in-memory fake for service tests is ``tests/support/fakes.py``.

The webhook's hot-path operations (the ledger, the payment lock, the held writes) are methods of the
unit of work itself, so the PostgreSQL implementation can fold them into few round trips; everything
else is a repository attribute. An implementation may hold writes back until the next read or commit, so
a caller sees a write's effect through this object's own reads, never by reading around it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from payments.domain.payment_state import PaymentFacts, PaymentStatus
from payments.domain.state_diff import StateDiff
from payments.domain.stripe_facts import EventFacts
from payments.records import (
    EventNeedingLook,
    EventStatus,
    IncomingEvent,
    OperatorAction,
    OutboxMessage,
    PaymentRecord,
    QueueRows,
    RefundRecord,
    StoredEvent,
)

if TYPE_CHECKING:
    # Only for the type: importing the referral package here at run time would import its services,
    # which import this module.
    from payments.referrals.ports import ReferralRepositories


class ConcurrentWrite(Exception):
    """A write lost to a concurrent transaction over the same unique key (an order's live attempt, an
    idempotency key). The unit of work it was raised in is rolled back; a caller retries in a new one,
    where it sees what the winner wrote. Never shown to a client, so not a ``ServiceError``."""


class NeedsLocks(Exception):
    """An optimistic unit of work (``PaymentStore.optimistic``) could not apply its writes as one
    statement: what it read changed meanwhile, a concurrent copy of the event got in first, or the work
    needs a read under a lock. Nothing was written; the caller runs the same work in ``transaction()``."""


class PaymentRepository(Protocol):
    async def get(self, payment_id: str, *, for_update: bool = False) -> PaymentRecord | None: ...

    async def get_by_idempotency_key(self, key: str) -> PaymentRecord | None: ...

    async def get_by_checkout_session(self, session_id: str) -> PaymentRecord | None: ...

    async def add(self, record: PaymentRecord) -> None:
        """Insert a new attempt; ``ConcurrentWrite`` when the order already has a live attempt, that
        attempt number, or the idempotency key is taken."""
        ...

    async def add_first(self, record: PaymentRecord) -> bool:
        """Insert the order's first attempt in one statement, unless the order has an attempt or a unique
        key (the idempotency key, the order's one live attempt) is taken: False then, nothing written."""
        ...

    async def mark_superseded(self, payment_id: str, now: datetime) -> None: ...

    async def save_checkout_window(
        self, record: PaymentRecord, *, expires_at: datetime, generation: int, now: datetime
    ) -> bool:
        """Store a fresh window unless a concurrent retry stored another since ``record`` was read."""
        ...

    async def save_stripe_link(
        self, payment_id: str, now: datetime, links: Mapping[str, str | None]
    ) -> PaymentRecord | None:
        """The Stripe object's ids and its URL or client secret (a None leaves the column alone); clears
        ``last_error``. Answers the row as updated (locked until the unit of work ends)."""
        ...

    async def save_error(self, payment_id: str, now: datetime, error: str) -> None: ...

    async def latest_for_order(self, order_id: str, *, for_update: bool = False) -> PaymentRecord | None:
        """The order's newest attempt."""
        ...

    async def list_for_order(self, order_id: str) -> list[PaymentRecord]: ...

    async def set_diff_seq(self, payment_id: str, diff_seq: int) -> None: ...

    async def count_with_status(self, status: PaymentStatus) -> int: ...


class RefundRepository(Protocol):
    async def get(self, refund_id: str) -> RefundRecord | None: ...

    async def by_idempotency_key(self, payment_id: str, key: str) -> RefundRecord | None: ...

    async def reserved_amount(self, payment_id: str) -> int:
        """What the payment's refunds hold, failed ones excepted (requested ones included)."""
        ...

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
        """A refund of ours, written before Stripe is called (status ``requested``); ``ConcurrentWrite``
        when the payment has a refund under that idempotency key."""
        ...

    async def requested_before(self, cutoff: datetime) -> list[RefundRecord]:
        """Refunds still ``requested`` (Stripe never answered) created before ``cutoff``; a batch."""
        ...

    async def mark_failed(self, refund_id: str, error: str, now: datetime) -> None: ...


class DiffRepository(Protocol):
    async def history(self, order_id: str) -> list[dict[str, Any]]: ...

    async def last_for_order(self, order_id: str) -> tuple[int, str] | None:
        """The order's newest diff as (seq, to_state): where its next diff chains from."""
        ...


class OutboxRepository(Protocol):
    async def claim_due(
        self, now: datetime, lease_until: datetime, limit: int, *, skip_orders: Collection[str] = ()
    ) -> list[OutboxMessage]:
        """Take the due heads (each order's first undelivered diff) by pushing their next attempt to
        ``lease_until``; an order's later diffs wait for every earlier one to be delivered.

        Relays claiming side by side each take different rows and none waits on another.
        """
        ...

    async def mark_delivered(self, message_id: str, now: datetime) -> bool:
        """False when it was already delivered (another relay's lease ran out mid-send)."""
        ...

    async def mark_failed(self, message_id: str, error: str, next_attempt_at: datetime) -> None: ...

    async def pending(self, *, limit: int | None = None) -> list[OutboxMessage]:
        """Every diff not yet delivered, oldest first, each order's diffs in seq order."""
        ...

    async def count_pending(self) -> int: ...

    async def make_due(self, now: datetime, message_id: str | None = None) -> int:
        """Make one undelivered message (or all of them) due at ``now``; how many rows changed."""
        ...

    async def last_error(self) -> str | None:
        """The error of the undelivered diff tried most recently, if any failed."""
        ...


class EventRepository(Protocol):
    """The ledger away from the webhook path, which has its own methods on ``UnitOfWork``."""

    async def needing_look(self, statuses: tuple[EventStatus, ...], limit: int) -> list[EventNeedingLook]:
        """Stored events in these statuses, oldest first."""
        ...

    async def prune(self, older_than: datetime) -> int:
        """Drop settled events received before ``older_than``; failed and deferred ones stay for a person."""
        ...

    async def failed_for_retry(
        self, now: datetime, max_attempts: int, limit: int, spacing: timedelta
    ) -> list[str]:
        """Failed events due another automatic try (the k-th waits k * spacing), never a livemode mismatch."""
        ...


class OperatorReads(Protocol):
    """What the operator console reads: the queues a person may have to look at, and a payment's file."""

    async def payments_to_review(self, shown: int) -> QueueRows: ...

    async def events_needing_look(self, shown: int) -> QueueRows:
        """Stored events failed or deferred, and those ignored with a reason (``records.needs_a_look``)."""
        ...

    async def undelivered_diffs(self, shown: int) -> QueueRows: ...

    async def held_commissions(self, shown: int) -> QueueRows: ...

    async def unconfirmed_refunds(self, shown: int) -> QueueRows:
        """Refunds reserved (``requested``) that Stripe has not confirmed."""
        ...

    async def payment_matching(self, needle: str) -> PaymentRecord | None:
        """By our payment id, the order id or a Stripe id (session, PaymentIntent, charge, refund, event);
        an order's newest attempt."""
        ...

    async def attempts_of(self, order_id: str) -> list[PaymentRecord]:
        """Every payment of the order, oldest first."""
        ...

    async def refunds_of(self, payment_id: str) -> list[dict[str, Any]]: ...

    async def events_of(self, payment_id: str, limit: int) -> list[dict[str, Any]]: ...


class OperatorLog(Protocol):
    async def record(self, entry: OperatorAction) -> None: ...

    async def latest(self, action: str) -> OperatorAction | None: ...

    async def get(self, entry_id: str) -> OperatorAction | None: ...


class SweepLeases(Protocol):
    """A sweep's watermark and the lease one replica holds on it for a round (``webhooks/sweep.py``)."""

    async def take(self, name: str, owner: str, now: datetime, until: datetime) -> int | None:
        """Lease the sweep to ``owner`` until ``until`` if it is free, lapsed or already ``owner``'s, and
        answer its watermark; None when another replica holds it, or when it does not exist yet."""
        ...

    async def exists(self, name: str) -> bool: ...

    async def create(self, name: str, watermark: int, owner: str, until: datetime, now: datetime) -> None:
        """A new sweep, leased to ``owner``; ``ConcurrentWrite`` when another replica created it first."""
        ...

    async def advance(self, name: str, owner: str, watermark: int, until: datetime, now: datetime) -> bool:
        """Save progress and extend the lease; False when the lease is no longer ``owner``'s."""
        ...

    async def release(self, name: str, owner: str, watermark: int, now: datetime) -> None:
        """Save progress and free the lease, if ``owner`` still holds it."""
        ...


class UnitOfWork(Protocol):
    # -- the event ledger --------------------------------------------------------------------------
    async def record_event(
        self,
        event: IncomingEvent,
        now: datetime,
        *,
        payment_id: str | None,
        lookup: EventFacts | None = None,
    ) -> bool:
        """Insert the ledger row, already "processed"; False when the id is there (it is then locked).

        With ``lookup``, an implementation may also find and lock the payment it names once the row is
        in (PostgreSQL does both in one statement); ``find_payment`` with the same ids then answers
        from that.
        """
        ...

    async def event_status_for_update(self, event_id: str) -> EventStatus | None: ...

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
        """The event's outcome on its ledger row; ``new_attempt=False`` when it completes the attempt that
        just recorded the row (filing it under the payment it was applied to)."""
        ...

    async def deferred_for(self, refs: Sequence[str]) -> list[StoredEvent]:
        """Deferred events waiting on any of ``refs``, locked, oldest first. Those another transaction
        holds are skipped: it is applying them (housekeeping in another worker, or the payment's link),
        and, were it to roll back, the next sweep would. Waiting for them would only serialise two
        sweepers on the same rows, or deadlock a sweeper holding them with the link holding the
        payment."""
        ...

    # -- the payment -------------------------------------------------------------------------------
    async def find_payment(
        self,
        *,
        payment_id: str | None,
        session_id: str | None,
        payment_intent_id: str | None,
        charge_id: str | None,
    ) -> PaymentRecord | None:
        """The payment an event belongs to, by our id or any Stripe id, locked."""
        ...

    async def get_payment_for_update(self, payment_id: str) -> PaymentRecord | None: ...

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
    ) -> None: ...

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
        """Upsert by our id or Stripe's; a refund's status never moves back."""
        ...

    async def append_diff(self, diff: StateDiff, seq: int, now: datetime) -> None: ...

    # -- referrals ---------------------------------------------------------------------------------
    async def record_identities(self, user_id: str, hashes: Sequence[tuple[str, str]], now: datetime) -> None:
        """(kind, value hash) pairs a paying user is known by; already known ones are left alone."""
        ...

    # -- repositories over this same transaction ----------------------------------------------------
    # Read-only properties so an implementation's own repository classes satisfy them.
    @property
    def payments(self) -> PaymentRepository: ...

    @property
    def refunds(self) -> RefundRepository: ...

    @property
    def diffs(self) -> DiffRepository: ...

    @property
    def outbox(self) -> OutboxRepository: ...

    @property
    def events(self) -> EventRepository: ...

    @property
    def operator_reads(self) -> OperatorReads: ...

    @property
    def operator_log(self) -> OperatorLog: ...

    @property
    def sweeps(self) -> SweepLeases: ...

    @property
    def referrals(self) -> ReferralRepositories: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> AbstractAsyncContextManager[UnitOfWork]: ...

    def autocommit(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A unit of work in which each statement commits on its own (no BEGIN, no COMMIT: two round
        trips fewer), for work that is one write, or reads and then one write whose unique keys settle a
        race with a concurrent request. A store that cannot returns its transaction."""
        ...
