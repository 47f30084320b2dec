"""The Stripe webhook endpoint: no service token (Stripe signs instead), raw body, fast path."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from payments.api.http.auth import container

router = APIRouter()

MAX_BODY = 512 * 1024  # Stripe events are a few KiB; refuse to buffer anything absurd


@router.post("/v1/webhooks/stripe")
async def stripe_webhook(request: Request) -> JSONResponse:
    too_large = JSONResponse({"error": {"code": "payload_too_large", "message": "event too large"}}, 413)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return too_large  # refused before reading it
    body = await request.body()
    if len(body) > MAX_BODY:
        return too_large
    handled = await container(request).webhooks.receive(body, request.headers.get("stripe-signature"))
    return JSONResponse({"received": True, "duplicate": handled.duplicate})
