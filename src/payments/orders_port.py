"""What the outbox relay needs from the Orders service, whatever the transport."""

from __future__ import annotations

from typing import Protocol

from payments.domain.state_diff import OrderUpdate


class OrdersSettingsError(ValueError):
    """``PAYMENTS_ORDERS_URL`` or a ``PAYMENTS_ORDERS_TLS_*`` file cannot work; the message names the setting
    in one line. ``bootstrap`` turns it into the ``ConfigError`` every entry point reports without a
    traceback (adapters do not import the settings)."""


class OrdersError(Exception):
    """Orders did not take the update. The message is short and carries no secrets: it is stored."""


class OrdersUnavailable(OrdersError):
    """Worth retrying soon: Orders is down, slow, overloaded or failed on its side."""


class OrdersRejected(OrdersError):
    """Orders refused this update as it is; retrying the same bytes will not help without a person."""


class OrdersClient(Protocol):
    async def apply(self, update: OrderUpdate) -> None:
        """Deliver one diff, keyed by its idempotency key; a key Orders has already seen counts as delivered.

        Raises OrdersUnavailable or OrdersRejected.
        """
        ...

    async def close(self) -> None: ...
