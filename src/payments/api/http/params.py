"""Path and query parameters: bounded like the columns they are compared with, storable by PostgreSQL.

``storable_params`` runs for every route (an app-level dependency), so a NUL in any path or query
parameter, on routes written later too, is a 422 naming it rather than a failed statement and a 500.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator

from payments.domain.text import in_report_range, unstorable_reason

PaymentId = Annotated[str, Path(min_length=1, max_length=40)]
CommissionId = Annotated[str, Path(min_length=1, max_length=40)]
OrderId = Annotated[str, Path(min_length=1, max_length=128)]
ReferrerId = Annotated[str, Path(min_length=1, max_length=128)]
OrderIdQuery = Annotated[str, Query(min_length=1, max_length=128)]
Cursor = Annotated[str | None, Query(min_length=1, max_length=512)]
Status = Annotated[str | None, Query(min_length=1, max_length=16)]
ReportFrom = Annotated[datetime | None, Query(alias="from"), AfterValidator(in_report_range)]
ReportTo = Annotated[datetime | None, Query(alias="to"), AfterValidator(in_report_range)]


async def storable_params(request: Request) -> None:
    errors: list[dict[str, Any]] = []
    for name, value in request.path_params.items():
        if isinstance(value, str) and (reason := unstorable_reason(value)):
            errors.append(_error("path", name, reason))
    for name, value in request.query_params.multi_items():
        if reason := unstorable_reason(name) or unstorable_reason(value):
            errors.append(_error("query", name if not unstorable_reason(name) else "query", reason))
    if errors:
        raise RequestValidationError(errors)


def _error(where: str, name: str, reason: str) -> dict[str, Any]:
    return {"type": "value_error", "loc": (where, name), "msg": f"Value error, {reason}", "input": None}
