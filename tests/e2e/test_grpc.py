"""Every gRPC RPC end to end against the real `payments serve` and emulator, plus health and reflection."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from payments.generated.payments.v1 import payments_pb2 as pb
from payments.generated.payments.v1 import payments_pb2_grpc as pb_grpc
from tests.e2e.conftest import TOKEN, Stack
from tests.support.processes import eventually

AUTH = (("authorization", f"Bearer {TOKEN}"),)


def _order() -> str:
    return f"ord_{uuid.uuid4().hex[:10]}"


@pytest_asyncio.fixture
async def channel(stack: Stack) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(stack.grpc_target) as ch:
        yield ch


async def _fails_with(call, code: grpc.StatusCode) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    assert info.value.code() is code, info.value.details()
    return info.value.details() or ""


async def _pay(stack: Stack, payment: pb.Payment) -> None:
    paid = await stack.helper(
        f"/checkout/sessions/{payment.stripe_checkout_session_id}/pay", {"card": "4242424242424242"}
    )
    assert paid.status_code == 200, paid.text

    async def succeeded() -> bool:
        return (await stack.payment(payment.id))["status"] == "succeeded"

    await eventually(succeeded, what="the payment to succeed")


async def test_create_with_referrer_pay_refund_and_report_over_grpc(
    stack: Stack, channel: grpc.aio.Channel
) -> None:
    client = pb_grpc.PaymentsStub(channel)
    referrer = f"ref_{uuid.uuid4().hex[:8]}"
    created = await client.CreatePayment(
        pb.CreatePaymentRequest(
            order_id=_order(),
            user_id=f"u_{uuid.uuid4().hex[:6]}",
            amount=10_000,
            currency="eur",
            referrer_id=referrer,
            customer_email="buyer@example.com",
        ),
        metadata=AUTH,
    )
    payment = created.payment
    assert created.created and payment.referrer_id == referrer and payment.attempt == 1
    assert payment.HasField("checkout_expires_at")
    http_view = await stack.payment(payment.id)
    assert http_view["referrer_id"] == referrer
    assert http_view["checkout_expires_at"] is not None
    await _pay(stack, payment)

    by_order = await client.GetPayment(pb.GetPaymentRequest(order_id=payment.order_id), metadata=AUTH)
    assert by_order.id == payment.id and by_order.status == "succeeded"

    refund = await client.RefundPayment(
        pb.RefundPaymentRequest(payment_id=payment.id, amount=2500, reason="requested_by_customer"),
        metadata=AUTH,
    )
    assert (refund.amount, refund.currency, refund.reason, refund.source) == (
        2500,
        "eur",
        "requested_by_customer",
        "api",
    )
    assert refund.stripe_refund_id.startswith("re_")
    details = await _fails_with(
        client.RefundPayment(pb.RefundPaymentRequest(payment_id=payment.id, amount=9000), metadata=AUTH),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert "over_refund" in details

    async def report_with_commission() -> pb.ReferralReport | None:
        report = await client.GetReferralReport(
            pb.GetReferralReportRequest(referrer_id=referrer), metadata=AUTH
        )
        return report if report.commissions else None

    report = await eventually(report_with_commission, what="the commission in the report")
    http_report = (await stack.http.get(f"/v1/referrers/{referrer}/report")).json()
    (commission,) = report.commissions
    (http_commission,) = http_report["commissions"]
    assert commission.payment_id == payment.id and commission.referrer_id == referrer
    assert {
        name: getattr(commission, name)
        for name in ("id", "status", "amount", "original_amount", "payment_amount", "rate_bps", "currency")
    } == {
        name: http_commission[name]
        for name in ("id", "status", "amount", "original_amount", "payment_amount", "rate_bps", "currency")
    }
    assert [(t.status, t.original_amount) for t in report.totals] == [
        (t["status"], t["original_amount"]) for t in http_report["totals"]
    ]
    assert [(n.currency, n.gross, n.clawed_back, n.net) for n in report.net] == [
        (n["currency"], n["gross"], n["clawed_back"], n["net"]) for n in http_report["net"]
    ]


async def test_cancel_and_list_order_payments_over_grpc(stack: Stack, channel: grpc.aio.Channel) -> None:
    client = pb_grpc.PaymentsStub(channel)
    order = _order()
    request = pb.CreatePaymentRequest(order_id=order, user_id="u_g", amount=1500, currency="eur")
    first = (await client.CreatePayment(request, metadata=AUTH)).payment
    canceled = await client.CancelPayment(pb.CancelPaymentRequest(payment_id=first.id), metadata=AUTH)
    assert canceled.status == "canceled"
    again = await client.CreatePayment(request, metadata=AUTH)
    assert again.created and again.payment.attempt == 2 and again.payment.id != first.id
    await _pay(stack, again.payment)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await client.CancelPayment(pb.CancelPaymentRequest(payment_id=again.payment.id), metadata=AUTH)
    assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "already_paid" in (refused.value.details() or "")
    # As HTTP's 409 body, the payment as it now is travels with the refusal.
    trailing = dict(refused.value.trailing_metadata() or ())
    paid = pb.Payment.FromString(trailing["payment-bin"])
    assert (paid.id, paid.status) == (again.payment.id, "succeeded")
    await _fails_with(client.CreatePayment(request, metadata=AUTH), grpc.StatusCode.FAILED_PRECONDITION)
    listed = await client.ListOrderPayments(pb.ListOrderPaymentsRequest(order_id=order), metadata=AUTH)
    assert [(p.attempt, p.status) for p in listed.payments] == [(1, "canceled"), (2, "succeeded")]
    await _fails_with(
        client.ListOrderPayments(pb.ListOrderPaymentsRequest(order_id=_order()), metadata=AUTH),
        grpc.StatusCode.NOT_FOUND,
    )
    await _fails_with(
        client.CancelPayment(pb.CancelPaymentRequest(payment_id=""), metadata=AUTH),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    other_terms = pb.CreatePaymentRequest(order_id=_order(), user_id="u_g", amount=100, currency="eur")
    await client.CreatePayment(other_terms, metadata=AUTH)
    other_terms.amount = 200
    await _fails_with(client.CreatePayment(other_terms, metadata=AUTH), grpc.StatusCode.ALREADY_EXISTS)
    await _fails_with(
        client.CancelPayment(pb.CancelPaymentRequest(payment_id=first.id)), grpc.StatusCode.UNAUTHENTICATED
    )


async def test_standard_health_and_reflection_services(channel: grpc.aio.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "payments.v1.Payments"):
        answer = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
    await _fails_with(
        health.Check(health_pb2.HealthCheckRequest(service="nope.v1.Nothing")), grpc.StatusCode.NOT_FOUND
    )
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = reflection.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    names = set()
    async for response in responses:
        names |= {s.name for s in response.list_services_response.service}
    assert {"payments.v1.Payments", "grpc.health.v1.Health"} <= names


NUL = "a\x00b"


@pytest.mark.parametrize(
    ("rpc", "request_message", "field"),
    [
        ("GetPayment", pb.GetPaymentRequest(id=NUL), "id"),
        ("GetPayment", pb.GetPaymentRequest(order_id=NUL), "order_id"),
        ("ListOrderPayments", pb.ListOrderPaymentsRequest(order_id=NUL), "order_id"),
        ("CancelPayment", pb.CancelPaymentRequest(payment_id=NUL), "payment_id"),
        ("RefundPayment", pb.RefundPaymentRequest(payment_id=NUL), "payment_id"),
        (
            "CreatePayment",
            pb.CreatePaymentRequest(
                order_id="ord_ok", user_id="u", amount=100, currency="eur", idempotency_key=NUL
            ),
            "idempotency_key",
        ),
        (
            "CreatePayment",
            pb.CreatePaymentRequest(order_id=NUL, user_id="u", amount=100, currency="eur"),
            "order_id",
        ),
        ("GetReferralReport", pb.GetReferralReportRequest(referrer_id=NUL), "referrer_id"),
        ("GetReferralReport", pb.GetReferralReportRequest(referrer_id="ref_ok", cursor=NUL), "cursor"),
        (
            "GetReferralReport",
            pb.GetReferralReportRequest(referrer_id="ref_ok", to="9999-12-31T12:00:00+00:00"),
            "to",
        ),
    ],
)
async def test_a_field_the_database_would_refuse_is_invalid_argument_naming_it(
    stack: Stack, channel: grpc.aio.Channel, rpc: str, request_message: object, field: str
) -> None:
    """A NUL (or a date at the calendar's edge) is the caller's error, never an INTERNAL from SQL."""
    call = getattr(pb_grpc.PaymentsStub(channel), rpc)(request_message, metadata=AUTH)
    details = await _fails_with(call, grpc.StatusCode.INVALID_ARGUMENT)
    assert field in details
