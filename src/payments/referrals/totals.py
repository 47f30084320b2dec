"""What one transaction did to the daily totals per referrer, day, status and currency.

Changes are collected while a transaction changes commissions and applied once at its end, after the
audit chain head is locked (see ``changes.record``).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from payments.domain.commission import Commission, day_of, first_whole_day

__all__ = ["TotalsChanges", "day_of", "first_whole_day"]


class TotalsChanges:
    """What one transaction did to the daily totals, netted per row."""

    def __init__(self) -> None:
        self._deltas: dict[tuple[str, datetime, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])

    def added(self, commission: Commission) -> None:
        self._add(commission, 1)

    def moved(self, before: Commission, after: Commission) -> None:
        if (before.status, before.amount, before.original_amount) != (
            after.status,
            after.amount,
            after.original_amount,
        ):
            self._add(before, -1)
            self._add(after, 1)

    def _add(self, commission: Commission, sign: int) -> None:
        key = (
            commission.referrer_id,
            day_of(commission.created_at),
            commission.status.value,
            commission.currency,
        )
        delta = self._deltas[key]
        delta[0] += sign
        delta[1] += sign * commission.original_amount
        delta[2] += sign * commission.amount

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "referrer_id": referrer_id,
                "day": day,
                "status": status,
                "currency": currency,
                "count": count,
                "original_amount": original,
                "amount": amount,
            }
            for (referrer_id, day, status, currency), (count, original, amount) in sorted(
                self._deltas.items()
            )
            if count or original or amount
        ]

    def __bool__(self) -> bool:
        return bool(self.rows())
