"""Payments, refunds and order history: translate, call the service, nothing else."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from payments.api.http.auth import ServiceRoute, container
from payments.api.http.errors import error_responses
from payments.api.http.params import OrderId, OrderIdQuery, PaymentId
from payments.api.schemas import (
    CreatePaymentBody,
    HistoryEntry,
    PaymentOut,
    RefundBody,
    RefundOut,
    ReviewBody,
)
from payments.bootstrap import Container
from payments.errors import ErrorKind
from payments.refunds.service import RefundPayment

router = APIRouter(
    prefix="/v1",
    route_class=ServiceRoute,  # the service token, checked before the body is read
    responses=error_responses(ErrorKind.UNAUTHENTICATED, ErrorKind.INVALID),
)
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)]


@router.post(
    "/payments",
    status_code=201,
    response_model=PaymentOut,
    responses={
        200: {"model": PaymentOut, "description": "A replay: the payment this order or key already has"},
        **error_responses(
            ErrorKind.MALFORMED,
            ErrorKind.CONFLICT,
            ErrorKind.FAILED_PRECONDITION,
            ErrorKind.UNAVAILABLE,
            extra=(413,),
        ),
    },
)
async def create_payment(
    body: CreatePaymentBody, request: Request, response: Response, idempotency_key: IdempotencyKey = None
) -> PaymentOut:
    # A well-formed request is answered ahead of FastAPI (payment_creation.py), the same way.
    response.status_code, payment = await created_payment(container(request), body, idempotency_key)
    return payment


async def created_payment(
    c: Container, body: CreatePaymentBody, idempotency_key: str | None
) -> tuple[int, PaymentOut]:
    """The status (201 new, 200 a replay) and the payment."""
    result = await c.payments.create_payment(body.to_command(idempotency_key))
    return 201 if result.created else 200, PaymentOut.of(result.payment)


@router.get(
    "/payments/{payment_id}", response_model=PaymentOut, responses=error_responses(ErrorKind.NOT_FOUND)
)
async def get_payment(payment_id: PaymentId, request: Request) -> PaymentOut:
    return PaymentOut.of(await container(request).payments.get_payment(payment_id))


@router.get("/payments", response_model=PaymentOut, responses=error_responses(ErrorKind.NOT_FOUND))
async def find_payment(request: Request, order_id: OrderIdQuery) -> PaymentOut:
    return PaymentOut.of(await container(request).payments.get_payment_for_order(order_id))


@router.post(
    "/payments/{payment_id}/cancel",
    response_model=PaymentOut,
    # 409: already_paid (the body carries the payment as it now is) or payment_processing.
    responses=error_responses(ErrorKind.NOT_FOUND, ErrorKind.FAILED_PRECONDITION, ErrorKind.UNAVAILABLE),
)
async def cancel_payment(payment_id: PaymentId, request: Request) -> PaymentOut:
    return PaymentOut.of(await container(request).payments.cancel_payment(payment_id))


@router.get(
    "/orders/{order_id}/payments",
    response_model=list[PaymentOut],
    responses=error_responses(ErrorKind.NOT_FOUND),
)
async def order_payments(order_id: OrderId, request: Request) -> list[PaymentOut]:
    return [PaymentOut.of(p) for p in await container(request).payments.list_order_payments(order_id)]


@router.post(
    "/payments/{payment_id}/refunds",
    status_code=201,
    response_model=RefundOut,
    responses={
        200: {"model": RefundOut, "description": "A replay: the refund this Idempotency-Key already made"},
        **error_responses(
            ErrorKind.MALFORMED, ErrorKind.NOT_FOUND, ErrorKind.CONFLICT, ErrorKind.UNAVAILABLE, extra=(413,)
        ),
    },
)
async def refund_payment(
    payment_id: PaymentId,
    request: Request,
    response: Response,
    body: RefundBody | None = None,
    idempotency_key: IdempotencyKey = None,
) -> RefundOut:
    body = body or RefundBody()
    refund, created = await container(request).refunds.refund(
        RefundPayment(
            payment_id=payment_id, amount=body.amount, reason=body.reason, idempotency_key=idempotency_key
        )
    )
    if not created:
        response.status_code = 200
    return RefundOut.of(refund)


@router.post(
    "/payments/{payment_id}/review",
    response_model=PaymentOut,
    responses=error_responses(
        ErrorKind.MALFORMED,
        ErrorKind.NOT_FOUND,
        ErrorKind.FAILED_PRECONDITION,
        ErrorKind.UNAVAILABLE,
        extra=(413,),
    ),
)
async def review_payment(payment_id: PaymentId, body: ReviewBody, request: Request) -> PaymentOut:
    """Resolve a payment in ``needs_review``: accept what Stripe took, or refund all of it."""
    return PaymentOut.of(await container(request).review.review(payment_id, body.decision))


@router.get(
    "/orders/{order_id}/history",
    response_model=list[HistoryEntry],
    responses=error_responses(ErrorKind.NOT_FOUND),
)
async def order_history(order_id: OrderId, request: Request) -> list[HistoryEntry]:
    return [HistoryEntry(**row) for row in await container(request).history.of_order(order_id)]
