"""`/_emulator/…`: test helpers that act out what people, banks and networks do (JSON in, object out)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .cards import DELAYED, DelayedMethod, PaymentMethodSpec, card_for_number, method_for_payment_method_id
from .checkout_flow import fast_forward_session, pay_session
from .dispute_flow import close_dispute, open_dispute
from .engine import Emulator
from .errors import StripeError, invalid_request, resource_missing
from .payment_flow import settle
from .refund_flow import fail_refund

JSON = dict[str, Any]
Helper = Callable[[Emulator, Request, JSON], Awaitable[JSON]]


def _helper(emu: Emulator, handler: Helper) -> Callable[[Request], Awaitable[Response]]:
    async def run(request: Request) -> Response:
        try:
            raw = await request.body()
            body = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise invalid_request("The body must be a JSON object.")
            result = await handler(emu, request, body)
            status, payload = 200, result
        except json.JSONDecodeError:
            status, payload = 400, invalid_request("The body is not valid JSON.").body()
        except StripeError as exc:
            status, payload = exc.status, exc.body()
        if request.method == "POST":
            emu.store.save()
        return JSONResponse(payload, status_code=status)

    return run


def method_from_body(body: JSON) -> PaymentMethodSpec:
    if body.get("method") == DELAYED:
        return DelayedMethod()
    if isinstance(body.get("card"), str):
        return card_for_number(body["card"])
    if isinstance(body.get("payment_method"), str):
        method = method_for_payment_method_id(body["payment_method"])
        if method is None:
            raise resource_missing("PaymentMethod", body["payment_method"], param="payment_method")
        return method
    raise invalid_request('Give {"card": "4242424242424242"} or {"method": "delayed"}.', param="card")


async def _pay(emu: Emulator, request: Request, body: JSON) -> JSON:
    session = emu.store.get("checkout_sessions", request.path_params["id"])
    email = body.get("email") if isinstance(body.get("email"), str) else None
    name = body.get("name") if isinstance(body.get("name"), str) else None
    return pay_session(emu, session, method_from_body(body), email=email, name=name)


async def _fast_forward(emu: Emulator, request: Request, body: JSON) -> JSON:
    session = emu.store.get("checkout_sessions", request.path_params["id"])
    seconds = body.get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise invalid_request("seconds must be a non-negative integer.", param="seconds")
    return fast_forward_session(emu, session, seconds)


async def _settle(emu: Emulator, request: Request, body: JSON) -> JSON:
    pi = emu.store.get("payment_intents", request.path_params["id"])
    return settle(emu, pi, str(body.get("outcome", "succeeded")))


async def _dispute(emu: Emulator, request: Request, body: JSON) -> JSON:
    return open_dispute(emu, emu.store.get("charges", request.path_params["id"]))


async def _close(emu: Emulator, request: Request, body: JSON) -> JSON:
    dispute = emu.store.get("disputes", request.path_params["id"])
    return close_dispute(emu, dispute, str(body.get("outcome", "")))


async def _fail_refund(emu: Emulator, request: Request, body: JSON) -> JSON:
    return fail_refund(emu, emu.store.get("refunds", request.path_params["id"]))


async def _chaos(emu: Emulator, request: Request, body: JSON) -> JSON:
    chaos = emu.dispatcher.chaos
    if request.method == "POST":
        try:
            if "duplicates" in body:
                chaos.duplicates = max(1, int(body["duplicates"]))
            if "delay_ms" in body:
                chaos.delay_ms = max(0, int(body["delay_ms"]))
            if "shuffle" in body:
                chaos.shuffle = bool(body["shuffle"])
            if "drop_first" in body:
                chaos.drop_first = bool(body["drop_first"])
        except (TypeError, ValueError):
            raise invalid_request("duplicates and delay_ms must be integers.") from None
    return chaos.as_dict()


async def _deliveries(emu: Emulator, request: Request, body: JSON) -> JSON:
    wanted = {name: request.query_params.get(name) for name in ("event_id", "type", "endpoint_id")}
    data = [
        record
        for record in emu.store.deliveries
        if all(value is None or record.get(name) == value for name, value in wanted.items())
    ]
    return {"object": "list", "data": data}


async def _resend(emu: Emulator, request: Request, body: JSON) -> JSON:
    event = emu.store.get("events", request.path_params["id"])
    only = body.get("endpoint")
    queued = emu.dispatcher.enqueue(event, endpoint_ids=[str(only)] if only else None)
    return {"event": event["id"], "queued": queued}


async def _reset(emu: Emulator, request: Request, body: JSON) -> JSON:
    await emu.dispatcher.reset()
    emu.store.reset()
    return {"reset": True}


def routes(emu: Emulator) -> list[Route]:
    def post(path: str, handler: Helper) -> Route:
        return Route("/_emulator" + path, _helper(emu, handler), methods=["POST"])

    return [
        post("/checkout/sessions/{id}/pay", _pay),
        post("/checkout/sessions/{id}/fast_forward", _fast_forward),
        post("/payment_intents/{id}/settle", _settle),
        post("/charges/{id}/dispute", _dispute),
        post("/disputes/{id}/close", _close),
        post("/refunds/{id}/fail", _fail_refund),
        Route("/_emulator/chaos", _helper(emu, _chaos), methods=["GET", "POST"]),
        Route("/_emulator/deliveries", _helper(emu, _deliveries), methods=["GET"]),
        post("/events/{id}/resend", _resend),
        post("/reset", _reset),
    ]
