"""From a signed Stripe delivery (or a stored or fetched event) to the payment's state."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from payments.adapters.db.events_repo import EventStatus
from payments.adapters.db.payments_repo import PaymentRecord
from payments.adapters.stripe_gateway.signature import SignatureError, verify_and_parse
from payments.domain.state_diff import Cause
from payments.domain.stripe_facts import EventFacts
from payments.errors import NotFound
from payments.observability.metrics import WEBHOOK_EVENTS
from payments.observability.tracing import tracer
from payments.webhooks.idempotency import Handled, Outcome, WebhookIdempotencyService
from payments.webhooks.orchestrator import PaymentOrchestrator
from payments.webhooks.ports import PaymentStore, PaymentTransaction
from payments.webhooks.stripe_events import MalformedEvent, envelope_problem, translate

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    secrets: Callable[[], Sequence[str]]  # read per request: the dev runner learns its secret at start-up
    tolerance_seconds: int
    livemode: bool


class WebhookProcessor:
    def __init__(
        self,
        store: PaymentStore,
        idempotency: WebhookIdempotencyService,
        orchestrator: PaymentOrchestrator,
        config: WebhookConfig,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._idempotency = idempotency
        self._orchestrator = orchestrator
        self._config = config
        self._clock = clock

    async def receive(self, payload: bytes, signature_header: str | None) -> Handled:
        """Raises SignatureError (nothing written) for a delivery we cannot trust."""
        event = verify_and_parse(
            payload,
            signature_header,
            self._config.secrets(),
            self._config.tolerance_seconds,
            now=int(self._clock().timestamp()),
        )
        problem = envelope_problem(event)
        if problem is not None:
            raise SignatureError("malformed_payload", problem)
        return await self.process(event, payload.decode("utf-8"))

    async def process(self, event: dict[str, Any], payload: str, *, force: bool = False) -> Handled:
        with tracer.start_as_current_span("webhooks.process") as span:
            span.set_attribute("stripe.event_type", str(event.get("type")))
            malformed: str | None = None
            try:
                found = translate(event)
            except MalformedEvent as exc:
                # Retrying cannot fix it: acknowledge, and keep the raw event and the reason for a person
                # (`payments events replay` once the code understands it).
                found, malformed = None, str(exc)

            async def handle(tx: PaymentTransaction, ev: dict[str, Any]) -> Outcome:
                if malformed is not None:
                    return Outcome(EventStatus.IGNORED, error=f"malformed event: {malformed}")
                return await self._handle(tx, ev, found)

            handled = await self._idempotency.handle_event_with_idempotency(
                event, payload, handle, force=force, lookup=found
            )
        outcome = "duplicate" if handled.duplicate else handled.status.value
        WEBHOOK_EVENTS.labels(str(event.get("type")), outcome).inc()
        # Debug only: at webhook rates a line per event cost more CPU than the database work; the counter
        # above and the ledger row say the same.
        log.debug("webhook.handled", event_id=event.get("id"), type=event.get("type"), outcome=outcome)
        return handled

    async def replay(self, event_id: str) -> Handled:
        stored = await self._store.get_event(event_id)
        if stored is None:
            raise NotFound(f"no stored event {event_id}")
        return await self.process(json.loads(stored.payload), stored.payload, force=True)

    async def sweep_deferred(self, window: timedelta = timedelta(minutes=15)) -> int:
        """Apply deferred events whose payment became known (covers a link that raced the deferral)."""
        applied = 0
        linked = await self._store.linked_deferred(self._clock() - window)
        for ref, payment_id in linked:
            async with self._store.transaction() as tx:
                applied += await self._apply_deferred(tx, payment_id, [ref])
        return applied

    # -- the handler, inside the ledger row's transaction -------------------------------------------
    async def _handle(
        self, tx: PaymentTransaction, event: dict[str, Any], found: EventFacts | None
    ) -> Outcome:
        if found is None or bool(event.get("livemode")) != self._config.livemode:
            return Outcome(EventStatus.IGNORED)
        record = await tx.find_payment(
            payment_id=found.payment_id,
            session_id=found.session_id,
            payment_intent_id=found.payment_intent_id,
            charge_id=found.charge_id,
        )
        if record is None:
            # If the transaction linking this Stripe id to its payment runs concurrently, neither sees the
            # other; housekeeping's sweep_deferred applies the event within seconds.
            if found.ref is None:
                return Outcome(EventStatus.IGNORED)
            # Debug: events racing their payment's link are routine (the ledger row says "deferred").
            log.debug("webhook.deferred", event_id=event.get("id"), ref=found.ref)
            return Outcome(EventStatus.DEFERRED, ref=found.ref)
        cause = Cause(event_id=str(event["id"]), event_type=str(event["type"]))
        applied = await self._orchestrator.apply(tx, record, found, cause, self._clock())
        if applied.new_links:
            await self._apply_deferred(tx, record.id, list(applied.new_links))
        return Outcome(EventStatus.PROCESSED, payment_id=record.id)

    async def _apply_deferred(self, tx: PaymentTransaction, payment_id: str, refs: list[str]) -> int:
        """Events that arrived before we could place them (a refund before the completion) apply now."""
        count = 0
        pending = sorted(set(refs))
        while pending:
            waiting = await tx.deferred_for(pending)
            pending = []
            for stored in waiting:
                event = json.loads(stored.payload)
                found = translate(event)
                record: PaymentRecord | None = await tx.get_payment_for_update(payment_id)
                if found is None or record is None:
                    continue
                cause = Cause(event_id=stored.id, event_type=stored.type)
                applied = await self._orchestrator.apply(tx, record, found, cause, self._clock())
                await tx.mark_event(stored.id, EventStatus.PROCESSED, self._clock(), payment_id=payment_id)
                pending.extend(applied.new_links)
                count += 1
        return count
