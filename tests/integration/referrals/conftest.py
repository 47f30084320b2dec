"""After every referral test: the daily totals must equal what the commissions table says."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator

import pytest_asyncio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db.referral_tables import referral_commissions, referral_daily_totals
from payments.adapters.db.timestamps import as_utc as utc
from payments.referrals.totals import day_of


@pytest_asyncio.fixture(autouse=True)
async def daily_totals_match_commissions(engine: AsyncEngine) -> AsyncIterator[None]:
    yield
    c, t = referral_commissions, referral_daily_totals
    expected: dict[tuple[object, ...], list[int]] = defaultdict(lambda: [0, 0, 0])
    async with engine.connect() as conn:
        for row in await conn.execute(
            select(c.c.referrer_id, c.c.created_at, c.c.status, c.c.currency, c.c.original_amount, c.c.amount)
        ):
            total = expected[(row.referrer_id, day_of(row.created_at), row.status, row.currency)]
            total[0] += 1
            total[1] += int(row.original_amount)
            total[2] += int(row.amount)
        stored = {
            (row["referrer_id"], utc(row["day"]), row["status"], row["currency"]): [
                int(row["count"]),
                int(row["original_amount"]),
                int(row["amount"]),
            ]
            for row in (await conn.execute(select(t))).mappings()
        }
    assert {k: v for k, v in stored.items() if v != [0, 0, 0]} == dict(expected)
