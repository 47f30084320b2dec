"""The FastAPI application: routers, error shape, request ids, metrics."""

from __future__ import annotations

from fastapi import FastAPI

from payments.api.http import errors, health, payments, referrals, webhooks
from payments.api.http.middleware import ObserveRequests
from payments.bootstrap import Container
from payments.pages import install as install_pages


def create_app(container: Container) -> FastAPI:
    # The schema is a map of every route and field; prod serves it only when PAYMENTS_EXPOSE_DOCS says so.
    exposed = container.settings.docs_exposed
    app = FastAPI(
        title="payments",
        version="1.0",
        docs_url="/docs" if exposed else None,
        openapi_url="/openapi.json" if exposed else None,
        redoc_url=None,
    )
    app.state.container = container
    errors.install(app)
    app.include_router(webhooks.router)
    app.include_router(payments.router)
    app.include_router(health.router)
    app.include_router(referrals.router)
    install_pages(app)

    app.add_middleware(ObserveRequests)
    return app
