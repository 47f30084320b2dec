"""The operator action log's rows (``operator_actions``)."""

from __future__ import annotations

from sqlalchemy import RowMapping, insert, select

from payments.adapters.db.repositories import ConnectionSource
from payments.adapters.db.tables import operator_actions
from payments.adapters.db.timestamps import as_utc
from payments.records import OperatorAction


def _entry(row: RowMapping) -> OperatorAction:
    return OperatorAction(
        id=row["id"],
        at=as_utc(row["at"]),
        actor=row["actor"],
        action=row["action"],
        subject=row["subject"],
        outcome=row["outcome"],
        ok=bool(row["ok"]),
    )


class SqlOperatorLog:
    def __init__(self, connection: ConnectionSource) -> None:
        self._connection = connection

    async def record(self, entry: OperatorAction) -> None:
        await (await self._connection()).execute(
            insert(operator_actions).values(
                id=entry.id,
                at=entry.at,
                actor=entry.actor,
                action=entry.action,
                subject=entry.subject,
                outcome=entry.outcome,
                ok=entry.ok,
            )
        )

    async def latest(self, action: str) -> OperatorAction | None:
        row = (
            (
                await (await self._connection()).execute(
                    select(operator_actions)
                    .where(operator_actions.c.action == action)
                    .order_by(operator_actions.c.at.desc(), operator_actions.c.id.desc())
                    .limit(1)
                )
            )
            .mappings()
            .first()
        )
        return _entry(row) if row else None

    async def get(self, entry_id: str) -> OperatorAction | None:
        row = (
            (
                await (await self._connection()).execute(
                    select(operator_actions).where(operator_actions.c.id == entry_id)
                )
            )
            .mappings()
            .first()
        )
        return _entry(row) if row else None
