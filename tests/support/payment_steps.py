"""What integration tests do to a payment besides calling the service: a webhook's facts, and reading
the order's history as Orders hears it. Both go through the unit of work, as the services do."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db.unit_of_work import SqlPaymentStore
from payments.domain.payment_state import PaymentFacts
from payments.domain.state_diff import Cause
from payments.domain.stripe_facts import EventFacts
from payments.webhooks.orchestrator import PaymentOrchestrator


async def apply_facts(engine: AsyncEngine, payment_id: str, facts: PaymentFacts, event_id: str) -> None:
    """What a webhook would do: the facts, through the orchestrator, in one transaction."""
    async with SqlPaymentStore(engine)() as uow:
        record = await uow.payments.get(payment_id, for_update=True)
        assert record is not None
        await PaymentOrchestrator().apply(
            uow,
            record,
            EventFacts(payment_id=payment_id, facts=facts),
            Cause(event_id, "test.event"),
            record.updated_at,
        )


async def chain(engine: AsyncEngine, order_id: str) -> list[tuple[int, str, str]]:
    """The order's diffs: (seq, from, to)."""
    async with SqlPaymentStore(engine)() as uow:
        rows = await uow.diffs.history(order_id)
    return [(r["seq"], r["from_state"], r["to_state"]) for r in rows]
