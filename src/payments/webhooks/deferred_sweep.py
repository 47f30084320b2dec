"""Housekeeping's sweep of deferred events, run by one replica at a time.

A deferred event raced the transaction linking its payment (a refund arriving with the completion);
``WebhookProcessor.sweep_deferred`` applies those whose payment is now known. Every replica used to sweep
each round, their transactions splitting the events between them (``SKIP LOCKED``): under load both
stalled together on a burst. The one replica holding the lease (``leases.py``) now sweeps; the others
only ask. docs/benchmarks.md has the two-worker figures before and after.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from payments.unit_of_work import UnitOfWorkFactory
from payments.webhooks.leases import take_lease


class DeferredEvents(Protocol):
    """What the sweep runs: ``WebhookProcessor.sweep_deferred``."""

    async def sweep_deferred(self) -> int: ...


class DeferredSweep:
    NAME = "deferred_events"

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        processor: DeferredEvents,
        clock: Callable[[], datetime],
        lease: timedelta = timedelta(seconds=30),
    ) -> None:
        self._uow = uow
        self._processor = processor
        self._clock = clock
        self._lease = lease  # renewed each round; a dead holder's lapses within it
        self._owner = uuid.uuid4().hex

    async def run_once(self) -> int | None:
        """The deferred events applied; None when another replica holds the sweep."""
        now = self._clock()
        if await take_lease(self._uow, self.NAME, self._owner, now, now + self._lease) is None:
            return None
        return await self._processor.sweep_deferred()
