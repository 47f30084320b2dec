"""How long a referrer's report takes as the referrer grows: N = 1 000 and N = 1 000 000 commissions.

Run by hand (not a test):

    .venv/bin/python benchmarks/referral_report.py [postgresql+asyncpg://postgres@127.0.0.1:5432/test]

The URL may also come from PAYMENTS_BENCH_DATABASE_URL. The script creates a database of its own next to
the one named in the URL, seeds it with INSERT ... SELECT generate_series (one statement per referrer,
plus noise from other referrers), builds the daily totals the service would have kept, VACUUM ANALYZEs
it as autovacuum would, times ``get_report`` (median of several runs) and drops the database at the end.
It prints a markdown table, then the plans of the report's queries for the largest referrer so the index
use can be checked.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db import schema
from payments.adapters.db.engine import create_engine
from payments.adapters.db.unit_of_work import SqlPaymentStore
from payments.config import Settings
from payments.referrals import CommissionService

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
START = datetime(2025, 1, 1, tzinfo=UTC)

SEED_COMMISSIONS = """
INSERT INTO referral_commissions (
    id, order_id, payment_id, referrer_id, customer_user_id, currency, payment_amount, original_amount,
    amount, rate_bps, min_amount, hold_days, status, reason, status_before_hold, hold_until, paid_at,
    payout_id,
    created_at, updated_at)
SELECT 'com_' || $1 || '_' || g, 'ord_' || $1 || '_' || g, 'pay_' || $1 || '_' || g,
       CASE WHEN $3::int > 0 THEN $2 || '_' || (g % $3::int) ELSE $2 END,
       'user_' || g,
       CASE WHEN g % 10 = 0 THEN 'usd' ELSE 'eur' END,
       1000 + g % 50000, (1000 + g % 50000) / 10,
       CASE WHEN g % 7 = 6 THEN 0
            WHEN g % 13 = 0 THEN (1000 + g % 50000) / 20
            ELSE (1000 + g % 50000) / 10 END,
       1000, 100, 30,
       (ARRAY['pending', 'approved', 'paid', 'held', 'refused', 'canceled', 'reversed'])[1 + g % 7],
       CASE WHEN g % 7 = 4 THEN 'below_minimum' END, NULL,
       ts + interval '30 days', CASE WHEN g % 7 = 2 THEN ts + interval '31 days' END, NULL, ts, ts
FROM generate_series(1, $4::int) AS g,
     LATERAL (SELECT $5::timestamptz + g * ($6::bigint * interval '1 microsecond') AS ts) AS t
"""

# Clawbacks after payout on every 50th paid commission.
SEED_ADJUSTMENTS = """
INSERT INTO referral_adjustments (id, commission_id, referrer_id, currency, amount, reason, cause_event_id,
                                  commission_created_at, created_at, payout_id, settled_at)
SELECT 'adj_' || c.id, c.id, c.referrer_id, c.currency, -c.amount / 2, 'refund', 'evt_bench',
       c.created_at, c.created_at + interval '40 days', NULL, NULL
FROM referral_commissions c
WHERE c.id LIKE 'com_' || $1 || '_%' AND c.status = 'paid' AND (hashtext(c.id) % 50) = 0
"""

# What the service keeps up to date as it writes; the bulk seed bypasses the service, so build it once.
SEED_DAILY_TOTALS = """
INSERT INTO referral_daily_totals (referrer_id, day, status, currency, count, original_amount, amount)
SELECT referrer_id, date_trunc('day', created_at, 'UTC'), status, currency, count(*), sum(original_amount),
       sum(amount)
