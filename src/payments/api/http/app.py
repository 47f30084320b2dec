"""The FastAPI application: routers, error shape, request ids, metrics."""

from __future__ import annotations

from fastapi import Depends, FastAPI
from starlette.types import ASGIApp

from payments.api.http import errors, health, landing, payments, referrals
from payments.api.http.limits import LimitBody
from payments.api.http.middleware import ObserveRequests
from payments.api.http.params import storable_params
from payments.api.http.webhooks import StripeWebhookEndpoint
from payments.bootstrap import Container
from payments.pages import install as install_pages


class PaymentsApp(FastAPI):
    """FastAPI with Stripe's webhook answered in front of its whole stack (api/http/webhooks.py): even
    Starlette's outermost error and telemetry middleware cost the webhook more than its HMAC check."""

    def build_middleware_stack(self) -> ASGIApp:
        return StripeWebhookEndpoint(super().build_middleware_stack(), self.state.container.webhooks)


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
