"""gRPC ``payments.v1.Payments``: the same fields and rules as the HTTP API, the same services behind."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from pydantic import ValidationError

from payments.api.grpc.errors import GRPC_STATUS, abort, from_validation
from payments.api.grpc.inputs import optional_text, text
from payments.api.grpc.referral_report import get_referral_report
from payments.api.grpc.tls import server_credentials
from payments.api.http.auth import bearer_token, is_service_token
from payments.api.http.limits import body_limit_for
from payments.api.schemas import CreatePaymentBody, PaymentOut, RefundBody, RefundOut
from payments.bootstrap import Container
from payments.checkout.cancel import AlreadyPaid
from payments.errors import InvalidRequest, ServiceError, Unauthenticated
from payments.generated.payments.v1 import payments_pb2 as pb
from payments.generated.payments.v1 import payments_pb2_grpc as pb_grpc
from payments.observability.metrics import GRPC_REQUESTS
from payments.records import PaymentRecord
from payments.refunds.service import RefundPayment

T = TypeVar("T")


def payment_message(p: PaymentRecord) -> pb.Payment:
    """The HTTP answer's fields, so both APIs always say the same (None leaves an optional unset)."""
    return pb.Payment(**PaymentOut.of(p).model_dump(mode="json"))


PAYMENT_METADATA = "payment-bin"


def _payment_metadata(exc: ServiceError) -> tuple[tuple[str, bytes], ...]:
    """already_paid / order_already_paid carry the payment as it now is, as HTTP's 409 body does: a
    serialized ``payments.v1.Payment`` under the trailing metadata key ``payment-bin``."""
    if isinstance(exc, AlreadyPaid):
        return ((PAYMENT_METADATA, payment_message(exc.payment).SerializeToString()),)
    return ()


def _optional(message: Any, name: str) -> Any:
    return getattr(message, name) if message.HasField(name) else None


class PaymentsServicer(pb_grpc.PaymentsServicer):
    def __init__(self, container: Container) -> None:
        self._c = container

    def _authenticate(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        # The same reading of the header as HTTP's: the scheme in any case, the token trimmed.
        sent = dict(context.invocation_metadata() or ()).get("authorization", "")
        if not is_service_token(self._c, bearer_token(str(sent))):
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
            await abort(context, exc, _payment_metadata(exc))
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
                **({"mode": request.mode} if request.HasField("mode") else {}),  # "" is refused, as on HTTP
                success_url=_optional(request, "success_url"),
                cancel_url=_optional(request, "cancel_url"),
                description=_optional(request, "description"),
            )
            result = await self._c.payments.create_payment(
                body.to_command(optional_text(request, "idempotency_key", 255))
            )
            return pb.CreatePaymentResponse(payment=payment_message(result.payment), created=result.created)

        return await self._guard("CreatePayment", context, call)

    async def GetPayment(
        self, request: pb.GetPaymentRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.Payment:
        async def call() -> pb.Payment:
            key = request.WhichOneof("key")
            if key == "id":
                return payment_message(await self._c.payments.get_payment(text(request.id, "id", 40)))
            if key == "order_id":
                order_id = text(request.order_id, "order_id", 128)
                return payment_message(await self._c.payments.get_payment_for_order(order_id))
            raise InvalidRequest("id or order_id is required", field="key")

        return await self._guard("GetPayment", context, call)

    async def ListOrderPayments(
        self, request: pb.ListOrderPaymentsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ListOrderPaymentsResponse:
        async def call() -> pb.ListOrderPaymentsResponse:
            order_id = text(request.order_id, "order_id", 128)
            records = await self._c.payments.list_order_payments(order_id)
            return pb.ListOrderPaymentsResponse(payments=[payment_message(p) for p in records])

        return await self._guard("ListOrderPayments", context, call)

    async def CancelPayment(
        self, request: pb.CancelPaymentRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.Payment:
        async def call() -> pb.Payment:
            payment_id = text(request.payment_id, "payment_id", 40)
            return payment_message(await self._c.payments.cancel_payment(payment_id))

        return await self._guard("CancelPayment", context, call)

    async def RefundPayment(
        self, request: pb.RefundPaymentRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.Refund:
        async def call() -> pb.Refund:
            body = RefundBody(amount=_optional(request, "amount"), reason=_optional(request, "reason"))
            refund, _ = await self._c.refunds.refund(
                RefundPayment(
                    payment_id=text(request.payment_id, "payment_id", 40),
                    amount=body.amount,
                    reason=body.reason,
                    idempotency_key=optional_text(request, "idempotency_key", 255),
                )
            )
            return pb.Refund(**RefundOut.of(refund).model_dump(mode="json"))

        return await self._guard("RefundPayment", context, call)

    async def GetReferralReport(
        self, request: pb.GetReferralReportRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> pb.ReferralReport:
        return await self._guard("GetReferralReport", context, lambda: get_referral_report(self._c, request))


PAYMENTS_SERVICE = pb.DESCRIPTOR.services_by_name["Payments"].full_name
MAX_REQUEST_MESSAGE = body_limit_for("/v1/payments")


async def start_grpc_server(
    container: Container, address: str, health_servicer: Any = None
) -> grpc.aio.Server:
    """The gRPC server, started; ``health_servicer`` (``grpc_health``'s) when the caller keeps it in step
    with readiness (``follow_readiness``), else one that says SERVING."""
    server = grpc.aio.server(
        options=[
            # SO_REUSEPORT (grpc's default on Linux) lets `serve --workers N` share the port.
            ("grpc.so_reuseport", 1),
            # HTTP's bound for the same calls (gRPC's own default is 4 MiB): a larger message is refused
            # (RESOURCE_EXHAUSTED) as it arrives, before it is parsed or its token looked at.
            ("grpc.max_receive_message_length", MAX_REQUEST_MESSAGE),
        ]
    )
    pb_grpc.add_PaymentsServicer_to_server(PaymentsServicer(container), server)
    # The standard services a load balancer and grpcurl expect; both only describe, so no token.
    if health_servicer is None:
        health_servicer = new_health_servicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (PAYMENTS_SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    credentials = server_credentials(container.settings)
    if credentials is not None:
        port = server.add_secure_port(address, credentials)
    else:
        port = server.add_insecure_port(address)  # dev only: production requires the TLS settings
    if port == 0:
        raise RuntimeError(f"cannot bind gRPC on {address}")
    await server.start()
    for service in ("", PAYMENTS_SERVICE):
        await health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    return server


def new_health_servicer() -> Any:
    return health.aio.HealthServicer()  # type: ignore[attr-defined]  # re-exported, untyped


async def follow_readiness(container: Container, health_servicer: Any) -> bool:
    """Health/Check says what /readyz says: NOT_SERVING while the database (or Redis) is down, so a load
    balancer stops sending calls this replica cannot serve. Whether it is ready."""
    ready = (await container.readiness.check()).ready
    status = health_pb2.HealthCheckResponse.SERVING if ready else health_pb2.HealthCheckResponse.NOT_SERVING
    for service in ("", PAYMENTS_SERVICE):
        await health_servicer.set(service, status)
    return ready
