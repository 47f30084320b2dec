"""Bearer tokens: the service/admin token for ``/v1`` calls; a referrer's JWT for its own report.

A refusal is ``payments.errors.Unauthenticated`` (a bad referrer token its subclass ``invalid_token``), so
it answers through the one error model as gRPC's does: the same body, 401 and ``WWW-Authenticate``.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from payments.bootstrap import Container
from payments.errors import Unauthenticated


@dataclass(frozen=True, slots=True)
class Caller:
    admin: bool
    referrer_id: str | None = None


def container(request: Request) -> Container:
    return request.app.state.container  # type: ignore[no-any-return]


def _bearer(request: Request) -> str | None:
    return bearer_token(request.headers.get("authorization", ""))


def bearer_token(header: str) -> str | None:
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def is_service_token(c: Container, token: str | None) -> bool:
    expected = c.settings.api_token
    if expected is None:
        return not c.settings.is_prod  # dev without a token: open (a warning is logged at start-up)
    return token is not None and hmac.compare_digest(token.encode(), expected.get_secret_value().encode())


def require_service(request: Request) -> None:
    if not is_service_token(container(request), _bearer(request)):
        raise Unauthenticated("a valid service token is required")


class ServiceRoute(APIRoute):
    """A route for the service token only, checked before FastAPI reads or parses the body.

    FastAPI reads and validates the body before it runs dependencies, so a ``Depends(require_service)``
    lets anyone make us buffer and parse a body (and answers malformed JSON with 422 before 401).
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def authenticated(request: Request) -> Response:
            require_service(request)
            return await handler(request)

        return authenticated


def service_or_referrer(request: Request) -> Caller:
    """The admin/service token sees everything; a referrer's token only what is its own."""
    c = container(request)
    token = _bearer(request)
    if c.settings.api_token is not None and token is not None and is_service_token(c, token):
        return Caller(admin=True)
    if token is not None and c.settings.jwt_secret is not None:
        from payments.referrals.access import referrer_from_token

        # InvalidReferrerToken (code invalid_token) goes to the error model as it is.
        return Caller(
            admin=False,
            referrer_id=referrer_from_token(token, c.settings.jwt_secret, c.settings.token_policy()),
        )
    if is_service_token(c, token):
        return Caller(admin=True)
    raise Unauthenticated("a valid token is required")
