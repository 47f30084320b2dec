"""`expand[]`: ids replaced by the objects they name, along dotted paths (`data.` walks a list)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from .objects import list_object
from .store import Store
from .versions import render_answer

JSON = dict[str, Any]


def _expand_path(store: Store, value: Any, path: list[str], api_version: str) -> Any:
    if not path or not isinstance(value, dict):
        return value
    head, rest = path[0], path[1:]
    if head == "data" and value.get("object") == "list":
        value["data"] = [_expand_path(store, item, rest, api_version) for item in value["data"]]
        return value
    target = value.get(head)
    if isinstance(target, str):
        found = store.find(target)
        if found is not None:
            target = render_answer(found, api_version, charges_of(store))
    elif target is None and head == "line_items" and value.get("object") == "checkout.session":
        # Not on the object unless asked for, exactly as Stripe does.
        items = copy.deepcopy(store.line_items.get(value["id"], []))
        target = list_object(items, f"/v1/checkout/sessions/{value['id']}/line_items")
    elif target is None and head == "refunds" and value.get("object") == "charge":
        # Since 2022-11-15 a charge's refunds are listed only when asked for.
        mine = [r for r in store.newest_first("refunds") if r["charge"] == value["id"]]
        target = list_object(render_answer(mine, api_version), f"/v1/charges/{value['id']}/refunds")
    if head in value or target is not None:
        value[head] = _expand_path(store, target, rest, api_version)
    return value


def charges_of(store: Store) -> Callable[[str], list[JSON]]:
    """A PaymentIntent's charges, newest first: what versions before 2022-11-15 embed in it."""

    def charges(intent_id: str) -> list[JSON]:
        return [c for c in store.newest_first("charges") if c.get("payment_intent") == intent_id]

    return charges


def expand(store: Store, obj: JSON, paths: list[str], api_version: str) -> JSON:
    """``obj`` (already rendered in ``api_version``) with ``paths`` expanded, what they bring rendered too."""
    result = copy.deepcopy(obj)  # render_answer copied it, but a caller may pass the stored object
    for path in paths:
        result = _expand_path(store, result, path.split("."), api_version)
    return result
