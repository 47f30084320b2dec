"""PaymentIntents and their charges: create, confirm with a test method, settle, cancel."""

from __future__ import annotations

from typing import Any

from . import objects
from .cards import DECLINE_MESSAGES, DelayedMethod, PaymentMethodSpec, TestCard, method_for_payment_method_id
from .engine import Emulator
from .errors import StripeError, invalid_request, resource_missing
from .forms import (
    check_merged_metadata,
    get_bool,
    get_dict,
    get_email,
    get_int,
    get_list,
    get_metadata,
    get_str,
    get_text,
)
from .ids import new_id, now
from .money import amount_problem

JSON = dict[str, Any]

_CANCELABLE = frozenset(
    {"requires_payment_method", "requires_confirmation", "requires_action", "requires_capture"}
)
MAX_DESCRIPTION = 1000  # Stripe's limit on a PaymentIntent's description
_CANCELLATION_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer", "abandoned"})


def parse_currency(params: JSON, name: str = "currency") -> str:
    currency = get_str(params, name, required=True)
    assert currency is not None
    if len(currency) != 3 or not currency.isalpha():
        raise invalid_request(f"Invalid currency: {currency}.", param=name)
    return currency.lower()


def parse_amount(params: JSON, name: str = "amount", *, minimum: int = 1) -> int:
    amount = get_int(params, name, required=True)
    assert amount is not None
    if amount < minimum:
        raise invalid_request(
            "This value must be greater than or equal to 1.", param=name, code="parameter_invalid_integer"
        )
    return amount


def check_amount(amount: int, currency: str, param: str = "amount") -> None:
    """Stripe's per-currency rules (three-decimal currencies end in 0, ISK in whole krónur)."""
    problem = amount_problem(amount, currency)
    if problem is not None:
        code, message = problem
        raise invalid_request(message, param=param, code=code)


def new_payment_intent(
    emu: Emulator,
    *,
    amount: int,
    currency: str,
    metadata: dict[str, str],
    description: str | None = None,
    receipt_email: str | None = None,
    automatic_payment_methods: bool = False,
    payment_method_types: list[str] | None = None,
    customer: str | None = None,
    statement_descriptor: str | None = None,
) -> JSON:
    pi = objects.payment_intent(
        amount=amount,
        currency=currency,
        metadata=metadata,
        description=description,
        receipt_email=receipt_email,
        automatic_payment_methods=automatic_payment_methods,
        payment_method_types=payment_method_types or ["card"],
        customer=customer,
        statement_descriptor=statement_descriptor,
    )
    emu.store.add("payment_intents", pi)
    emu.events.emit("payment_intent.created", pi)
    return pi


def create_payment_intent(emu: Emulator, params: JSON) -> JSON:
    amount = parse_amount(params)
    currency = parse_currency(params)
    check_amount(amount, currency)
    apm = get_dict(params, "automatic_payment_methods")
    types = [str(t) for t in get_list(params, "payment_method_types")]
    pm_id = get_str(params, "payment_method")
    method = _resolve_payment_method(pm_id) if pm_id else None
    pi = new_payment_intent(
        emu,
        amount=amount,
        currency=currency,
        metadata=get_metadata(params) or {},
        description=get_text(params, "description", MAX_DESCRIPTION),
        receipt_email=get_email(params, "receipt_email"),
        # Stripe turns automatic payment methods on unless explicit types are given.
        automatic_payment_methods=bool(apm and get_bool(apm, "enabled")) or not types,
        payment_method_types=types or ["card"],
        customer=get_str(params, "customer"),
        statement_descriptor=get_str(params, "statement_descriptor"),
    )
    if pm_id:
        pi["payment_method"] = pm_id
        pi["status"] = "requires_confirmation"
    if get_bool(params, "confirm"):
        if method is None:
            raise invalid_request(
                "You cannot confirm this PaymentIntent because it's missing a payment method.",
                param="payment_method",
                code="payment_intent_unexpected_state",
            )
        attempt_payment(emu, pi, method)
    return pi


def update_payment_intent(emu: Emulator, pi: JSON, params: JSON) -> JSON:
    metadata = get_metadata(params)
    if metadata is not None:
        pi["metadata"] = check_merged_metadata(_merge_metadata(pi["metadata"], metadata, params))
    if "description" in params:
        pi["description"] = get_text(params, "description", MAX_DESCRIPTION)
    if "receipt_email" in params:
        pi["receipt_email"] = get_email(params, "receipt_email")
    return pi


