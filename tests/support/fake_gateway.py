"""A StripeGateway stand-in that records every call and keeps Stripe's rules for sessions and intents.

For service-level tests; the real SDK against the emulator is covered by tests/e2e and tests/emulator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db import diffs_repo, payments_repo
from payments.adapters.db.unit_of_work import SqlAlchemyUnitOfWork
from payments.domain.payment_state import PaymentFacts
from payments.domain.state_diff import Cause
from payments.domain.stripe_facts import EventFacts
from payments.stripe_port import (
    CheckoutSession,
    GatewayError,
    GatewayErrorKind,
    IntentState,
    PaymentIntent,
    SessionState,
)
from payments.webhooks.orchestrator import PaymentOrchestrator


@dataclass
class FakeGateway:
    calls: list[tuple[str, Any, str | None]] = field(default_factory=list)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Errors to raise, in order, from the next create calls.
    create_errors: list[GatewayError] = field(default_factory=list)
    by_key: dict[str, str] = field(default_factory=dict)

    async def create_checkout_session(self, req: Any, *, idempotency_key: str) -> CheckoutSession:
        self.calls.append(("session", req, idempotency_key))
        if self.create_errors:
            raise self.create_errors.pop(0)
        session_id = self.by_key.get(idempotency_key) or f"cs_{len(self.sessions) + 1}"
        self.by_key[idempotency_key] = session_id
        self.sessions.setdefault(
            session_id,
            {"status": "open", "payment_status": "unpaid", "amount": req.amount, "currency": req.currency},
        )
        return CheckoutSession(
            id=session_id, url=f"http://stripe.test/pay/{session_id}", payment_intent_id=None
        )

    async def create_payment_intent(self, req: Any, *, idempotency_key: str) -> PaymentIntent:
        self.calls.append(("intent", req, idempotency_key))
        if self.create_errors:
            raise self.create_errors.pop(0)
        intent_id = self.by_key.get(idempotency_key) or f"pi_{len(self.intents) + 1}"
        self.by_key[idempotency_key] = intent_id
        self.intents.setdefault(
            intent_id, {"status": "requires_payment_method", "amount": req.amount, "currency": req.currency}
        )
        return PaymentIntent(
            id=intent_id, client_secret=f"{intent_id}_secret_x", status="requires_payment_method"
        )

    # -- what the customer (or the dashboard) does at Stripe -------------------------------------------
    def pay_session(self, session_id: str) -> None:
        self.sessions[session_id].update(status="complete", payment_status="paid")

    def pay_intent(self, intent_id: str) -> None:
        self.intents[intent_id]["status"] = "succeeded"

    # -- cancel ----------------------------------------------------------------------------------------
    async def expire_checkout_session(self, session_id: str, *, idempotency_key: str) -> SessionState:
        self.calls.append(("expire", session_id, idempotency_key))
        session = self.sessions[session_id]
        if session["status"] != "open":
            raise GatewayError(GatewayErrorKind.INVALID, "not open", code="checkout_session_not_open")
        session["status"] = "expired"
        return self._session_state(session_id)

    async def retrieve_checkout_session(self, session_id: str) -> SessionState:
        self.calls.append(("retrieve_session", session_id, None))
        return self._session_state(session_id)

    async def cancel_payment_intent(self, intent_id: str, *, idempotency_key: str) -> IntentState:
        self.calls.append(("cancel_intent", intent_id, idempotency_key))
        intent = self.intents[intent_id]
        if intent["status"] in ("succeeded", "processing", "canceled"):
            raise GatewayError(
                GatewayErrorKind.INVALID, "unexpected state", code="payment_intent_unexpected_state"
            )
        intent["status"] = "canceled"
        return self._intent_state(intent_id)

    async def retrieve_payment_intent(self, intent_id: str) -> IntentState:
        self.calls.append(("retrieve_intent", intent_id, None))
        return self._intent_state(intent_id)

    def _session_state(self, session_id: str) -> SessionState:
        s = self.sessions[session_id]
        return SessionState(
            id=session_id,
            status=s["status"],
            payment_status=s["payment_status"],
            amount_total=s["amount"],
            currency=s["currency"],
            payment_intent_id=None,
        )

    def _intent_state(self, intent_id: str) -> IntentState:
        i = self.intents[intent_id]
        received = i["amount"] if i["status"] == "succeeded" else 0
        return IntentState(
            id=intent_id, status=i["status"], amount_received=received, currency=i["currency"], charge_id=None
        )

    def keys(self, kind: str) -> list[str | None]:
        return [key for name, _, key in self.calls if name == kind]


async def apply_facts(engine: AsyncEngine, payment_id: str, facts: PaymentFacts, event_id: str) -> None:
    """What a webhook would do: the facts, through the orchestrator, in one transaction."""
    async with engine.begin() as conn:
        record = await payments_repo.get(conn, payment_id, for_update=True)
        assert record is not None
        await PaymentOrchestrator().apply(
            SqlAlchemyUnitOfWork(conn),
            record,
            EventFacts(payment_id=payment_id, facts=facts),
            Cause(event_id, "test.event"),
            record.updated_at,
        )


async def chain(engine: AsyncEngine, order_id: str) -> list[tuple[int, str, str]]:
    async with engine.connect() as conn:
        rows = await diffs_repo.history(conn, order_id)
    return [(r["seq"], r["from_state"], r["to_state"]) for r in rows]
