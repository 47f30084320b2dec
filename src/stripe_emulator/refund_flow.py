"""Refunds: partial and repeated, never more than what remains, and failing later on request."""

from __future__ import annotations

from typing import Any

from . import objects
from .engine import Emulator
from .errors import invalid_request
from .forms import check_merged_metadata, get_int, get_metadata, get_str
from .ids import new_id

JSON = dict[str, Any]

_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer"})
_COUNTING = frozenset({"pending", "succeeded", "requires_action"})


def _charge_to_refund(emu: Emulator, params: JSON) -> JSON:
    charge_id = get_str(params, "charge")
    pi_id = get_str(params, "payment_intent")
    if (charge_id is None) == (pi_id is None):
        raise invalid_request(
            "You must provide exactly one of these parameters: [charge, payment_intent].",
            code="parameter_missing" if charge_id is None else "parameters_exclusive",
        )
    if charge_id is not None:
        return emu.store.get("charges", charge_id, param="charge")
    assert pi_id is not None
    pi = emu.store.get("payment_intents", pi_id, param="payment_intent")
    if pi["status"] != "succeeded" or pi["latest_charge"] is None:
        raise invalid_request(
            f"This PaymentIntent ({pi_id}) does not have a successful charge to refund.",
            param="payment_intent",
            code="charge_not_refundable",
        )
    return emu.store.get("charges", pi["latest_charge"])


def sync_charge_refunds(emu: Emulator, charge: JSON) -> None:
    """The charge's embedded `refunds` list, newest first, as Stripe renders it."""
    refunds = [r for r in emu.store.newest_first("refunds") if r["charge"] == charge["id"]]
    charge["refunds"] = objects.list_object(refunds, f"/v1/charges/{charge['id']}/refunds")


def create_refund(emu: Emulator, params: JSON) -> JSON:
    charge = _charge_to_refund(emu, params)
    amount = get_int(params, "amount")
    reason = get_str(params, "reason")
    if reason is not None and reason not in _REASONS:
        raise invalid_request(
            f"Invalid reason: must be one of {', '.join(sorted(_REASONS))}",
            param="reason",
            code="parameter_invalid",
        )
    if charge["status"] != "succeeded":
        raise invalid_request(
            f"Charge {charge['id']} has not succeeded and cannot be refunded (status {charge['status']}).",
            param="charge",
            code="charge_not_refundable",
        )
    open_disputes = [
        d
        for d in emu.store.table("disputes").values()
        if d["charge"] == charge["id"] and d["status"] != "won"
    ]
    if open_disputes:
        raise invalid_request(
            f"Charge {charge['id']} has been charged back; cannot issue a refund.", code="charge_disputed"
        )
    remaining = int(charge["amount"]) - int(charge["amount_refunded"])
    if remaining <= 0:
        raise invalid_request(
            f"Charge {charge['id']} has already been refunded.",
            param="charge",
            code="charge_already_refunded",
        )
    if amount is None:
        amount = remaining
    if amount < 1:
        raise invalid_request("Invalid positive integer", param="amount", code="parameter_invalid_integer")
    if amount > remaining:
        raise invalid_request(
            f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
            param="amount",
            code="amount_too_large",
        )
    refund = objects.refund(
        charge_obj=charge, amount=amount, reason=reason, metadata=get_metadata(params) or {}
    )
    emu.store.add("refunds", refund)
    emu.events.emit("refund.created", refund)
    previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
    charge["amount_refunded"] = int(charge["amount_refunded"]) + amount
    charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
    refund["status"] = "succeeded"
    sync_charge_refunds(emu, charge)
    emu.events.emit("charge.refunded", charge, previous)
    emu.events.emit("refund.updated", refund, {"status": "pending"})
    return refund


def update_refund(refund: JSON, params: JSON) -> JSON:
    metadata = get_metadata(params)
    if metadata is not None:
        refund["metadata"] = check_merged_metadata({**refund["metadata"], **metadata})
    return refund


def fail_refund(emu: Emulator, refund: JSON) -> JSON:
    """The card network gives the money back: the refund fails and the charge counts it unrefunded."""
    if refund["status"] not in _COUNTING:
        raise invalid_request(f"Refund {refund['id']} has status {refund['status']} and cannot fail.")
    charge = emu.store.get("charges", refund["charge"])
    previous = {"status": refund["status"], "failure_reason": None}
    refund.update(
        status="failed", failure_reason="expired_or_canceled_card", failure_balance_transaction=new_id("txn")
    )
    charge["amount_refunded"] = max(0, int(charge["amount_refunded"]) - int(refund["amount"]))
    charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
    sync_charge_refunds(emu, charge)
    emu.events.emit("refund.failed", refund, previous)
    return refund
