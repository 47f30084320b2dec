"""Events as a real account records them: a snapshot of the object at that moment, then delivery."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from . import objects
from .store import Store
from .webhooks import WebhookDispatcher

JSON = dict[str, Any]

# The API request behind the events being emitted; None for the page, helpers and timers,
# as Stripe leaves `request.id` null for what no API call caused.
_current_request: ContextVar[tuple[str | None, str | None]] = ContextVar(
    "current_request", default=(None, None)
)


@contextmanager
def caused_by(request_id: str | None, idempotency_key: str | None) -> Iterator[None]:
    token = _current_request.set((request_id, idempotency_key))
    try:
        yield
    finally:
        _current_request.reset(token)


class EventLog:
    def __init__(self, store: Store, dispatcher: WebhookDispatcher) -> None:
        self._store = store
        self._dispatcher = dispatcher

    def emit(self, event_type: str, obj: JSON, previous_attributes: JSON | None = None) -> JSON:
        request_id, idempotency_key = _current_request.get()
        event = objects.event(
            event_type=event_type,
            snapshot=copy.deepcopy(obj),
            previous_attributes=previous_attributes,
            request_id=request_id,
            idempotency_key=idempotency_key,
            pending_webhooks=len(self._dispatcher.endpoints_for(event_type)),
        )
        self._store.add("events", event)
        self._dispatcher.enqueue(event)
        return event
