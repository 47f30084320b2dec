"""Referrers ranked by what they earned, with their ban, for the console's referral programme page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db.referral_tables import referral_bans, referral_daily_totals
from payments.adapters.db.timestamps import as_utc_or_none
from payments.domain.commission import EARNING_STATUSES

TOP = 100

_t = referral_daily_totals


@dataclass(frozen=True, slots=True)
class ReferrerEarnings:
    referrer_id: str
    currency: str
    commissions: int
    gross: int  # original amounts of the earning commissions
    current: int  # what those commissions are worth now, before paid commissions' adjustments
    banned_at: datetime | None
    ban_reason: str | None


async def top_referrers(engine: AsyncEngine, limit: int = TOP) -> list[ReferrerEarnings]:
    """Per referrer and currency, from the daily totals (their cost follows days, not commissions)."""
    gross = func.sum(_t.c.original_amount)
    query = (
        select(
            _t.c.referrer_id,
            _t.c.currency,
            func.sum(_t.c.count).label("commissions"),
            gross.label("gross"),
            func.sum(_t.c.amount).label("current"),
            referral_bans.c.banned_at,
            referral_bans.c.reason,
        )
        .join(referral_bans, referral_bans.c.referrer_id == _t.c.referrer_id, isouter=True)
        .where(_t.c.status.in_([s.value for s in EARNING_STATUSES]))
        .group_by(_t.c.referrer_id, _t.c.currency, referral_bans.c.banned_at, referral_bans.c.reason)
        .having(func.sum(_t.c.count) > 0)
        .order_by(gross.desc(), _t.c.referrer_id, _t.c.currency)
        .limit(limit)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
        banned_only = (
            (
                await conn.execute(
                    select(referral_bans).order_by(referral_bans.c.banned_at.desc()).limit(limit)
                )
            )
            .mappings()
            .all()
        )
    ranked = [
        ReferrerEarnings(
            referrer_id=row.referrer_id,
            currency=row.currency,
            commissions=int(row.commissions),
            gross=int(row.gross or 0),
            current=int(row.current or 0),
            banned_at=as_utc_or_none(row.banned_at),
            ban_reason=row.reason,
        )
        for row in rows
    ]
    # A banned referrer with nothing earned still needs its unban button.
    listed = {r.referrer_id for r in ranked}
    ranked += [
        ReferrerEarnings(b["referrer_id"], "", 0, 0, 0, as_utc_or_none(b["banned_at"]), b["reason"])
        for b in banned_only
        if b["referrer_id"] not in listed
    ]
    return ranked
