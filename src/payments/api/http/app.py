"""The FastAPI application: routers, error shape, request ids, metrics."""

from __future__ import annotations

import functools
from typing import Any

from fastapi import Depends, FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from payments.api.http import errors, health, landing, payment_creation, payments, referrals, webhooks
from payments.api.http.bare import route_path
from payments.api.http.limits import LimitBody
from payments.api.http.middleware import ObserveRequests
from payments.api.http.params import storable_params
from payments.api.http.payment_creation import CreatePaymentEndpoint
from payments.api.http.webhooks import StripeWebhookEndpoint
from payments.bootstrap import Container
from payments.pages import install as install_pages


class PaymentsApp(FastAPI):
    """FastAPI with two endpoints answered in front of all of it: Stripe's webhook (webhooks.py; even
    FastAPI's telemetry check and Starlette's outermost middleware cost it more than its HMAC check) and a
    well-formed payment creation (payment_creation.py). What they do not answer they hand to FastAPI."""

    _bare: dict[str, ASGIApp] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            endpoint = (self._bare or self._bare_endpoints()).get(route_path(scope))
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    def openapi(self) -> dict[str, Any]:
        """FastAPI's schema, and the webhook route its routes do not describe (answered ahead of them)."""
        if self.openapi_schema is None:
            super().openapi()["paths"].setdefault(webhooks.PATH, webhooks.OPENAPI)
        assert self.openapi_schema is not None
        return self.openapi_schema

    def _bare_endpoints(self) -> dict[str, ASGIApp]:
        container = self.state.container
        whole = functools.partial(FastAPI.__call__, self)
        self._bare = {
            webhooks.PATH: StripeWebhookEndpoint(whole, container.webhooks),
            payment_creation.PATH: CreatePaymentEndpoint(whole, container),
        }
        return self._bare


def create_app(container: Container) -> FastAPI:
    # The schema is a map of every route and field; prod serves it only when PAYMENTS_EXPOSE_DOCS says so.
    exposed = container.settings.docs_exposed
    app = PaymentsApp(
        title="payments",
        version="1.0",
        dependencies=[Depends(storable_params)],  # every route, those added later included
        docs_url="/docs" if exposed else None,
        openapi_url="/openapi.json" if exposed else None,
        redoc_url=None,
    )
    app.state.container = container
    errors.install(app)
    app.include_router(payments.router)
    app.include_router(health.router)
    app.include_router(referrals.router)
    app.include_router(referrals.admin)
    app.include_router(landing.router)
    install_pages(app)

    app.add_middleware(LimitBody)
    app.add_middleware(ObserveRequests)  # added last: outermost, so it also sees the 413s
    return app