def _merge_metadata(current: dict[str, str], update: dict[str, str], params: JSON) -> dict[str, str]:
    if params.get("metadata") == "":
        return {}
    merged = dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _resolve_payment_method(pm_id: str) -> PaymentMethodSpec:
    method = method_for_payment_method_id(pm_id)
    if method is None:
        raise resource_missing("PaymentMethod", pm_id, param="payment_method")
    return method


def confirm_payment_intent(emu: Emulator, pi: JSON, params: JSON) -> JSON:
    if pi["status"] not in ("requires_payment_method", "requires_confirmation"):
        raise _unexpected_state(pi, "confirm")
    pm_id = get_str(params, "payment_method") or pi["payment_method"]
    if not pm_id:
        raise invalid_request(
            "You cannot confirm this PaymentIntent because it's missing a payment method. "
            "To confirm the PaymentIntent, either provide a `payment_method` parameter or set one "
            "on the PaymentIntent first.",
            param="payment_method",
            code="payment_intent_unexpected_state",
        )
    if "receipt_email" in params:
        pi["receipt_email"] = get_email(params, "receipt_email")
    attempt_payment(emu, pi, _resolve_payment_method(pm_id))
    return pi


def _unexpected_state(pi: JSON, action: str) -> StripeError:
    return StripeError(
        400,
        "invalid_request_error",
        f"You cannot {action} this PaymentIntent because it has a status of {pi['status']}.",
        code="payment_intent_unexpected_state",
        extra={"payment_intent": pi},
    )


def attempt_payment(
    emu: Emulator, pi: JSON, method: PaymentMethodSpec, *, email: str | None = None, name: str | None = None
) -> None:
    """One payment attempt, with the events Stripe sends; a decline raises a 402 after recording them."""
    if email is None:
        email = pi["receipt_email"]
    pm = objects.payment_method(method, email, name)
    emu.store.add("payment_methods", pm)
    if isinstance(method, DelayedMethod):
        _start_delayed(emu, pi, method, pm, email, name)
    elif method.decline_code:
        _decline(emu, pi, method, method.decline_code, pm, email, name)
    else:
        _succeed_card(emu, pi, method, pm, email, name)


def _succeed_card(
    emu: Emulator, pi: JSON, card: TestCard, pm: JSON, email: str | None, name: str | None
) -> None:
    charge = objects.charge(
        pi=pi, method=card, payment_method_id=pm["id"], status="succeeded", email=email, name=name
    )
    emu.store.add("charges", charge)
    emu.events.emit("charge.succeeded", charge)
    previous = {
        "status": pi["status"],
        "amount_received": pi["amount_received"],
        "latest_charge": pi["latest_charge"],
    }
    pi.update(
        status="succeeded",
        amount_received=pi["amount"],
        latest_charge=charge["id"],
        payment_method=pm["id"],
        last_payment_error=None,
    )
    emu.events.emit("payment_intent.succeeded", pi, previous)
    _complete_session(emu, pi, paid=True, email=email, name=name)


def _start_delayed(
    emu: Emulator, pi: JSON, method: DelayedMethod, pm: JSON, email: str | None, name: str | None
) -> None:
    charge = objects.charge(
        pi=pi, method=method, payment_method_id=pm["id"], status="pending", email=email, name=name
    )
    emu.store.add("charges", charge)
    emu.events.emit("charge.pending", charge)
    previous = {"status": pi["status"]}
    pi.update(
        status="processing",
        latest_charge=charge["id"],
        payment_method=pm["id"],
        last_payment_error=None,
        processing=None,
    )
    emu.events.emit("payment_intent.processing", pi, previous)
    _complete_session(emu, pi, paid=False, email=email, name=name)


