"""gRPC request fields, checked as the HTTP schemas check theirs, before anything reaches SQL.

A proto3 string may carry a NUL (protobuf itself refuses invalid UTF-8, so a lone surrogate never gets
this far); PostgreSQL would refuse it mid-statement, a failure that is the caller's, not ours.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from payments.domain.text import in_report_range, unstorable_reason
from payments.errors import InvalidRequest


def text(value: str, field: str, max_length: int) -> str:
    """``value`` when it is 1 to ``max_length`` characters that the database can store."""
    # validation_error, as HTTP answers the same field refused by its schema or parameter check.
    if not 0 < len(value) <= max_length:
        raise InvalidRequest(
            f"{field} must be 1 to {max_length} characters", code="validation_error", field=field
        )
    if reason := unstorable_reason(value):
        raise InvalidRequest(f"{field} {reason}", code="validation_error", field=field)
    return value


def optional_text(message: Any, field: str, max_length: int) -> str | None:
    """The optional field checked by ``text``, or None when it is unset."""
    return text(getattr(message, field), field, max_length) if message.HasField(field) else None


def instant(value: str | None, field: str) -> datetime | None:
    """An ISO 8601 date-time within the report's range, or None when unset."""
    if not value:
        return None
    try:
        return in_report_range(datetime.fromisoformat(value))
    except ValueError as exc:
        reason = str(exc) if "between" in str(exc) else "must be an ISO 8601 date-time"
        raise InvalidRequest(f"{field} {reason}", field=field) from None
