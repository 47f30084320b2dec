"""What text and instants may reach the database, for every transport.

PostgreSQL refuses a NUL in text and cannot encode a lone surrogate (JSON's "\\ud800"): either would
fail the statement, a 500. Instants must survive conversion to UTC and the report's day arithmetic.
"""

from __future__ import annotations

from datetime import UTC, datetime

# Report periods: wide enough for any real query, far enough from datetime's edges (year 1 and 9999)
# that converting to UTC or adding a day cannot overflow.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def unstorable_reason(value: str) -> str | None:
    """Why PostgreSQL would refuse ``value``, or None."""
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text (no lone surrogates)"
    return None


def storable(value: str | None) -> str | None:
    """A pydantic AfterValidator: the value, or a ValueError saying why it cannot be stored."""
    if value is not None and (reason := unstorable_reason(value)):
        raise ValueError(reason)
    return value


def storable_str(value: str) -> str:
    storable(value)
    return value


def in_report_range(value: datetime | None) -> datetime | None:
    """The instant in UTC (a naive one is taken as UTC), or a ValueError if outside [1970, 9000)."""
    if value is None:
        return None
    try:
        instant = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:
        raise ValueError("must be between 1970-01-01 and 9000-01-01 (UTC)") from None
    if not EARLIEST <= instant < LATEST:
        raise ValueError("must be between 1970-01-01 and 9000-01-01 (UTC)")
    return instant
