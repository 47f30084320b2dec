"""An event rendered in an API version, as Stripe renders it for each webhook endpoint.

A webhook endpoint may pin an ``api_version``; Stripe then renders each event's object in that version's
shape (and stamps the version on the event). The emulator stores one snapshot carrying every field any
supported version shows, and removes what a version does not have. Supported: the shapes before and
after 2022-11-15, when Stripe stopped embedding a charge's ``refunds`` and removed a PaymentIntent's
``charges`` (use ``latest_charge``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from .objects import API_VERSION, list_object

JSON = dict[str, Any]

CHARGES_UNEMBEDDED = "2022-11-15"
# The oldest version the emulator renders; older pins are refused when an endpoint is created.
OLDEST = "2020-08-27"

# Per object type: fields that exist only before CHARGES_UNEMBEDDED.
_REMOVED_AT_2022_11_15 = {"charge": ("refunds",), "payment_intent": ("charges",)}


def supported(api_version: str) -> bool:
    return OLDEST <= api_version[:10] <= API_VERSION[:10] and _is_date(api_version[:10])


def _is_date(text: str) -> bool:
    parts = text.split("-")
    return len(parts) == 3 and all(p.isdigit() for p in parts) and [len(p) for p in parts] == [4, 2, 2]


def removed_fields(kind: str, api_version: str) -> frozenset[str]:
    """Fields of an object of type ``kind`` that ``api_version`` does not render."""
    if api_version[:10] >= CHARGES_UNEMBEDDED:
        return frozenset(_REMOVED_AT_2022_11_15.get(kind, ()))
    return frozenset()


def render_object(obj: JSON, api_version: str) -> JSON:
    """``obj`` (a full snapshot) as ``api_version`` shows it; ``obj`` itself is left untouched."""
    out = copy.deepcopy(obj)
    if api_version[:10] >= CHARGES_UNEMBEDDED:
        for field in _REMOVED_AT_2022_11_15.get(str(obj.get("object")), ()):
            out.pop(field, None)
    return out


def render_answer(value: Any, api_version: str, charges_of: Callable[[str], list[JSON]] | None = None) -> Any:
    """An API answer as ``api_version`` shows it, down through lists and expanded objects (a copy).

    Before 2022-11-15 a PaymentIntent embeds its charges: ``charges_of`` (an intent id to its stored
    charges) supplies them where the answer holds an intent.
    """
    if isinstance(value, list):
        return [render_answer(item, api_version, charges_of) for item in value]
    if not isinstance(value, dict):
        return value
    kind = str(value.get("object"))
    if kind == "event":
        return copy.deepcopy(value)  # an event keeps the shape it was rendered in (routes_events.py)
    dropped = removed_fields(kind, api_version)
    out = {k: render_answer(v, api_version, charges_of) for k, v in value.items() if k not in dropped}
    old = api_version[:10] < CHARGES_UNEMBEDDED
    if kind == "payment_intent" and old and charges_of is not None and "charges" not in value:
        charges = render_answer(charges_of(str(value["id"])), api_version, charges_of)
        out["charges"] = list_object(charges, f"/v1/charges?payment_intent={value['id']}")
    return out


def answer_version(requested: str | None) -> str:
    """The version an API call is answered in: its ``Stripe-Version``, or the account's when absent.

    One the emulator does not render is refused (``InvalidVersion``) rather than answered in another
    shape: Stripe refuses a malformed version, and renders old ones the emulator does not know.
    """
    if requested is None or not requested.strip():
        return API_VERSION
    if not supported(requested.strip()):
        raise InvalidVersion(requested.strip())
    return requested.strip()


class InvalidVersion(ValueError):
    pass


def render_event(event: JSON, api_version: str | None) -> JSON:
    version = api_version or API_VERSION
    out = dict(event)
    data = dict(event["data"])
    data["object"] = render_object(event["data"]["object"], version)
    previous = data.get("previous_attributes")
    if isinstance(previous, dict) and version[:10] >= CHARGES_UNEMBEDDED:
        kind = str(event["data"]["object"].get("object"))
        data["previous_attributes"] = {
            k: v for k, v in previous.items() if k not in _REMOVED_AT_2022_11_15.get(kind, ())
        }
    out["data"] = data
    out["api_version"] = version
    return out
