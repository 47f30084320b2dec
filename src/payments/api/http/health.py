"""Liveness, readiness (the database, and Redis when configured) and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from payments.api.http.auth import container, require_service

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    report = await container(request).readiness.check()
    return JSONResponse(
        {"status": "ready" if report.ready else "not_ready", "checks": report.checks},
        200 if report.ready else 503,
    )


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    # Route names, error rates and timings map the service for an attacker; in prod only the token sees them
    # unless PAYMENTS_METRICS_PUBLIC says the network already keeps strangers out.
    if not container(request).settings.metrics_open:
        require_service(request)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
