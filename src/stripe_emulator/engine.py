"""What every flow needs: the state, the event log, and the address the hosted page is served at."""

from __future__ import annotations

from dataclasses import dataclass

from .events import EventLog
from .store import Store
from .webhooks import WebhookDispatcher


@dataclass
class Emulator:
    store: Store
    dispatcher: WebhookDispatcher
    events: EventLog
    public_base_url: str | None = None

    @classmethod
    def create(cls, store: Store, public_base_url: str | None = None) -> Emulator:
        dispatcher = WebhookDispatcher(store)
        return cls(store, dispatcher, EventLog(store, dispatcher), public_base_url)
