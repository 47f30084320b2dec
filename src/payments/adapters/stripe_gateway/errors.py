"""The project's view of Stripe failures; nothing outside the gateway sees a ``stripe`` exception."""

from __future__ import annotations

from enum import StrEnum


class GatewayErrorKind(StrEnum):
    CARD = "card_error"  # the customer's card said no
    INVALID = "invalid_request"  # we sent something Stripe refuses: a bug or a state race
    IDEMPOTENCY = "idempotency_error"  # an idempotency key reused with other parameters
    AUTH = "authentication"  # our key is wrong: an operator problem
    UNAVAILABLE = "unavailable"  # network, timeout, 5xx, rate limit: a retry may work


class GatewayError(Exception):
    def __init__(
        self, kind: GatewayErrorKind, message: str, *, code: str | None = None, param: str | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.code = code
        # The request parameter Stripe names (never its value: Stripe's messages may echo an email back).
        self.param = param

    @property
    def retryable(self) -> bool:
        return self.kind is GatewayErrorKind.UNAVAILABLE
