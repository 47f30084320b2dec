"""The diff as Orders reads it on either transport: the fields of ``orders.v1.OrderStateDiff``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from payments.domain.state_diff import OrderUpdate


def rfc3339(value: datetime) -> str:
    """UTC with a ``Z``, as the proto's ``at`` field documents it; a naive time is taken as UTC."""
    moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return moment.isoformat().replace("+00:00", "Z")


def diff_json(update: OrderUpdate) -> dict[str, Any]:
    return {
        "order_id": update.order_id,
        "payment_id": update.payment_id,
        "seq": update.seq,
        "from_state": update.from_state,
        "to_state": update.to_state,
        "amount_paid": update.amount_paid,
        "amount_refunded": update.amount_refunded,
        "currency": update.currency,
        "cause_event_id": update.cause_event_id,
        "cause_event_type": update.cause_event_type,
        "at": rfc3339(update.at),
    }
