"""The Stripe webhook endpoint: no service token (Stripe signs instead), raw body, fast path."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from payments.api.http.auth import container
from payments.api.schemas import ERROR_RESPONSES

router = APIRouter(responses=ERROR_RESPONSES)


@router.post("/v1/webhooks/stripe")
async def stripe_webhook(request: Request) -> JSONResponse:
    body = await request.body()  # bounded by the LimitBody middleware (api/http/limits.py)
    handled = await container(request).webhooks.receive(body, request.headers.get("stripe-signature"))
    return JSONResponse({"received": True, "duplicate": handled.duplicate})
