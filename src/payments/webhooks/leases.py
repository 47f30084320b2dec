"""A housekeeping duty that one replica at a time should run: a lease on its ``event_sweeps`` row.

The row is created by the first replica that asks; a holder renews its lease each round it runs, and a
dead holder's lease lapses, so another takes over within one lease.
"""

from __future__ import annotations

from datetime import datetime

from payments.unit_of_work import ConcurrentWrite, UnitOfWorkFactory


async def take_lease(
    uow: UnitOfWorkFactory, name: str, owner: str, now: datetime, until: datetime, *, start: int = 0
) -> int | None:
    """The duty's watermark with the lease taken or renewed until ``until``; None while another
    replica holds it. A new row starts at ``start``."""
    async with uow() as tx:
        watermark = await tx.sweeps.take(name, owner, now, until)
        if watermark is not None:
            return watermark
        exists = await tx.sweeps.exists(name)
    if exists:
        return None
    try:
        async with uow() as tx:
            await tx.sweeps.create(name, start, owner, until, now)
    except ConcurrentWrite:  # another replica created it first: it holds the lease this round
        return None
    return start
