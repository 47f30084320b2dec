"""The dashboard's period: whole months, at most 36, the last twelve by default."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from payments.pages.referrer.period import Period, PeriodError

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_default_is_the_last_twelve_months_including_this_one() -> None:
    period = Period.of(None, None, NOW)
    assert (period.first, period.last) == (
        datetime(2025, 12, 1, tzinfo=UTC),
        datetime(2026, 11, 1, tzinfo=UTC),
    )
    assert period.end == datetime(2026, 12, 1, tzinfo=UTC) and len(period.months) == 12


def test_one_month_and_thirty_six() -> None:
    assert len(Period.of("2026-02", "2026-02", NOW).months) == 1
    long = Period.of("2023-12", "2026-11", NOW)
    assert len(long.months) == 36 and long.months[0] == (
        datetime(2023, 12, 1, tzinfo=UTC),
        datetime(2024, 1, 1, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("first", "last", "message"),
    [
        ("2026-13", None, "from: a month like 2026-03"),
        ("26-01", None, "from: a month like 2026-03"),
        (None, "2026-1", "to: a month like 2026-03"),
        ("2026-05", "2026-04", "from: must not be after to"),
        ("2023-11", "2026-11", "to: a period of at most 36 months"),
    ],
)
def test_bad_periods_name_the_field(first: str | None, last: str | None, message: str) -> None:
    with pytest.raises(PeriodError, match=message):
        Period.of(first, last, NOW)
