"""Liveness, readiness (the database, and Redis when configured) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from payments.api.http.auth import container, require_service

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    c = container(request)
    checks: dict[str, str] = {}
    try:
        async with c.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:  # any failure means "not ready"; the reason goes to the log, not the answer
        checks["database"] = "down"
    if c.redis is not None:
        checks["redis"] = "ok" if await c.redis.ping() else "down"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": checks}, 200 if ready else 503
    )


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    # Route names, error rates and timings map the service for an attacker; in prod only the token sees them
    # unless PAYMENTS_METRICS_PUBLIC says the network already keeps strangers out.
    if not container(request).settings.metrics_open:
        require_service(request)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
