"""The FastAPI application: routers, error shape, request ids, metrics."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from payments.api.http import errors, health, payments, referrals, webhooks
from payments.bootstrap import Container
from payments.observability.metrics import HTTP_LATENCY, HTTP_REQUESTS

log = structlog.get_logger(__name__)


def create_app(container: Container) -> FastAPI:
    app = FastAPI(title="payments", version="1.0", docs_url="/docs", redoc_url=None)
    app.state.container = container
    errors.install(app)
    app.include_router(webhooks.router)
    app.include_router(payments.router)
    app.include_router(health.router)
    app.include_router(referrals.router)

    @app.middleware("http")
    async def _observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=request_id[:64])
        started = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:
            log.exception("http.unhandled", path=request.url.path)
            response = JSONResponse(
                {
                    "error": {
                        "code": "internal_error",
                        "message": "internal error; the request may be retried",
                    }
                },
                status_code=500,
            )
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        HTTP_REQUESTS.labels(request.method, path, str(response.status_code)).inc()
        HTTP_LATENCY.labels(request.method, path).observe(time.perf_counter() - started)
        response.headers["x-request-id"] = request_id[:64]
        return response

    return app
