"""Stripe events for integration tests, shaped as Stripe sends them (fields the service reads, and more)."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from payments.webhooks.signature import sign_payload

API_VERSION = "2026-10-28.endive"
_seq = itertools.count(1)


def event(
    type_: str,
    obj: dict[str, Any],
    *,
    event_id: str | None = None,
    livemode: bool = False,
    created: int | None = None,
) -> dict[str, Any]:
    n = next(_seq)
    return {
        "id": event_id or f"evt_test_{n:06d}_{int(time.time() * 1000) % 10**8}",
        "object": "event",
        "api_version": API_VERSION,
        "created": created or 1_764_000_000 + n,
        "data": {"object": obj},
        "livemode": livemode,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type_,
    }


def metadata(payment_id: str, order_id: str, mode: str = "checkout") -> dict[str, str]:
    return {
        "payment_id": payment_id,
        "order_id": order_id,
        "user_id": "u_1",
        "referrer_id": "",
        "payment_type": mode,
    }


def session(
    session_id: str,
    payment_id: str,
    order_id: str,
    pi: str | None,
    *,
    amount: int = 10_000,
    currency: str = "eur",
    payment_status: str = "paid",
    status: str = "complete",
) -> dict[str, Any]:
    return {
        "id": session_id,
        "object": "checkout.session",
        "amount_total": amount,
        "amount_subtotal": amount,
        "currency": currency,
        "client_reference_id": order_id,
        "metadata": metadata(payment_id, order_id),
        "mode": "payment",
        "payment_intent": pi,
        "payment_status": payment_status,
        "status": status,
        "livemode": False,
        "url": None,
    }


def payment_intent(
    pi: str,
    payment_id: str,
    order_id: str,
    *,
    amount: int = 10_000,
    currency: str = "eur",
    status: str = "succeeded",
    charge: str | None = None,
    mode: str = "checkout",
) -> dict[str, Any]:
    return {
        "id": pi,
        "object": "payment_intent",
        "amount": amount,
        "amount_received": amount if status == "succeeded" else 0,
        "currency": currency,
        "status": status,
        "latest_charge": charge,
        "metadata": metadata(payment_id, order_id, mode),
        "livemode": False,
    }


def refund(
    refund_id: str,
    pi: str,
    charge: str,
    amount: int,
    *,
    status: str = "succeeded",
    currency: str = "eur",
    created: int = 1_764_000_100,
    ours: str | None = None,
) -> dict[str, Any]:
    return {
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "charge": charge,
        "currency": currency,
        "created": created,
        "metadata": {"refund_id": ours} if ours else {},
        "payment_intent": pi,
        "reason": None,
        "status": status,
    }


def charge(
    charge_id: str,
    pi: str,
    *,
    amount: int = 10_000,
    currency: str = "eur",
    refunds: list[dict[str, Any]] | None = None,
    fingerprint: str = "fp_4242",
    risk_level: str = "normal",
) -> dict[str, Any]:
    refunded = sum(r["amount"] for r in refunds or [] if r["status"] != "failed")
    return {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": refunded,
        "captured": True,
        "currency": currency,
        "paid": True,
        "payment_intent": pi,
        "status": "succeeded",
        "refunded": refunded >= amount,
        "metadata": {},
        "outcome": {"risk_level": risk_level, "type": "authorized"},
        "payment_method_details": {"type": "card", "card": {"fingerprint": fingerprint, "last4": "4242"}},
        "refunds": {"object": "list", "data": refunds or [], "has_more": False},
    }


def dispute(
    dispute_id: str, charge_id: str, pi: str, *, status: str = "needs_response", amount: int = 10_000
) -> dict[str, Any]:
    return {
        "id": dispute_id,
        "object": "dispute",
        "amount": amount,
        "charge": charge_id,
        "currency": "eur",
        "payment_intent": pi,
        "status": status,
        "reason": "fraudulent",
    }


def signed(evt: dict[str, Any], secret: str, *, at: int | None = None) -> tuple[bytes, str]:
    body = json.dumps(evt, separators=(",", ":")).encode()
    return body, sign_payload(body, secret, at if at is not None else int(time.time()))
