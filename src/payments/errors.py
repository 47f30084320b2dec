"""Errors the service layer raises; the API layers translate them to status codes."""

from __future__ import annotations


class ServiceError(Exception):
    """Base: carries a stable machine code and a human message (never secrets or PII)."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code


class InvalidRequest(ServiceError):
    code = "invalid_request"


class NotFound(ServiceError):
    code = "not_found"


class Conflict(ServiceError):
    code = "conflict"


class Forbidden(ServiceError):
    code = "forbidden"


class UpstreamError(ServiceError):
    """Stripe (or another dependency) failed; the caller may retry the same request."""

    code = "upstream_error"

    def __init__(self, message: str, *, code: str | None = None, retryable: bool = True) -> None:
        super().__init__(message, code=code)
        self.retryable = retryable


class UpstreamRefused(ServiceError):
    """Stripe refused the request itself (invalid_request): the same request can never succeed."""

    code = "stripe_invalid_request"
