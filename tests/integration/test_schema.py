from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db.tables import refunds
from tests.support.clock import NOW


async def test_schema_accepts_rows_on_both_backends(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            insert(refunds).values(
                id="rf_1",
                payment_id="pay_1",
                amount=5,
                currency="eur",
                status="pending",
                source="api",
                created_at=NOW,
                updated_at=NOW,
            )
        )
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(refunds)) == 1
