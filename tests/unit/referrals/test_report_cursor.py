from datetime import UTC, datetime, timedelta, timezone

import pytest

from payments.domain.commission import CommissionStatus
from payments.referrals.models import InvalidCursor, InvalidReportQuery
from payments.referrals.reporting import ReportFilter, decode_cursor, encode_cursor


def test_a_cursor_round_trips_to_utc() -> None:
    moment = datetime(2026, 11, 28, 13, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert decode_cursor(encode_cursor(moment, "com_1")) == (moment.astimezone(UTC), "com_1")


@pytest.mark.parametrize("bad", ["", "!!!", "eyJ0IjoxfQ", "bm90IGpzb24"])
def test_a_foreign_cursor_is_refused(bad: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(bad)


def test_filter_parses_the_status() -> None:
    assert ReportFilter.of("ref_1", None, None, "paid").status is CommissionStatus.PAID


def test_filter_refuses_an_unknown_status_and_an_empty_period() -> None:
    with pytest.raises(InvalidReportQuery):
        ReportFilter.of("ref_1", None, None, "bogus")
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidReportQuery):
        ReportFilter.of("ref_1", moment, moment, None)
