"""The FastAPI application: routers, error shape, request ids, metrics."""

from __future__ import annotations

from fastapi import Depends, FastAPI

from payments.api.http import errors, health, payments, referrals, webhooks
from payments.api.http.limits import LimitBody
from payments.api.http.middleware import ObserveRequests
from payments.api.http.params import storable_params
from payments.bootstrap import Container
from payments.pages import install as install_pages


def create_app(container: Container) -> FastAPI:
    app = FastAPI(
        title="payments",
        version="1.0",
        dependencies=[Depends(storable_params)],  # every route, those added later included
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.container = container
    errors.install(app)
    app.include_router(webhooks.router)
    app.include_router(payments.router)
    app.include_router(health.router)
    app.include_router(referrals.router)
    app.include_router(referrals.admin)
    install_pages(app)

    app.add_middleware(LimitBody)
    app.add_middleware(ObserveRequests)  # added last: outermost, so it also sees the 413s
    return app
