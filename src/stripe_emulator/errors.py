"""Stripe's error shape: `{"error": {"type", "code", "message", "param", ...}}` with its status codes."""

from __future__ import annotations

from typing import Any


class StripeError(Exception):
    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.code = code
        self.param = param
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "type": self.type,
            "code": self.code,
            "message": self.message,
            "param": self.param,
        }
        if self.code:
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        error.update(self.extra)
        return {"error": error}


def invalid_request(message: str, *, param: str | None = None, code: str | None = None) -> StripeError:
    return StripeError(400, "invalid_request_error", message, code=code, param=param)


def resource_missing(label: str, object_id: str, *, param: str = "id") -> StripeError:
    return StripeError(
        404, "invalid_request_error", f"No such {label}: '{object_id}'", code="resource_missing", param=param
    )


def unauthorized(message: str) -> StripeError:
    return StripeError(401, "invalid_request_error", message)


def idempotency_error(message: str) -> StripeError:
    return StripeError(400, "idempotency_error", message)
