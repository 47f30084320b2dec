"""A payment's whole file for a person: its order's attempts, refunds, disputes, history and events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from payments.domain.payment_state import DisputePhase, PaymentFacts
from payments.records import PaymentRecord
from payments.unit_of_work import UnitOfWorkFactory

MAX_QUERY = 255
MAX_EVENTS = 200


@dataclass(frozen=True, slots=True)
class Attempt:
    payment: PaymentRecord
    facts: PaymentFacts
    refunds: tuple[dict[str, Any], ...]
    disputes: tuple[tuple[str, DisputePhase], ...]
    events: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class PaymentFile:
    order_id: str
    matched_payment_id: str
    attempts: tuple[Attempt, ...]  # oldest first
    history: tuple[dict[str, Any], ...]


class PaymentLookup:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def find_payment(self, query: str) -> PaymentFile | None:
        """By our payment id, the order id, or a Stripe id (session, PaymentIntent, charge, refund, event)."""
        needle = query.strip()
        if not needle or len(needle) > MAX_QUERY:
            return None
        async with self._uow() as uow:
            reads = uow.operator_reads
            matched = await reads.payment_matching(needle)
            if matched is None:
                return None
            attempts = []
            for record in await reads.attempts_of(matched.order_id):
                facts = PaymentFacts.from_json(record.facts)
                attempts.append(
                    Attempt(
                        payment=record,
                        facts=facts,
                        refunds=tuple(await reads.refunds_of(record.id)),
                        disputes=tuple(sorted(facts.disputes.items())),
                        events=tuple(await reads.events_of(record.id, MAX_EVENTS)),
                    )
                )
            history = tuple(_at_utc(h) for h in await uow.diffs.history(matched.order_id))
        return PaymentFile(matched.order_id, matched.id, tuple(attempts), history)


def _at_utc(entry: dict[str, Any]) -> dict[str, Any]:
    # The history's rows come as stored; SQLite hands times back naive, and every stored time is UTC.
    at = entry.get("at")
    if isinstance(at, datetime):
        entry["at"] = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return entry


__all__ = ["Attempt", "PaymentFile", "PaymentLookup"]
