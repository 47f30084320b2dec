"""Disputes as a cardholder's bank opens and closes them, with the money moves Stripe reports."""

from __future__ import annotations

from typing import Any

from . import objects
from .engine import Emulator
from .errors import invalid_request

JSON = dict[str, Any]

_OPEN = frozenset({"needs_response", "under_review", "warning_needs_response", "warning_under_review"})


def open_dispute(emu: Emulator, charge: JSON) -> JSON:
    if charge["status"] != "succeeded":
        raise invalid_request(
            f"Charge {charge['id']} has not succeeded; it cannot be disputed.", param="charge"
        )
    if any(
        d["charge"] == charge["id"] and d["status"] in _OPEN for d in emu.store.table("disputes").values()
    ):
        raise invalid_request(f"Charge {charge['id']} already has an open dispute.", param="charge")
    amount = int(charge["amount"]) - int(charge["amount_refunded"])
    if amount <= 0:
        raise invalid_request(f"Charge {charge['id']} is fully refunded; nothing to dispute.", param="charge")
    dispute = objects.dispute(charge_obj=charge, amount=amount)
    emu.store.add("disputes", dispute)
    charge["disputed"] = True
    emu.events.emit("charge.dispute.created", dispute)
    withdrawal = objects.balance_transaction(
        amount=-amount,
        currency=dispute["currency"],
        source=dispute["id"],
        kind="adjustment",
        description=f"Chargeback withdrawal for {charge['id']}",
    )
    dispute["balance_transactions"] = [withdrawal]
    emu.events.emit("charge.dispute.funds_withdrawn", dispute)
    return dispute


def close_dispute(emu: Emulator, dispute: JSON, outcome: str) -> JSON:
    if outcome not in ("won", "lost"):
        raise invalid_request("outcome must be 'won' or 'lost'", param="outcome")
    if dispute["status"] not in _OPEN:
        raise invalid_request(f"Dispute {dispute['id']} is already closed ({dispute['status']}).")
    previous = {"status": dispute["status"]}
    dispute["status"] = outcome
    if outcome == "won":
        dispute["is_charge_refundable"] = True
        reinstatement = objects.balance_transaction(
            amount=int(dispute["amount"]),
            currency=dispute["currency"],
            source=dispute["id"],
            kind="adjustment",
            description=f"Chargeback reversal for {dispute['charge']}",
        )
        dispute["balance_transactions"] = [*dispute["balance_transactions"], reinstatement]
    emu.events.emit("charge.dispute.closed", dispute, previous)
    if outcome == "won":
        emu.events.emit("charge.dispute.funds_reinstated", dispute)
    return dispute
