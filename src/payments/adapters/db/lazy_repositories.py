"""The repositories of a unit of work, built on first use, over the connection it hands them."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from payments.adapters.db.operations_reads import SqlOperatorReads
from payments.adapters.db.operator_log_repo import SqlOperatorLog
from payments.adapters.db.outbox_repo import SqlOutboxRepository
from payments.adapters.db.referrals import SqlReferralRepositories
from payments.adapters.db.repositories import (
    SqlDiffRepository,
    SqlEventRepository,
    SqlPaymentRepository,
    SqlRefundRepository,
)
from payments.adapters.db.sweep_repo import SqlSweepLeases


class LazyRepositories:
    """The repositories of a unit of work, built on first use: most units of work (a webhook's) touch none
    of them, and building nine per transaction was measurable on the webhook path."""

    _raw: Any = None  # the asyncpg connection under connection(), when the unit of work holds it

    async def connection(self) -> AsyncConnection:
        raise NotImplementedError

    @cached_property
    def payments(self) -> SqlPaymentRepository:
        return SqlPaymentRepository(self.connection, self._raw)

    @cached_property
    def refunds(self) -> SqlRefundRepository:
        return SqlRefundRepository(self.connection)

    @cached_property
    def diffs(self) -> SqlDiffRepository:
        return SqlDiffRepository(self.connection)

    @cached_property
    def outbox(self) -> SqlOutboxRepository:
        return SqlOutboxRepository(self.connection)

    @cached_property
    def events(self) -> SqlEventRepository:
        return SqlEventRepository(self.connection)

    @cached_property
    def operator_reads(self) -> SqlOperatorReads:
        return SqlOperatorReads(self.connection)

    @cached_property
    def operator_log(self) -> SqlOperatorLog:
        return SqlOperatorLog(self.connection)

    @cached_property
    def sweeps(self) -> SqlSweepLeases:
        return SqlSweepLeases(self.connection)

    @cached_property
    def referrals(self) -> SqlReferralRepositories:
        return SqlReferralRepositories(self.connection)
