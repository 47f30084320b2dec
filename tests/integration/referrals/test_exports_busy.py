"""A CSV download when every connection of the exports' own pool is taken: ExportsBusy (HTTP 503), not a
wait on the connections webhooks use, nor a traceback."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db.engine import create_engine
from payments.adapters.db.unit_of_work import SqlPaymentStore
from payments.bootstrap import ExportStore
from payments.referrals import CommissionService
from payments.referrals.models import ExportsBusy
from tests.integration.referrals.support import SETTINGS

# SQLite has no pool to exhaust (one file, one writer): the export pool is PostgreSQL's.
postgres_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@postgres_only
async def test_a_download_with_every_export_connection_taken_is_exports_busy(engine: AsyncEngine) -> None:
    small = create_engine(
        engine.url.render_as_string(hide_password=False), pool_size=1, max_overflow=0, pool_timeout=0.2
    )
    exports = ExportStore()
    exports.engine = lambda: small
    service = CommissionService(SETTINGS, SqlPaymentStore(engine), exports)
    try:
        async with small.connect():  # the pool's one connection, held by a slow download
            with pytest.raises(ExportsBusy):
                await anext(service.stream_report_csv("ref_1"))
        header = await anext(service.stream_report_csv("ref_1"))
        assert header.startswith("id,created_at,")
    finally:
        await small.dispose()
