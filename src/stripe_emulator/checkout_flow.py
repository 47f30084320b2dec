"""Checkout Sessions: create from line items, pay (page or helper), expire (API or clock)."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from . import objects
from .cards import PaymentMethodSpec
from .engine import Emulator
from .errors import invalid_request
from .forms import get_dict, get_email, get_int, get_list, get_metadata, get_str, get_url
from .ids import new_id, now
from .payment_flow import (
    attempt_payment,
    cancel_payment_intent,
    check_amount,
    new_payment_intent,
    parse_currency,
)

JSON = dict[str, Any]

DEFAULT_LIFETIME_S = 24 * 3600
# Stripe's window for expires_at: 30 minutes to 24 hours after the session's creation.
MIN_LIFETIME_S = 30 * 60


def _line_items(params: JSON) -> list[JSON]:
    raw = get_list(params, "line_items")
    if not raw:
        raise invalid_request(
            "You must provide at least one of `line_items` when `mode` is `payment`.",
            param="line_items",
            code="parameter_missing",
        )
    items = []
    for index, entry in enumerate(raw):
        prefix = f"line_items[{index}]"
        if not isinstance(entry, dict):
            raise invalid_request(f"Invalid hash: {prefix}", param=prefix)
        if get_str(entry, "price"):
            raise invalid_request(
                f"No such price: '{entry['price']}'", param=f"{prefix}[price]", code="resource_missing"
            )
        price_data = get_dict(entry, "price_data")
        if price_data is None:
            raise invalid_request(
                f"Missing required param: {prefix}[price_data].",
                param=f"{prefix}[price_data]",
                code="parameter_missing",
            )
        currency = parse_currency(price_data, "currency")
        unit_amount = get_int(price_data, "unit_amount", param=f"{prefix}[price_data][unit_amount]")
        if unit_amount is None:
            decimal = get_str(price_data, "unit_amount_decimal")
            if decimal is None:
                raise invalid_request(
                    f"Missing required param: {prefix}[price_data][unit_amount].",
                    param=f"{prefix}[price_data][unit_amount]",
                    code="parameter_missing",
                )
            # Stripe's unit_amount_decimal allows fractions of a minor unit; a line's total is whole units.
            try:
                unit_amount = int(Decimal(decimal).to_integral_value(rounding=ROUND_HALF_EVEN))
            except InvalidOperation:
                raise invalid_request(
                    "Invalid decimal", param=f"{prefix}[price_data][unit_amount_decimal]"
                ) from None
        if unit_amount < 0:
            raise invalid_request("Invalid non-negative integer", param=f"{prefix}[price_data][unit_amount]")
        product_data = get_dict(price_data, "product_data")
        name = get_str(product_data, "name") if product_data else None
        if name is None:
            if get_str(price_data, "product"):
                raise invalid_request(
                    f"No such product: '{price_data['product']}'",
                    param=f"{prefix}[price_data][product]",
                    code="resource_missing",
                )
            raise invalid_request(
                f"Missing required param: {prefix}[price_data][product_data][name].",
                param=f"{prefix}[price_data][product_data][name]",
                code="parameter_missing",
            )
        quantity = get_int(entry, "quantity", param=f"{prefix}[quantity]")
        if quantity is None:
            raise invalid_request(
                f"Missing required param: {prefix}[quantity].",
                param=f"{prefix}[quantity]",
                code="parameter_missing",
            )
        if quantity < 1:
            raise invalid_request("Invalid positive integer", param=f"{prefix}[quantity]")
        description = get_str(product_data, "description") if product_data else None
        items.append(
            objects.line_item(
                currency=currency,
                unit_amount=unit_amount,
                quantity=quantity,
                name=name,
                description=description,
            )
        )
    currencies = {item["currency"] for item in items}
    if len(currencies) > 1:
        raise invalid_request("All line items must use the same currency.", param="line_items")
    return items


def create_session(emu: Emulator, params: JSON, base_url: str) -> JSON:
    mode = get_str(params, "mode", required=True)
    if mode != "payment":
        raise invalid_request(
            f"The emulator supports only `mode=payment` (got `{mode}`).",
            param="mode",
            code="parameter_invalid",
        )
    items = _line_items(params)
    expires_at = get_int(params, "expires_at")
    created = now()
    if expires_at is None:
        expires_at = created + DEFAULT_LIFETIME_S
    elif expires_at - created < MIN_LIFETIME_S:
        raise invalid_request(
            "The `expires_at` timestamp must be at least 30 minutes from Checkout Session creation.",
            param="expires_at",
        )
    elif expires_at - created > DEFAULT_LIFETIME_S:
        raise invalid_request(
            "The `expires_at` timestamp must be less than 24 hours from Checkout Session creation.",
            param="expires_at",
        )
    amount_total = sum(int(item["amount_total"]) for item in items)
    check_amount(amount_total, items[0]["currency"], param="line_items")
    pi_data = get_dict(params, "payment_intent_data") or {}
    session_id = new_id("cs_test", 58)
    session = objects.checkout_session(
        session_id=session_id,
        url=f"{(emu.public_base_url or base_url).rstrip('/')}/pay/{session_id}",
        currency=items[0]["currency"],
        amount_total=amount_total,
        expires_at=expires_at,
        success_url=get_url(params, "success_url"),
        cancel_url=get_url(params, "cancel_url"),
        client_reference_id=get_str(params, "client_reference_id"),
        customer_email=get_email(params, "customer_email"),
        metadata=get_metadata(params) or {},
        payment_method_types=[str(t) for t in get_list(params, "payment_method_types")] or ["card"],
        locale=get_str(params, "locale"),
        customer=get_str(params, "customer"),
    )
    emu.store.add("checkout_sessions", session)
    emu.store.line_items[session_id] = items
    # Kept for the PaymentIntent made at the first payment attempt, as Stripe does.
    emu.store.payment_intent_data[session_id] = {
        "metadata": get_metadata(pi_data) or {},
        "description": get_str(pi_data, "description"),
        "receipt_email": get_str(pi_data, "receipt_email"),
        "statement_descriptor": get_str(pi_data, "statement_descriptor"),
    }
    return session


def update_session(session: JSON, params: JSON) -> JSON:
    metadata = get_metadata(params)
    if metadata is not None:
        session["metadata"] = metadata
    return session


def pay_session(
    emu: Emulator,
    session: JSON,
    method: PaymentMethodSpec,
    *,
    email: str | None = None,
    name: str | None = None,
) -> JSON:
    """A payment attempt from the hosted page; a declining card raises 402 and leaves the session open."""
    expire_due_sessions(emu)
    if session["status"] != "open":
        raise invalid_request(
            f"This Checkout Session is no longer open (status: {session['status']}).",
            code="checkout_session_not_open",
        )
    pi_id = session["payment_intent"]
    if pi_id is None:
        data = emu.store.payment_intent_data.get(session["id"], {})
        pi = new_payment_intent(
            emu,
            amount=int(session["amount_total"]),
            currency=session["currency"],
            metadata=dict(data.get("metadata") or {}),
            description=data.get("description"),
            receipt_email=data.get("receipt_email"),
            payment_method_types=list(session["payment_method_types"]),
            customer=session["customer"],
            statement_descriptor=data.get("statement_descriptor"),
        )
        session["payment_intent"] = pi["id"]
        emu.store.session_of_payment_intent[pi["id"]] = session["id"]
    else:
        pi = emu.store.get("payment_intents", pi_id)
    attempt_payment(emu, pi, method, email=email or session["customer_email"], name=name)
    return session


def expire_session(emu: Emulator, session: JSON) -> JSON:
    if session["status"] != "open":
        raise invalid_request(
            'Only Checkout Sessions with a status in ["open"] can be expired. '
            f"This Checkout Session has a status of `{session['status']}`.",
            code="checkout_session_not_open",
        )
    session["status"] = "expired"
    emu.events.emit("checkout.session.expired", session, {"status": "open"})
    pi_id = session["payment_intent"]
    if pi_id is not None:
        pi = emu.store.get("payment_intents", pi_id)
        if pi["status"] in ("requires_payment_method", "requires_confirmation"):
            cancel_payment_intent(emu, pi, "abandoned")
    return session


def fast_forward_session(emu: Emulator, session: JSON, seconds: int) -> JSON:
    """Test helper: the session lives as if created ``seconds`` earlier (Stripe's 30-minute minimum
    lifetime would otherwise keep a test waiting for the clock); if that puts it past expires_at, the
    clock expires it as Stripe's would."""
    if seconds < 0:
        raise invalid_request("seconds must be a non-negative integer.", param="seconds")
    session["created"] -= seconds
    session["expires_at"] -= seconds
    expire_due_sessions(emu)
    return session


def expire_due_sessions(emu: Emulator) -> int:
    """Sessions whose `expires_at` has passed expire, as Stripe's own clock would do it."""
    current = now()
    due = [
        session
        for session in emu.store.table("checkout_sessions").values()
        if session["status"] == "open" and session["expires_at"] <= current
    ]
    for session in due:
        expire_session(emu, session)
    return len(due)
