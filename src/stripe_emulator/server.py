"""The ASGI app and the process that serves it (`python -m stripe_emulator`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import checkout_page, routes_checkout, routes_events, routes_helpers, routes_payments
from .checkout_flow import expire_due_sessions
from .engine import Emulator
from .errors import StripeError
from .routes_events import register_endpoint
from .store import Store

# How often the clock checks `expires_at`; API calls also check, so this only matters to webhooks.
EXPIRY_CHECK_S = 0.25


async def _expiry_loop(emu: Emulator) -> None:
    while True:
        await asyncio.sleep(EXPIRY_CHECK_S)
        if expire_due_sessions(emu):
            emu.store.save()


def _not_found(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 404
    error = StripeError(
        status,
        "invalid_request_error",
        f"Unrecognized request URL ({request.method}: {request.url.path}). "
        "Please see https://stripe.com/docs or we can help at https://support.stripe.com/.",
    )
    return JSONResponse(error.body(), status_code=status)


def build_app(state_file: str | None = None, public_base_url: str | None = None) -> Starlette:
    """The emulator as an ASGI app.

    `public_base_url` None → a session's page lives on the host the session was created through.
    """
    store = Store(Path(state_file) if state_file else None)
    store.load()
    emu = Emulator.create(store, public_base_url)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        expiry = asyncio.create_task(_expiry_loop(emu))
        try:
            yield
        finally:
            expiry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await expiry
            await emu.dispatcher.close()
            store.save()

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    app = Starlette(
        routes=[
            *routes_checkout.routes(emu),
            *routes_payments.routes(emu),
            *routes_events.routes(emu),
            *routes_helpers.routes(emu),
            *checkout_page.routes(emu),
            Route("/_emulator/health", health, methods=["GET"]),
        ],
        lifespan=lifespan,
        exception_handlers={404: _not_found, 405: _not_found},
    )
    app.state.emulator = emu
    return app


def _register_webhook(app: Starlette, url: str, secret: str | None) -> None:
    emu: Emulator = app.state.emulator
    for existing in emu.store.table("webhook_endpoints").values():
        if existing["url"] == url:
            # A restart over a state file keeps the endpoint; only the secret may have changed.
            if secret:
                emu.store.endpoint_secrets[existing["id"]] = secret
            return
    register_endpoint(emu, url, ["*"], secret=secret, description="registered by --webhook")
    emu.store.save()


def serve(
    host: str = "127.0.0.1",
    port: int = 12111,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    state_file: str | None = None,
) -> None:
    """Blocking. Prints `emulator listening on http://HOST:PORT` once it accepts connections."""
    import uvicorn

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    real_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if family == socket.AF_INET6 else host
    address = f"http://{shown_host}:{real_port}"
    public = os.environ.get("STRIPE_EMULATOR_PUBLIC_URL") or (
        address if host not in ("0.0.0.0", "::") else f"http://127.0.0.1:{real_port}"
    )
    app = build_app(state_file=state_file, public_base_url=public)
    if webhook_url:
        _register_webhook(app, webhook_url, webhook_secret)

    class _Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if not self.should_exit:
                print(f"emulator listening on {address}", flush=True)

    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    _Server(config).run(sockets=[sock])
    sys.stdout.flush()
