"""gRPC ``payments.v1.Payments``: the same fields and rules as the HTTP API, the same services behind."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from pydantic import ValidationError

from payments.adapters.db.payments_repo import PaymentRecord
from payments.api.grpc.errors import GRPC_STATUS, abort, from_validation
from payments.api.grpc.referral_report import get_referral_report
from payments.api.schemas import CreatePaymentBody, PaymentOut, RefundBody
from payments.bootstrap import Container
from payments.errors import InvalidRequest, ServiceError, Unauthenticated
from payments.generated.payments.v1 import payments_pb2 as pb
from payments.generated.payments.v1 import payments_pb2_grpc as pb_grpc
from payments.observability.metrics import GRPC_REQUESTS
from payments.refunds.service import RefundPayment

T = TypeVar("T")


def payment_message(p: PaymentRecord) -> pb.Payment:
    """The HTTP answer's fields, so both APIs always say the same (None leaves an optional unset)."""
    return pb.Payment(**PaymentOut.of(p).model_dump(mode="json"))


def _optional(message: Any, name: str) -> Any:
    return getattr(message, name) if message.HasField(name) else None


class PaymentsServicer(pb_grpc.PaymentsServicer):
    def __init__(self, container: Container) -> None:
        self._c = container

    def _authenticate(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        token = self._c.settings.api_token
        if token is None:
            return
        sent = dict(context.invocation_metadata() or ()).get("authorization", "")
        if not hmac.compare_digest(str(sent).encode(), f"Bearer {token.get_secret_value()}".encode()):
            raise Unauthenticated("a valid service token is required")

    async def _guard(
        self, name: str, context: grpc.aio.ServicerContext[Any, Any], call: Callable[[], Awaitable[T]]
    ) -> T:
        try:
            self._authenticate(context)
            try:
                result = await call()
            except ValidationError as exc:
                raise from_validation(exc) from None
        except ServiceError as exc:
            GRPC_REQUESTS.labels(name, GRPC_STATUS[exc.kind].name).inc()
            await abort(context, exc)
        GRPC_REQUESTS.labels(name, "OK").inc()
        return result

    async def CreatePayment(
        self, request: pb.CreatePaymentRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.CreatePaymentResponse:
        async def call() -> pb.CreatePaymentResponse:
            body = CreatePaymentBody(
                order_id=request.order_id,
                user_id=request.user_id,
                amount=request.amount,
                currency=request.currency,
                customer_email=_optional(request, "customer_email"),
                referrer_id=_optional(request, "referrer_id"),
                mode=_optional(request, "mode") or "checkout",
                success_url=_optional(request, "success_url"),
                cancel_url=_optional(request, "cancel_url"),
                description=_optional(request, "description"),
            )
            result = await self._c.payments.create_payment(
                body.to_command(_optional(request, "idempotency_key"))
            )
            return pb.CreatePaymentResponse(payment=payment_message(result.payment), created=result.created)

        return await self._guard("CreatePayment", context, call)

    async def GetPayment(
        self, request: pb.GetPaymentRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.Payment:
        async def call() -> pb.Payment:
            key = request.WhichOneof("key")
            if key == "id":
                return payment_message(await self._c.payments.get_payment(request.id))
            if key == "order_id":
                return payment_message(await self._c.payments.get_payment_for_order(request.order_id))
            raise InvalidRequest("id or order_id is required", field="key")

        return await self._guard("GetPayment", context, call)

    async def RefundPayment(
        self, request: pb.RefundPaymentRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.Refund:
        async def call() -> pb.Refund:
            body = RefundBody(amount=_optional(request, "amount"), reason=_optional(request, "reason"))
            refund, _ = await self._c.refunds.refund(
                RefundPayment(
                    payment_id=request.payment_id,
                    amount=body.amount,
                    reason=body.reason,
                    idempotency_key=_optional(request, "idempotency_key"),
                )
            )
            return pb.Refund(
                id=refund.id,
                payment_id=refund.payment_id,
                amount=refund.amount,
                currency=refund.currency,
                status=refund.status,
                stripe_refund_id=refund.stripe_refund_id,
            )

        return await self._guard("RefundPayment", context, call)

    async def GetReferralReport(
        self, request: pb.GetReferralReportRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ReferralReport:
        return await self._guard("GetReferralReport", context, lambda: get_referral_report(self._c, request))


async def start_grpc_server(container: Container, address: str) -> grpc.aio.Server:
    # SO_REUSEPORT (grpc's default on Linux) lets `serve --workers N` share the port.
    server = grpc.aio.server(options=[("grpc.so_reuseport", 1)])
    pb_grpc.add_PaymentsServicer_to_server(PaymentsServicer(container), server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise RuntimeError(f"cannot bind gRPC on {address}")
    await server.start()
    return server
