"""An order's history: every state diff Orders was (or will be) told, across its attempts, in seq order."""

from __future__ import annotations

from typing import Any

from payments.errors import NotFound
from payments.unit_of_work import UnitOfWorkFactory


class OrderHistory:
    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def of_order(self, order_id: str) -> list[dict[str, Any]]:
        """NotFound for an order we have no payment for, and for one whose payment changed nothing yet."""
        async with self._uow() as uow:
            rows = await uow.diffs.history(order_id)
            if rows:
                return rows
            known = await uow.payments.latest_for_order(order_id) is not None
        if not known:
            raise NotFound(f"no payment for order {order_id}")
        raise NotFound(f"no history for order {order_id}")
