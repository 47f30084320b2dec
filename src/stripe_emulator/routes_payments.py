"""`/v1/payment_intents`, `/v1/charges`, `/v1/refunds`, `/v1/disputes`, `/v1/payment_methods`."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from .api import ApiCall, endpoint
from .engine import Emulator
from .errors import invalid_request
from .forms import get_metadata, get_str
from .payment_flow import (
    cancel_payment_intent,
    confirm_payment_intent,
    create_payment_intent,
    update_payment_intent,
)
from .refund_flow import create_refund, update_refund
from .store import matches_created, paginate

JSON = dict[str, Any]


def _filtered(call: ApiCall, kind: str, names: tuple[str, ...], url: str) -> JSON:
    filters = {name: get_str(call.params, name) for name in names}
    items = [
        obj
        for obj in call.emu.store.newest_first(kind)
        if all(value is None or obj.get(name) == value for name, value in filters.items())
        and matches_created(obj, call.params)
    ]
    return paginate(items, call.params, url)


def _pi(call: ApiCall) -> JSON:
    return call.emu.store.get("payment_intents", call.path["id"])


def _charge(call: ApiCall) -> JSON:
    return call.emu.store.get("charges", call.path["id"])


def _refund(call: ApiCall) -> JSON:
    return call.emu.store.get("refunds", call.path["id"])


def _dispute(call: ApiCall) -> JSON:
    return call.emu.store.get("disputes", call.path["id"])


def _charge_update(call: ApiCall) -> JSON:
    charge = _charge(call)
    metadata = get_metadata(call.params)
    if metadata is not None:
        charge["metadata"] = {**charge["metadata"], **metadata}
    return charge


def _cancel_pi(call: ApiCall) -> JSON:
    pi = _pi(call)
    if pi["id"] in call.emu.store.session_of_payment_intent:
        # Stripe: a Checkout Session's intent ends with its session (expire the session instead).
        raise invalid_request("You cannot perform this action on PaymentIntents created by Checkout.")
    return cancel_payment_intent(call.emu, pi, get_str(call.params, "cancellation_reason"))


def routes(emu: Emulator) -> list[Route]:
    def get(path: str, handler: Any) -> Route:
        return Route(path, endpoint(emu, handler, mutating=False), methods=["GET"])

    def post(path: str, handler: Any) -> Route:
        return Route(path, endpoint(emu, handler, mutating=True), methods=["POST"])

    return [
        post("/v1/payment_intents", lambda call: create_payment_intent(call.emu, call.params)),
        get(
            "/v1/payment_intents",
            lambda call: _filtered(call, "payment_intents", ("customer",), "/v1/payment_intents"),
        ),
        get("/v1/payment_intents/{id}", _pi),
        post(
            "/v1/payment_intents/{id}", lambda call: update_payment_intent(call.emu, _pi(call), call.params)
        ),
        post(
            "/v1/payment_intents/{id}/confirm",
            lambda call: confirm_payment_intent(call.emu, _pi(call), call.params),
        ),
        post("/v1/payment_intents/{id}/cancel", _cancel_pi),
        get(
            "/v1/charges",
            lambda call: _filtered(call, "charges", ("payment_intent", "customer"), "/v1/charges"),
        ),
        get("/v1/charges/{id}", _charge),
        post("/v1/charges/{id}", _charge_update),
        get(
            "/v1/charges/{id}/refunds",
            lambda call: paginate(
                [r for r in call.emu.store.newest_first("refunds") if r["charge"] == _charge(call)["id"]],
                call.params,
                f"/v1/charges/{call.path['id']}/refunds",
            ),
        ),
        post("/v1/refunds", lambda call: create_refund(call.emu, call.params)),
        get(
            "/v1/refunds",
            lambda call: _filtered(call, "refunds", ("charge", "payment_intent"), "/v1/refunds"),
        ),
        get("/v1/refunds/{id}", _refund),
        post("/v1/refunds/{id}", lambda call: update_refund(_refund(call), call.params)),
        get(
            "/v1/disputes",
            lambda call: _filtered(call, "disputes", ("charge", "payment_intent"), "/v1/disputes"),
        ),
        get("/v1/disputes/{id}", _dispute),
        get("/v1/payment_methods/{id}", lambda call: call.emu.store.get("payment_methods", call.path["id"])),
    ]
