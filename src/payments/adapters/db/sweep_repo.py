"""The ``event_sweeps`` rows: each sweep's watermark and the lease one replica holds on it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from payments.adapters.db.repositories import ConnectionSource
from payments.adapters.db.tables import event_sweeps as sweeps
from payments.unit_of_work import ConcurrentWrite


class SqlSweepLeases:
    def __init__(self, connection: ConnectionSource) -> None:
        self._connection = connection

    async def take(self, name: str, owner: str, now: datetime, until: datetime) -> int | None:
        conn = await self._connection()
        taken = await conn.execute(
            update(sweeps)
            .where(
                sweeps.c.name == name,
                or_(
                    sweeps.c.lease_until.is_(None), sweeps.c.lease_until < now, sweeps.c.lease_owner == owner
                ),
            )
            .values(lease_owner=owner, lease_until=until, updated_at=now)
        )
        if not taken.rowcount:
            return None
        return int(await conn.scalar(select(sweeps.c.watermark).where(sweeps.c.name == name)) or 0)

    async def exists(self, name: str) -> bool:
        conn = await self._connection()
        return await conn.scalar(select(sweeps.c.name).where(sweeps.c.name == name)) is not None

    async def create(self, name: str, watermark: int, owner: str, until: datetime, now: datetime) -> None:
        try:
            await (await self._connection()).execute(
                insert(sweeps).values(
                    name=name, watermark=watermark, lease_owner=owner, lease_until=until, updated_at=now
                )
            )
        except IntegrityError:
            raise ConcurrentWrite(f"sweep {name} was created by another replica") from None

    async def advance(self, name: str, owner: str, watermark: int, until: datetime, now: datetime) -> bool:
        kept = await (await self._connection()).execute(
            update(sweeps)
            .where(sweeps.c.name == name, sweeps.c.lease_owner == owner)
            .values(watermark=watermark, lease_until=until, updated_at=now)
        )
        return bool(kept.rowcount)

    async def release(self, name: str, owner: str, watermark: int, now: datetime) -> None:
        await (await self._connection()).execute(
            update(sweeps)
            .where(sweeps.c.name == name, sweeps.c.lease_owner == owner)
            .values(watermark=watermark, lease_owner=None, lease_until=None, updated_at=now)
        )