FROM referral_commissions
GROUP BY 1, 2, 3, 4
"""


def admin_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def with_database(url: str, name: str) -> str:
    return f"{url.rsplit('/', 1)[0]}/{name}"


async def seed(dsn: str, tag: str, referrer: str, n: int, spread_over: int = 0) -> None:
    """n commissions over one year; spread_over > 0 spreads them over that many referrers (noise)."""
    step_us = int(timedelta(days=365).total_seconds() * 1_000_000 // max(n, 1))
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(SEED_COMMISSIONS, tag, referrer, spread_over, n, START, step_us)
        await conn.execute(SEED_ADJUSTMENTS, tag)
    finally:
        await conn.close()


async def median_ms(fn: Callable[[], Awaitable[object]], runs: int) -> float:
    await fn()  # warm the pool, the plan and the cache
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


async def measure(
    engine: AsyncEngine, service: CommissionService, referrer: str, runs: int
) -> dict[str, float]:
    async def first_page() -> object:
        return await service.get_report(referrer, limit=50)

    cursor = (await service.get_report(referrer, limit=50)).next_cursor

    async def next_page() -> object:
        return await service.get_report(referrer, limit=50, cursor=cursor)

    async def paid_only() -> object:
        return await service.get_report(referrer, status="paid", limit=50)

    async def one_month() -> object:
        return await service.get_report(
            referrer,
            period_from=START + timedelta(days=90),
            period_to=START + timedelta(days=120),
            limit=50,
        )

    return {
        "first page + totals": await median_ms(first_page, runs),
        "next page (cursor)": await median_ms(next_page, runs),
        "status=paid": await median_ms(paid_only, runs),
        "one month": await median_ms(one_month, runs),
    }


PLANS = {
    "totals (daily rollup)": "SELECT status, currency, sum(count), sum(original_amount), sum(amount) "
    "FROM referral_daily_totals WHERE referrer_id = $1 GROUP BY status, currency",
    "first page": "SELECT * FROM referral_commissions WHERE referrer_id = $1 "
    "ORDER BY created_at DESC, id DESC LIMIT 51",
}


async def plans(dsn: str, referrer: str) -> str:
    conn = await asyncpg.connect(dsn)
    try:
        out = []
        for title, sql in PLANS.items():
            rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", referrer)
            out.append(f"-- {title}\n" + "\n".join(row[0] for row in rows))
    finally:
        await conn.close()
    return "\n\n".join(out)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("url", nargs="?", default=os.environ.get("PAYMENTS_BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--sizes", default="1000,1000000", help="commissions of the measured referrers")
    parser.add_argument("--noise", type=int, default=500_000, help="commissions of 10 000 other referrers")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    name = f"payments_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(admin_dsn(args.url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = with_database(args.url, name)
    dsn = admin_dsn(url)
    engine = create_engine(url)
    try:
        await schema.create_all(engine)
        started = time.perf_counter()
        await seed(dsn, "noise", "noise", args.noise, spread_over=10_000)
        for n in sizes:
            await seed(dsn, f"r{n}", f"ref_{n}", n)
        vacuum = await asyncpg.connect(dsn)
        try:
            await vacuum.execute(SEED_DAILY_TOTALS)
            await vacuum.execute("VACUUM ANALYZE")
            total = await vacuum.fetchval("SELECT count(*) FROM referral_commissions")
        finally:
            await vacuum.close()
        seeded_s = time.perf_counter() - started

        service = CommissionService(Settings(), SqlPaymentStore(engine))
        results = {n: await measure(engine, service, f"ref_{n}", args.runs) for n in sizes}
        columns = list(next(iter(results.values())))
        print(
            f"referral report on PostgreSQL: {total:,} commissions in the table (seeded in {seeded_s:.1f} s)"
        )
        print(f"median of {args.runs} runs, milliseconds, page size 50\n")
        print("| N (referrer's commissions) | " + " | ".join(columns) + " |")
        print("|---:|" + "---:|" * len(columns))
        for n, timings in results.items():
            print(f"| {n:,} | " + " | ".join(f"{timings[c]:.1f}" for c in columns) + " |")
        print(f"\nplans for ref_{sizes[-1]}:\n")
        print(await plans(dsn, f"ref_{sizes[-1]}"))
    finally:
        await engine.dispose()
        admin = await asyncpg.connect(admin_dsn(args.url))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
