"""`/v1/checkout/sessions`: create, retrieve, update, list, expire, line items."""

from __future__ import annotations

import copy
from typing import Any

from starlette.routing import Route

from .api import ApiCall, endpoint
from .checkout_flow import create_session, expire_session, update_session
from .engine import Emulator
from .forms import get_str
from .store import matches_created, paginate

JSON = dict[str, Any]


def _create(call: ApiCall) -> JSON:
    return create_session(call.emu, call.params, call.base_url)


def _retrieve(call: ApiCall) -> JSON:
    return call.emu.store.get("checkout_sessions", call.path["id"])


def _update(call: ApiCall) -> JSON:
    return update_session(call.emu.store.get("checkout_sessions", call.path["id"]), call.params)


def _list(call: ApiCall) -> JSON:
    filters = {name: get_str(call.params, name) for name in ("payment_intent", "customer", "status")}
    sessions = [
        session
        for session in call.emu.store.newest_first("checkout_sessions")
        if all(value is None or session.get(name) == value for name, value in filters.items())
        and matches_created(session, call.params)
    ]
    return paginate(sessions, call.params, "/v1/checkout/sessions")


def _expire(call: ApiCall) -> JSON:
    return expire_session(call.emu, call.emu.store.get("checkout_sessions", call.path["id"]))


def _line_items(call: ApiCall) -> JSON:
    session = call.emu.store.get("checkout_sessions", call.path["id"])
    items = list(copy.deepcopy(call.emu.store.line_items.get(session["id"], [])))
    return paginate(items, call.params, f"/v1/checkout/sessions/{session['id']}/line_items")


def routes(emu: Emulator) -> list[Route]:
    base = "/v1/checkout/sessions"
    return [
        Route(base, endpoint(emu, _create, mutating=True), methods=["POST"]),
        Route(base, endpoint(emu, _list, mutating=False), methods=["GET"]),
        Route(base + "/{id}", endpoint(emu, _retrieve, mutating=False), methods=["GET"]),
        Route(base + "/{id}", endpoint(emu, _update, mutating=True), methods=["POST"]),
        Route(base + "/{id}/expire", endpoint(emu, _expire, mutating=True), methods=["POST"]),
        Route(base + "/{id}/line_items", endpoint(emu, _line_items, mutating=False), methods=["GET"]),
    ]
