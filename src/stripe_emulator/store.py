"""The emulator's whole state: Stripe objects by kind, idempotent answers, delivery log; JSON on disk."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import invalid_request, resource_missing
from .forms import get_int, get_str
from .objects import API_VERSION

JSON = dict[str, Any]

# kind -> (id prefix, label Stripe uses in "No such …" messages)
KINDS: dict[str, tuple[str, str]] = {
    "checkout_sessions": ("cs_", "checkout.session"),
    "payment_intents": ("pi_", "payment_intent"),
    "payment_methods": ("pm_", "PaymentMethod"),
    "charges": ("ch_", "charge"),
    "refunds": ("re_", "refund"),
    "disputes": ("dp_", "dispute"),
    "events": ("evt_", "event"),
    "webhook_endpoints": ("we_", "webhook endpoint"),
}


@dataclass
class IdempotentAnswer:
    fingerprint: str
    status: int
    body: str
    request_id: str
    api_version: str = API_VERSION  # the shape the body was rendered in, said again on a replay


@dataclass
class Store:
    path: Path | None = None
    objects: dict[str, dict[str, JSON]] = field(default_factory=lambda: {kind: {} for kind in KINDS})
    # Internal facts Stripe keeps but does not show on the objects themselves.
    line_items: dict[str, list[JSON]] = field(default_factory=dict)
    session_of_payment_intent: dict[str, str] = field(default_factory=dict)
    payment_intent_data: dict[str, JSON] = field(default_factory=dict)
    endpoint_secrets: dict[str, str] = field(default_factory=dict)
    idempotency: dict[str, IdempotentAnswer] = field(default_factory=dict)
    deliveries: list[JSON] = field(default_factory=list)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def table(self, kind: str) -> dict[str, JSON]:
        return self.objects[kind]

    def add(self, kind: str, obj: JSON) -> JSON:
        self.objects[kind][obj["id"]] = obj
        return obj

    def get(self, kind: str, object_id: str, *, param: str = "id") -> JSON:
        obj = self.objects[kind].get(object_id)
        if obj is None:
            raise resource_missing(KINDS[kind][1], object_id, param=param)
        return obj

    def find(self, object_id: str) -> JSON | None:
        """Any object by its id, as `expand` needs."""
        for kind, (prefix, _) in KINDS.items():
            if object_id.startswith(prefix):
                return self.objects[kind].get(object_id)
        return None

    def newest_first(self, kind: str) -> list[JSON]:
        # Insertion order is creation order; `created` alone ties within a second.
        return list(reversed(self.objects[kind].values()))

    def lock_for(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    def reset(self) -> None:
        for table in self.objects.values():
            table.clear()
        self.line_items.clear()
        self.session_of_payment_intent.clear()
        self.payment_intent_data.clear()
        self.endpoint_secrets.clear()
        self.idempotency.clear()
        self.deliveries.clear()
        self.save()

    def save(self) -> None:
        if self.path is None:
            return
        document = {
            "objects": self.objects,
            "line_items": self.line_items,
            "session_of_payment_intent": self.session_of_payment_intent,
            "payment_intent_data": self.payment_intent_data,
            "endpoint_secrets": self.endpoint_secrets,
            "idempotency": {key: vars(answer) for key, answer in self.idempotency.items()},
        }
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(document))
        # Atomic swap: a crash mid-write never leaves a half file to load next time.
        os.replace(tmp, self.path)

    def load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        document = json.loads(self.path.read_text() or "{}")
        for kind, table in document.get("objects", {}).items():
            with contextlib.suppress(KeyError):
                self.objects[kind].update(table)
        self.line_items.update(document.get("line_items", {}))
        self.session_of_payment_intent.update(document.get("session_of_payment_intent", {}))
        self.payment_intent_data.update(document.get("payment_intent_data", {}))
        self.endpoint_secrets.update(document.get("endpoint_secrets", {}))
        for key, answer in document.get("idempotency", {}).items():
            self.idempotency[key] = IdempotentAnswer(**answer)


def paginate(items: list[JSON], params: JSON, url: str) -> JSON:
    """Stripe's cursor pagination over a newest-first list."""
    limit = get_int(params, "limit")
    if limit is None:
        limit = 10
    if not 1 <= limit <= 100:
        raise invalid_request("This value must be between 1 and 100.", param="limit")
    starting_after = get_str(params, "starting_after")
    ending_before = get_str(params, "ending_before")
    ids = [item["id"] for item in items]
    if starting_after is not None:
        if starting_after not in ids:
            raise invalid_request(f"No such object: '{starting_after}'", param="starting_after")
        rest = items[ids.index(starting_after) + 1 :]
        page, has_more = rest[:limit], len(rest) > limit
    elif ending_before is not None:
        if ending_before not in ids:
            raise invalid_request(f"No such object: '{ending_before}'", param="ending_before")
        before = items[: ids.index(ending_before)]
        page, has_more = before[-limit:], len(before) > limit
    else:
        page, has_more = items[:limit], len(items) > limit
    return {"object": "list", "data": page, "has_more": has_more, "url": url}


def matches_created(obj: JSON, params: JSON) -> bool:
    """`created=…` or `created[gt|gte|lt|lte]=…` as Stripe's list endpoints take it."""
    created = params.get("created")
    if created is None or created == "":
        return True
    value = int(obj["created"])
    try:
        if isinstance(created, str):
            return value == int(created)
        bounds = {op: int(raw) for op, raw in created.items()}
    except (ValueError, AttributeError, TypeError):
        raise invalid_request("Invalid timestamp for created", param="created") from None
    checks = {
        "gt": lambda bound: value > bound,
        "gte": lambda bound: value >= bound,
        "lt": lambda bound: value < bound,
        "lte": lambda bound: value <= bound,
    }
    for op, bound in bounds.items():
        check = checks.get(op)
        if check is None:
            raise invalid_request(f"Received unknown parameter: created[{op}]", param=f"created[{op}]")
        if not check(bound):
            return False
    return True
