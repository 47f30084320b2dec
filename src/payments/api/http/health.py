"""Liveness, readiness (the database, and Redis when configured) and Prometheus metrics."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from payments.api.http.auth import container, require_service

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


class ReadyOut(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, Literal["ok", "down"]]  # the database, and Redis when configured


@router.get(
    "/readyz",
    response_model=ReadyOut,
    responses={503: {"model": ReadyOut, "description": "Not ready: ``checks`` names what is down"}},
)
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
