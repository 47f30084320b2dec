"""The errors a caller can see: one hierarchy, each error with a stable ``code`` and a ``kind``.

Services and adapters raise these; each transport maps the *kind* once (HTTP: ``api/http/errors.py``,
gRPC: ``api/grpc/errors.py``). The ``code`` is the machine-readable reason a client may switch on; the
``message`` is for people and never carries secrets or personal data. A new error is a subclass here (or
next to its feature) with a code and the kind that says how every transport should answer it.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    MALFORMED = "malformed"  # the request cannot be read at all: bad signature, not JSON
    INVALID = "invalid"  # readable but wrong; names the field when one is to blame
    UNAUTHENTICATED = "unauthenticated"  # no credentials, or ones we do not accept
    FORBIDDEN = "forbidden"  # a known caller asking for what is not theirs
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"  # clashes with an earlier request (an idempotency key reused for other terms)
    FAILED_PRECONDITION = "failed_precondition"  # the resource's state forbids it now (over-refund)
    UNAVAILABLE = "unavailable"  # a dependency failed; the same request may succeed later
    BUSY = "busy"  # we are at capacity for this kind of request; the same request works after a pause


class ServiceError(Exception):
    """Base of every error a caller sees."""

    code = "error"
    kind = ErrorKind.INVALID

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code


class Malformed(ServiceError):
    code = "malformed_request"
    kind = ErrorKind.MALFORMED


class InvalidRequest(ServiceError):
    code = "invalid_request"
    kind = ErrorKind.INVALID


class Unauthenticated(ServiceError):
    code = "unauthorized"
    kind = ErrorKind.UNAUTHENTICATED


class Forbidden(ServiceError):
    code = "forbidden"
    kind = ErrorKind.FORBIDDEN


class NotFound(ServiceError):
    code = "not_found"
    kind = ErrorKind.NOT_FOUND


class Conflict(ServiceError):
    code = "conflict"
    kind = ErrorKind.CONFLICT


class FailedPrecondition(Conflict):
    """The request is fine but the resource's state refuses it; a Conflict so callers may catch both."""

    code = "failed_precondition"
    kind = ErrorKind.FAILED_PRECONDITION


class UpstreamError(ServiceError):
    """Stripe (or another dependency) failed; the caller may retry the same request."""

    code = "upstream_error"
    kind = ErrorKind.UNAVAILABLE

    def __init__(self, message: str, *, code: str | None = None, retryable: bool = True) -> None:
        super().__init__(message, code=code)
        self.retryable = retryable


class Busy(ServiceError):
    """A bounded resource of ours is full (the CSV exports' pool); answered with when to try again."""

    code = "busy"
    kind = ErrorKind.BUSY
    retry_after_seconds = 5


class UpstreamRefused(ServiceError):
    """Stripe refused the request itself (invalid_request): the same request can never succeed."""

    code = "stripe_invalid_request"
    kind = ErrorKind.INVALID
