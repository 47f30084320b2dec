"""What a Stripe event tells us, as facts about one payment. Pure: no IO, no clock."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from payments.domain.payment_state import DisputePhase, PaymentFacts, RefundFact, RefundStatus
from payments.domain.stripe_facts import EventFacts, RefundSeen, refund_status

# What the columns the facts end in hold (adapters/db/tables.py). A value past them is not Stripe's (its ids
# are at most 255 characters, its amounts 8 digits, its currencies ISO codes): the event is malformed, and
# is kept for a person rather than failing its insert for ever.
_MAX_STRIPE_ID = 255
_MAX_OUR_ID = 40  # the payment and refund ids we put in metadata
_MAX_AMOUNT = 2**53
_MAX_REASON = 64


def _id(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    if not isinstance(value, str) or not value:
        return None
    if len(value) > _MAX_STRIPE_ID:
        raise ValueError(f"an id longer than {_MAX_STRIPE_ID} characters")
    return value


def _ours(value: Any) -> str | None:
    """One of our ids from metadata; anything else there (another product's, on the same account) is not."""
    return value if isinstance(value, str) and 0 < len(value) <= _MAX_OUR_ID else None


def _amount(value: Any) -> int:
    amount = int(value or 0)
    if not 0 <= amount < _MAX_AMOUNT:
        raise ValueError("an amount out of range")
    return amount


def _currency(value: Any) -> str:
    if value is None or value == "":
        return ""
    if not (isinstance(value, str) and len(value) == 3 and value.isascii() and value.isalpha()):
        raise ValueError("a currency that is not an ISO code")
    return value.lower()


def _metadata_payment_id(obj: dict[str, Any]) -> str | None:
    metadata = obj.get("metadata") or {}
    return _ours(metadata.get("payment_id")) if isinstance(metadata, dict) else None


def _session(obj: dict[str, Any], facts: PaymentFacts) -> EventFacts:
    return EventFacts(
        payment_id=_metadata_payment_id(obj),
        session_id=_id(obj),
        payment_intent_id=_id(obj.get("payment_intent")),
        facts=facts,
    )


def _paid(amount: Any, currency: Any) -> PaymentFacts:
    return PaymentFacts(
        succeeded=True, amount_received=_amount(amount), currency_received=_currency(currency)
    )


def _session_completed(obj: dict[str, Any]) -> EventFacts:
    if obj.get("payment_status") in ("paid", "no_payment_required"):
        return _session(obj, _paid(obj.get("amount_total"), obj.get("currency")))
    # A delayed method (bank debit): the money is not there yet; async_payment_* will say.
    return _session(obj, PaymentFacts(processing=True))


def _intent(obj: dict[str, Any], facts: PaymentFacts) -> EventFacts:
    return EventFacts(
        payment_id=_metadata_payment_id(obj),
        payment_intent_id=_id(obj),
        charge_id=_id(obj.get("latest_charge")),
        facts=facts,
    )


def _intent_received(obj: dict[str, Any]) -> int:
    """What a succeeded PaymentIntent took, from whichever field this API version carries.

    ``amount_received`` when present; older versions (and some stand-ins) lack it, so then the captured
    amounts of its charges (``charges.data`` before 2022-11-15, an expanded ``latest_charge`` after), and
    only then ``amount``: a correctly paid payment must not look like a mismatch for want of a field.
    """
    received = obj.get("amount_received")
    if received:
        return _amount(received)
    charges = obj.get("charges")
    data = charges.get("data") if isinstance(charges, dict) else None
    if isinstance(data, list):
        captured = sum(_charge_captured(c) for c in data if isinstance(c, dict))
        if captured:
            return captured
    latest = obj.get("latest_charge")
    if isinstance(latest, dict) and _charge_captured(latest):
        return _charge_captured(latest)
    return _amount(obj.get("amount"))


def _charge_captured(charge: dict[str, Any]) -> int:
    if charge.get("status") != "succeeded" or charge.get("captured") is False:
        return 0
    return _amount(charge.get("amount_captured") or charge.get("amount"))


def _intent_failed(obj: dict[str, Any]) -> EventFacts:
    # In Checkout a declined attempt leaves the session open for another try: not a failed payment.
    # In the direct PaymentIntent mode the caller drives retries, so Orders hears of the failure
    # (a later success still wins: succeeded dominates failed in derive_status).
    metadata = obj.get("metadata") or {}
    terminal = metadata.get("payment_type") == "payment_intent"
    return _intent(obj, PaymentFacts(failed=terminal))


def _intent_canceled(obj: dict[str, Any]) -> EventFacts:
    # Stripe cancels a Checkout Session's intent only when the session expires (by the clock, the
    # dashboard or our cancel, whose own record says canceled): for the payment that is the expiry.
    metadata = obj.get("metadata") or {}
    if metadata.get("payment_type") == "checkout":
        return _intent(obj, PaymentFacts(expired=True))
    return _intent(obj, PaymentFacts(canceled=True))


def _refund_seen(obj: dict[str, Any], force_failed: bool = False) -> RefundSeen | None:
    refund_id = _id(obj)
    if not refund_id:
        return None
    metadata = obj.get("metadata") or {}
    reason = obj.get("reason")
    return RefundSeen(
        stripe_refund_id=refund_id,
        our_refund_id=_ours(metadata.get("refund_id")) if isinstance(metadata, dict) else None,
        amount=_amount(obj.get("amount")),
        currency=_currency(obj.get("currency")),
        status=RefundStatus.FAILED if force_failed else refund_status(obj.get("status")),
        reason=reason if isinstance(reason, str) and len(reason) <= _MAX_REASON else None,
    )


def with_listed_refunds(found: EventFacts, listed: list[dict[str, Any]]) -> EventFacts:
    """The event's facts plus the charge's refunds as Stripe lists them (each keyed on its refund id)."""
    seen = [s for s in (_refund_seen(r) for r in listed if isinstance(r, dict)) if s]
    known = {r.stripe_refund_id for r in found.refunds}
    extra = [r for r in seen if r.stripe_refund_id not in known]
    if not extra:
        return found
    created = {str(r.get("id")): int(r.get("created") or 0) for r in listed if isinstance(r, dict)}
    return _with_refunds(found, [*found.refunds, *extra], created)


def _with_refunds(base: EventFacts, seen: list[RefundSeen], created: dict[str, int]) -> EventFacts:
    facts = base.facts.merge(
        PaymentFacts(
            refunds={
                r.stripe_refund_id: RefundFact(r.amount, r.status, created.get(r.stripe_refund_id, 0))
                for r in seen
            }
        )
    )
    return EventFacts(
        payment_id=base.payment_id,
        session_id=base.session_id,
        payment_intent_id=base.payment_intent_id,
        charge_id=base.charge_id,
        facts=facts,
        refunds=tuple(seen),
        charge_amount_refunded=base.charge_amount_refunded,
    )


def _refund_event(obj: dict[str, Any], *, force_failed: bool = False) -> EventFacts:
    seen = _refund_seen(obj, force_failed)
    base = EventFacts(payment_intent_id=_id(obj.get("payment_intent")), charge_id=_id(obj.get("charge")))
    if seen is None:
        return base
    return _with_refunds(base, [seen], {seen.stripe_refund_id: int(obj.get("created") or 0)})


def _charge_facts(obj: dict[str, Any]) -> PaymentFacts:
    details = obj.get("payment_method_details") or {}
    card = details.get("card") or {} if isinstance(details, dict) else {}
    outcome = obj.get("outcome") or {}
    return PaymentFacts(
        card_fingerprint=str(card.get("fingerprint") or ""),
        risk_level=str(outcome.get("risk_level") or "") if isinstance(outcome, dict) else "",
    )


def _charge(obj: dict[str, Any]) -> EventFacts:
    facts = _charge_facts(obj)
    if obj.get("status") == "succeeded" and obj.get("captured", True):
        facts = facts.merge(_paid(obj.get("amount_captured") or obj.get("amount"), obj.get("currency")))
    base = EventFacts(
        payment_id=_metadata_payment_id(obj),
        payment_intent_id=_id(obj.get("payment_intent")),
        charge_id=_id(obj),
        facts=facts,
        charge_amount_refunded=_amount(obj.get("amount_refunded")),
    )
    # Embedded before API 2022-11-15 (possibly truncated: ``has_more``); absent since, unless expanded.
    refunds = (obj.get("refunds") or {}).get("data") or []
    seen = [s for s in (_refund_seen(r) for r in refunds if isinstance(r, dict)) if s]
    if not seen:
        return base
    return _with_refunds(base, seen, {str(r.get("id")): int(r.get("created") or 0) for r in refunds})


def _dispute(obj: dict[str, Any], phase: DisputePhase) -> EventFacts:
    dispute_id = _id(obj) or "dispute"
    return EventFacts(
        payment_intent_id=_id(obj.get("payment_intent")),
        charge_id=_id(obj.get("charge")),
        facts=PaymentFacts(disputes={dispute_id: phase}),
    )


def _dispute_closed(obj: dict[str, Any]) -> EventFacts:
    # "warning_closed" is an inquiry that never became a chargeback: the money stays with us.
    phase = DisputePhase.LOST if obj.get("status") == "lost" else DisputePhase.WON
    return _dispute(obj, phase)


_HANDLERS: dict[str, Callable[[dict[str, Any]], EventFacts]] = {
    "checkout.session.completed": _session_completed,
    "checkout.session.async_payment_succeeded": lambda o: _session(
        o, _paid(o.get("amount_total"), o.get("currency"))
    ),
    "checkout.session.async_payment_failed": lambda o: _session(o, PaymentFacts(failed=True)),
    "checkout.session.expired": lambda o: _session(o, PaymentFacts(expired=True)),
    "payment_intent.succeeded": lambda o: _intent(o, _paid(_intent_received(o), o.get("currency"))),
    "payment_intent.processing": lambda o: _intent(o, PaymentFacts(processing=True)),
    "payment_intent.payment_failed": _intent_failed,
    "payment_intent.canceled": _intent_canceled,
    "charge.succeeded": _charge,
    "charge.refunded": _charge,
    "charge.updated": _charge,
    "refund.created": _refund_event,
    "refund.updated": _refund_event,
    "charge.refund.updated": _refund_event,
    "refund.failed": lambda o: _refund_event(o, force_failed=True),
    "charge.dispute.created": lambda o: _dispute(o, DisputePhase.OPEN),
    "charge.dispute.funds_withdrawn": lambda o: _dispute(o, DisputePhase.OPEN),
    "charge.dispute.closed": _dispute_closed,
    "charge.dispute.funds_reinstated": lambda o: _dispute(o, DisputePhase.WON),
}

HANDLED_TYPES = frozenset(_HANDLERS)


_MAX_CREATED = 2**53  # Stripe sends unix seconds; anything past this is not a time we can store


def envelope_problem(event: dict[str, Any], raw: bytes | None = None) -> str | None:
    """Why the ledger could not store this event as it is, or None.

    Checked before any write: a value the database cannot hold (an over-long id, a NUL, a lone surrogate,
    a non-integer ``created``) would fail the insert, fail the failure record too, and be answered 500
    for a delivery that can never succeed. ``raw``, the UTF-8 text the event was parsed from, spares the
    re-encoding when it holds no backslash-u escape: only an escape can bring a NUL or a lone surrogate into
    text that decoded as UTF-8 and parsed as strict JSON.
    """
    event_id, type_ = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= 255:
        return "id must be a string of 1 to 255 characters"
    if not isinstance(type_, str) or not 0 < len(type_) <= 100:
        return "type must be a string of 1 to 100 characters"
    created = event.get("created")
    if created is not None and (
        isinstance(created, bool) or not isinstance(created, int) or not 0 <= created < _MAX_CREATED
    ):
        return "created must be a unix timestamp"
    api_version = event.get("api_version")
    if api_version is not None and (not isinstance(api_version, str) or len(api_version) > 64):
        return "api_version must be a short string"
    if raw is not None and b"\\u" not in raw:
        return None
    try:
        text = json.dumps(event, ensure_ascii=False)
        text.encode("utf-8")  # a lone surrogate cannot be encoded, nor stored
    except (UnicodeEncodeError, ValueError, RecursionError):
        return "the event holds text that is not valid Unicode"
    if "\\u0000" in text:  # json.dumps escapes the NUL it found
        return "the event holds a NUL character"
    return None


class MalformedEvent(ValueError):
    """A correctly signed event whose fields are not of the types Stripe documents."""


def translate(event: dict[str, Any]) -> EventFacts | None:
    """None for an event type we do not act on; MalformedEvent when a field has an impossible type."""
    handler = _HANDLERS.get(str(event.get("type")))
    if handler is None:
        return None
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        raise MalformedEvent("data.object is not an object")
    try:
        found = handler(obj)
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise MalformedEvent(f"{type(exc).__name__} reading {event.get('type')}") from None
    created = event.get("created")
    if (found.facts.failed or found.facts.processing) and isinstance(created, int):
        found = replace(found, facts=found.facts.stamped(created))
    return found
