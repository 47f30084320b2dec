"""The dashboard's period: whole UTC months, at most three years, the last twelve by default."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

MAX_MONTHS = 36
DEFAULT_MONTHS = 12
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class PeriodError(ValueError):
    pass


def month_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def add_months(month: datetime, count: int) -> datetime:
    index = month.year * 12 + month.month - 1 + count
    return month.replace(year=index // 12, month=index % 12 + 1)


def parse_month(text: str, field: str) -> datetime:
    match = _MONTH.match(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12 or not 2000 <= int(match.group(1)) <= 2999:
        raise PeriodError(f"{field}: a month like 2026-03")
    return datetime(int(match.group(1)), int(match.group(2)), 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Period:
    first: datetime  # first month, inclusive
    last: datetime  # last month, inclusive

    @property
    def start(self) -> datetime:
        return self.first

    @property
    def end(self) -> datetime:
        """Exclusive: the first instant after the last month."""
        return add_months(self.last, 1)

    @property
    def months(self) -> list[tuple[datetime, datetime]]:
        out, month = [], self.first
        while month <= self.last:
            out.append((month, add_months(month, 1)))
            month = add_months(month, 1)
        return out

    @property
    def query(self) -> str:
        return f"from={self.first:%Y-%m}&to={self.last:%Y-%m}"

    @classmethod
    def of(cls, first: str | None, last: str | None, now: datetime) -> Period:
        this_month = month_start(now)
        end = parse_month(last, "to") if last else this_month
        start = parse_month(first, "from") if first else add_months(end, -(DEFAULT_MONTHS - 1))
        if start > end:
            raise PeriodError("from: must not be after to")
        span = (end.year - start.year) * 12 + end.month - start.month + 1
        if span > MAX_MONTHS:
            raise PeriodError(f"to: a period of at most {MAX_MONTHS} months")
        return cls(start, end)
