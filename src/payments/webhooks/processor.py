"""From a signed Stripe delivery (or a stored or fetched event) to the payment's state."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog

from payments.domain.payment_state import PaymentFacts
from payments.domain.state_diff import Cause
from payments.domain.stripe_facts import EventFacts
from payments.errors import Conflict, NotFound, ServiceError, UpstreamError
from payments.observability.metrics import WEBHOOK_EVENTS, WEBHOOK_LIVEMODE_MISMATCH
from payments.observability.tracing import span
from payments.records import EventStatus, PaymentRecord
from payments.stripe_port import GatewayError
from payments.unit_of_work import UnitOfWork
from payments.webhooks.idempotency import Handled, Outcome, WebhookIdempotencyService
from payments.webhooks.orchestrator import PaymentOrchestrator
from payments.webhooks.ports import PaymentStore
from payments.webhooks.signature import SignatureError, verify_and_parse
from payments.webhooks.stripe_events import (
    MalformedEvent,
    envelope_problem,
    translate,
    with_listed_refunds,
)

log = structlog.get_logger(__name__)


# A labels() lookup per event was ~1 % of the webhook's CPU. Only signed events reach it, and Stripe's
# event types are a few hundred; the bound keeps it so.
@functools.lru_cache(maxsize=1024)
def _counted(event_type: str, outcome: str) -> Any:
    return WEBHOOK_EVENTS.labels(event_type, outcome)


class ChargeRefunds(Protocol):
    """The gateway's one read the processor needs: a charge's refunds as Stripe lists them."""

    async def list_charge_refunds(self, charge_id: str) -> list[dict[str, Any]]: ...


class LivemodeMismatch(Conflict):
    """A live event at a test service or the reverse: a configuration error, never silently acked.

    Stored as failed and answered 409, so Stripe keeps retrying (and tells the account owner) until the
    configuration is fixed; `payments events list --status failed` shows it, `replay` applies it then.
    """

    code = "livemode_mismatch"


class RefundsUnexplained(UpstreamError):
    """A charge says more was refunded than the refunds we could list explain; retried, not acked."""

    code = "refunds_unexplained"


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
        refunds: ChargeRefunds | None = None,
    ) -> None:
        self._refunds = refunds
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
        problem = envelope_problem(event, payload)
        if problem is not None:
            raise SignatureError("malformed_payload", problem)
        return await self.process(event, payload.decode("utf-8"))

    async def process(self, event: dict[str, Any], payload: str, *, force: bool = False) -> Handled:
        with span("webhooks.process", **{"stripe.event_type": str(event.get("type"))}):
            malformed: str | None = None
            try:
                found = translate(event)
            except MalformedEvent as exc:
                # Retrying cannot fix it: acknowledge, and keep the raw event and the reason for a person
                # (`payments events replay` once the code understands it).
                found, malformed = None, str(exc)
            listing_failed: str | None = None
            if found is not None and found.charge_amount_refunded:
                found, listing_failed = await self._complete_refunds(found)

            async def handle(tx: UnitOfWork, ev: dict[str, Any]) -> Outcome:
                if bool(ev.get("livemode")) != self._config.livemode:
                    WEBHOOK_LIVEMODE_MISMATCH.inc()
                    ours = "live" if self._config.livemode else "test"
                    theirs = "live" if ev.get("livemode") else "test"
                    raise LivemodeMismatch(f"a {theirs}-mode event at a {ours}-mode service")
                if malformed is not None:
                    return Outcome(EventStatus.IGNORED, error=f"malformed event: {malformed}")
                if listing_failed is not None:
                    raise RefundsUnexplained(listing_failed)
                return await self._handle(tx, ev, found)

            handled = await self._idempotency.handle_event_with_idempotency(
                event, payload, handle, force=force, lookup=found
            )
        outcome = "duplicate" if handled.duplicate else handled.status.value
        _counted(str(event.get("type")), outcome).inc()
        # Debug only: at webhook rates a line per event cost more CPU than the database work; the counter
        # above and the ledger row say the same.
        log.debug("webhook.handled", event_id=event.get("id"), type=event.get("type"), outcome=outcome)
        return handled

    async def replay(self, event_id: str) -> Handled:
        stored = await self._store.get_event(event_id)
        if stored is None:
            raise NotFound(f"no stored event {event_id}")
        try:
            return await self.process(json.loads(stored.payload), stored.payload, force=True)
        except ServiceError:
            # Applying it failed again for a reason we know (livemode, Stripe's refunds): it is stored
            # as failed once more with that reason, which `payments events list` shows.
            return Handled(duplicate=False, status=EventStatus.FAILED)

    async def retry_failed(self, max_attempts: int = 5, limit: int = 50) -> int:
        """Replay failed events that have not failed too often yet (housekeeping, every round).

        Covers what no redelivery will bring: a deferred event that needed Stripe to apply, a delivery
        whose handler failed after Stripe gave up. Past ``max_attempts`` an event waits for a person
        (``payments events list``, then ``replay``).
        """
        async with self._store.transaction() as tx:
            ids = await tx.events.failed_for_retry(
                self._clock(), max_attempts, limit, spacing=timedelta(seconds=30)
            )
        applied = 0
        for event_id in ids:
            try:
                handled = await self.replay(event_id)
            except Exception as exc:  # stored again as failed (attempts + 1) by the idempotency service
                log.info("webhook.retry_failed", event_id=event_id, error=type(exc).__name__)
                continue
            applied += handled.status is EventStatus.PROCESSED
        return applied

    async def sweep_deferred(self, window: timedelta = timedelta(minutes=15)) -> int:
        """Apply deferred events whose payment became known (covers a link that raced the deferral)."""
        applied = 0
        linked = await self._store.linked_deferred(self._clock() - window)
        for ref, payment_id in linked:
            async with self._store.transaction() as tx:
                applied += await self._apply_deferred(tx, payment_id, [ref])
        return applied

    # -- the handler, inside the ledger row's transaction -------------------------------------------
    async def _handle(self, tx: UnitOfWork, event: dict[str, Any], found: EventFacts | None) -> Outcome:
        if found is None:
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

    async def _complete_refunds(self, found: EventFacts) -> tuple[EventFacts, str | None]:
        """A charge event whose ``amount_refunded`` the refunds we know to count do not cover: list them.

        Since API 2022-11-15 ``charge.refunded`` no longer embeds the refunds, and a refund made in the
        Dashboard may reach us only that way. Refunds are keyed on their Stripe ids (clawbacks and
        ``refund.*`` events key on them too, so nothing counts twice), hence the listing rather than a bare
        total. Done before the event's transaction (no network call under a row lock); when the listing
        fails or still falls short, the event is stored as failed and answered with an error so Stripe
        (or the sweep) delivers it again. Refunds the event embeds that explain the total on their own
        need no read of what we know (the read would only add refunds).
        """
        if found.refunds_outstanding(PaymentFacts()) == 0:
            return found, None
        async with self._store.transaction() as tx:
            record = await tx.find_payment(
                payment_id=found.payment_id,
                session_id=found.session_id,
                payment_intent_id=found.payment_intent_id,
                charge_id=found.charge_id,
            )
        known = PaymentFacts.from_json(record.facts) if record is not None else PaymentFacts()
        if record is None or not found.charge_id or found.refunds_outstanding(known) == 0:
            return found, None
        if self._refunds is None:
            return found, f"charge {found.charge_id}: refunds not embedded and no gateway to list them"
        try:
            listed = await self._refunds.list_charge_refunds(found.charge_id)
        except GatewayError as exc:
            return found, f"charge {found.charge_id}: listing its refunds failed ({exc.kind.value})"
        completed = with_listed_refunds(found, listed)
        short = completed.refunds_unexplained(known)
        if short:
            return completed, f"charge {found.charge_id}: {short} refunded that no listed refund explains"
        return completed, None

    async def _apply_deferred(self, tx: UnitOfWork, payment_id: str, refs: list[str]) -> int:
        """Events that arrived before we could place them (a refund before the completion) apply now."""
        count = 0
        pending = sorted(set(refs))
        while pending:
            waiting = await tx.deferred_for(pending)
            pending = []
            for stored in waiting:
                event = json.loads(stored.payload)
                try:
                    found = translate(event)
                except MalformedEvent as exc:  # stored before these checks existed: kept, as a new one is
                    await tx.mark_event(
                        stored.id,
                        EventStatus.IGNORED,
                        self._clock(),
                        payment_id=payment_id,
                        error=f"malformed event: {exc}",
                    )
                    continue
                record: PaymentRecord | None = await tx.get_payment_for_update(payment_id)
                if found is None or record is None:
                    continue
                if found.refunds_outstanding(PaymentFacts.from_json(record.facts)):
                    # A charge.refunded without its refunds: they must be listed from Stripe, which is
                    # not done under this lock. Failed, not processed: housekeeping's retry replays it.
                    await tx.mark_event(
                        stored.id,
                        EventStatus.FAILED,
                        self._clock(),
                        payment_id=payment_id,
                        error="the charge's refunds must be listed from Stripe; replay applies it",
                    )
                    continue
                cause = Cause(event_id=stored.id, event_type=stored.type)
                applied = await self._orchestrator.apply(tx, record, found, cause, self._clock())
                await tx.mark_event(stored.id, EventStatus.PROCESSED, self._clock(), payment_id=payment_id)
                pending.extend(applied.new_links)
                count += 1
        return count
