"""The error model (payments.errors) on gRPC: one status code per kind, the stable code in the metadata."""

from __future__ import annotations

from typing import Any, NoReturn

import grpc
from pydantic import ValidationError

from payments.errors import ErrorKind, InvalidRequest, ServiceError

GRPC_STATUS: dict[ErrorKind, grpc.StatusCode] = {
    ErrorKind.MALFORMED: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorKind.INVALID: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorKind.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    ErrorKind.FORBIDDEN: grpc.StatusCode.PERMISSION_DENIED,
    ErrorKind.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorKind.CONFLICT: grpc.StatusCode.ALREADY_EXISTS,
    ErrorKind.FAILED_PRECONDITION: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorKind.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    ErrorKind.BUSY: grpc.StatusCode.RESOURCE_EXHAUSTED,
}


def from_validation(exc: ValidationError) -> InvalidRequest:
    """A request message that fails the HTTP API's own body model: the same rule, the same error."""
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"])
    return InvalidRequest(f"{field}: {first['msg']}", code="validation_error", field=field or None)


async def abort(
    context: grpc.aio.ServicerContext[Any, Any],
    exc: ServiceError,
    extra: tuple[tuple[str, str | bytes], ...] = (),
) -> NoReturn:
    """Ends the call with the error's status; details read ``code: message`` as on every RPC so far.
    ``extra`` is more trailing metadata (a ``-bin`` key carries bytes, such as a serialized message)."""
    status = GRPC_STATUS[exc.kind]
    metadata: tuple[tuple[str, str | bytes], ...] = (("error-code", exc.code),)
    if exc.field:
        metadata += (("error-field", exc.field),)
    metadata += extra
    await context.abort(status, f"{exc.code}: {exc.message}", trailing_metadata=metadata)
