"""Pages people use, served by ``payments serve``: the operator console and the referrer dashboard.

Server-rendered Jinja2 with one stylesheet served by the service itself (no CDN, no build step). Routes
only translate: they call payments.operations and the referral service, as the API and CLI do.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.responses import Response

from payments.pages.console.routes import router as console_router
from payments.pages.referrer.routes import router as referrer_router
from payments.pages.rendering import asset

assets = APIRouter(include_in_schema=False)


@assets.get("/pages/assets/{name}")
async def page_asset(name: str) -> Response:
    return asset(name)


def install(app: FastAPI) -> None:
    app.include_router(assets)
    app.include_router(console_router)
    app.include_router(referrer_router)
