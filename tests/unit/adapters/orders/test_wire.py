"""The diff as Orders reads it: the gRPC request and the HTTP body carry the same fields."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from payments.adapters.orders.grpc_client import to_proto
from payments.adapters.orders.wire import diff_json, rfc3339
from payments.domain.state_diff import OrderUpdate
from tests.support.clock import NOW

UPDATE = OrderUpdate(
    idempotency_key="osd_1",
    order_id="ord_1",
    payment_id="pay_1",
    seq=2,
    from_state="paid",
    to_state="partially_refunded",
    amount_paid=5000,
    amount_refunded=1500,
    currency="eur",
    cause_event_id="evt_1",
    cause_event_type="charge.refunded",
    at=NOW,
)


def test_the_grpc_request_carries_every_field_and_the_key() -> None:
    request = to_proto(UPDATE)
    assert request.idempotency_key == "osd_1"
    assert request.diff.seq == 2
    assert request.diff.to_state == "partially_refunded"
    assert (request.diff.amount_paid, request.diff.amount_refunded) == (5000, 1500)
    assert request.diff.at == "2026-11-28T12:00:00Z"
    assert request.diff.cause_event_type == "charge.refunded"


def test_the_http_body_has_the_same_fields_as_the_proto() -> None:
    request = to_proto(UPDATE)
    fields = request.diff.DESCRIPTOR.fields
    assert diff_json(UPDATE) == {f.name: getattr(request.diff, f.name) for f in fields}


def test_times_go_out_as_utc_with_a_z() -> None:
    plus_two = datetime(2026, 1, 1, 14, tzinfo=timezone(timedelta(hours=2)))
    assert rfc3339(plus_two) == "2026-01-01T12:00:00Z"
    assert rfc3339(datetime(2026, 1, 1, 12)) == "2026-01-01T12:00:00Z"
