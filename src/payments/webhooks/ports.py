"""What a payment change needs from storage, as Protocols (adapters in ``adapters/db/payment_tx.py``).

A ``PaymentTransaction`` is one database transaction seen as the statements the webhook path, the
refund API and the referral hook run in it. An implementation may hold writes back and send them with
the next read or at commit (the PostgreSQL one folds them into a single statement), so a caller sees a
write's effect through this object's own reads, never by reading around it.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from payments.adapters.db.events_repo import EventStatus, IncomingEvent, StoredEvent
from payments.adapters.db.payments_repo import PaymentRecord
from payments.domain.payment_state import PaymentFacts, PaymentStatus
from payments.domain.state_diff import StateDiff
from payments.domain.stripe_facts import EventFacts


class PaymentTransaction(Protocol):
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
    ) -> None: ...

    async def deferred_for(self, refs: Sequence[str]) -> list[StoredEvent]:
        """Deferred events waiting on any of ``refs``, locked, oldest first."""
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

    async def connection(self) -> AsyncConnection:
        """A SQLAlchemy connection inside this same transaction, for the statements not listed here."""
        ...


class PaymentStore(Protocol):
    """Transactions, and the ledger reads and writes that run outside one."""

    def transaction(self) -> AbstractAsyncContextManager[PaymentTransaction]: ...

    async def event_status(self, event_id: str) -> EventStatus | None: ...

    async def get_event(self, event_id: str) -> StoredEvent | None: ...

    async def record_failure(self, event: IncomingEvent, now: datetime, error: str) -> None: ...

    async def linked_deferred(self, since: datetime) -> list[tuple[str, str]]: ...