def _decline(
    emu: Emulator,
    pi: JSON,
    method: PaymentMethodSpec,
    decline_code: str,
    pm: JSON,
    email: str | None,
    name: str | None,
) -> None:
    charge = objects.charge(
        pi=pi, method=method, payment_method_id=pm["id"], status="failed", email=email, name=name
    )
    message = DECLINE_MESSAGES.get(decline_code, "Your card was declined.")
    code = "expired_card" if decline_code == "expired_card" else "card_declined"
    charge.update(
        failure_code=code,
        failure_message=message,
        outcome=objects.outcome_declined(method, decline_code),
    )
    emu.store.add("charges", charge)
    emu.events.emit("charge.failed", charge)
    error = {
        "charge": charge["id"],
        "code": code,
        "decline_code": decline_code,
        "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}",
        "message": message,
        "param": None,
        "payment_method": pm,
        "type": "card_error",
    }
    previous = {"status": pi["status"], "last_payment_error": pi["last_payment_error"]}
    pi.update(
        status="requires_payment_method",
        latest_charge=charge["id"],
        payment_method=None,
        last_payment_error=error,
    )
    emu.events.emit("payment_intent.payment_failed", pi, previous)
    raise StripeError(
        402,
        "card_error",
        message,
        code=code,
        extra={
            "decline_code": decline_code,
            "charge": charge["id"],
            "payment_intent": pi,
            "payment_method": pm,
            "request_log_url": None,
        },
    )


def _complete_session(emu: Emulator, pi: JSON, *, paid: bool, email: str | None, name: str | None) -> None:
    session_id = emu.store.session_of_payment_intent.get(pi["id"])
    if session_id is None:
        return
    session = emu.store.get("checkout_sessions", session_id)
    previous = {"status": session["status"], "payment_status": session["payment_status"]}
    session.update(
        status="complete",
        payment_status="paid" if paid else "unpaid",
        customer_details=objects.customer_details(email or session["customer_email"], name),
    )
    emu.events.emit("checkout.session.completed", session, previous)


def settle(emu: Emulator, pi: JSON, outcome: str) -> JSON:
    """Ends a delayed payment the way the bank eventually answers."""
    if outcome not in ("succeeded", "failed"):
        raise invalid_request("outcome must be 'succeeded' or 'failed'", param="outcome")
    if pi["status"] != "processing":
        raise _unexpected_state(pi, "settle")
    charge = emu.store.get("charges", pi["latest_charge"])
    session_id = emu.store.session_of_payment_intent.get(pi["id"])
    session = emu.store.get("checkout_sessions", session_id) if session_id else None
    if outcome == "succeeded":
        charge.update(status="succeeded", paid=True, balance_transaction=new_id("txn"))
        emu.events.emit("charge.succeeded", charge, {"status": "pending", "paid": False})
        pi.update(status="succeeded", amount_received=pi["amount"])
        emu.events.emit("payment_intent.succeeded", pi, {"status": "processing", "amount_received": 0})
        if session is not None:
            session["payment_status"] = "paid"
            emu.events.emit("checkout.session.async_payment_succeeded", session, {"payment_status": "unpaid"})
        return pi
    message = "The customer's account has insufficient funds to cover this payment."
    charge.update(
        status="failed",
        captured=False,
        amount_captured=0,
        failure_code="insufficient_funds",
        failure_message=message,
    )
    emu.events.emit("charge.failed", charge, {"status": "pending"})
    pi.update(
        status="requires_payment_method",
        payment_method=None,
        last_payment_error={
            "charge": charge["id"],
            "code": "insufficient_funds",
            "decline_code": None,
            "doc_url": "https://stripe.com/docs/error-codes/insufficient-funds",
            "message": message,
            "param": None,
            "payment_method": emu.store.find(charge["payment_method"]),
            "type": "card_error",
        },
    )
    emu.events.emit("payment_intent.payment_failed", pi, {"status": "processing", "last_payment_error": None})
    if session is not None:
        emu.events.emit("checkout.session.async_payment_failed", session)
    return pi


def cancel_payment_intent(emu: Emulator, pi: JSON, reason: str | None) -> JSON:
    if reason is not None and reason not in _CANCELLATION_REASONS:
        raise invalid_request(f"Invalid cancellation_reason: {reason}", param="cancellation_reason")
    if pi["status"] not in _CANCELABLE:
        raise _unexpected_state(pi, "cancel")
    previous = {"status": pi["status"], "canceled_at": None, "cancellation_reason": None}
    pi.update(status="canceled", canceled_at=now(), cancellation_reason=reason)
    emu.events.emit("payment_intent.canceled", pi, previous)
    return pi
