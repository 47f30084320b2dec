"""gRPC GetReferralReport: the HTTP report's JSON fields, as protobuf messages."""

from __future__ import annotations

from datetime import datetime

from payments.api.plain import plain
from payments.bootstrap import Container
from payments.errors import InvalidRequest
from payments.generated.payments.v1 import payments_pb2 as pb


def _when(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(f"{name} must be an ISO 8601 date-time", field=name) from None


async def get_referral_report(c: Container, request: pb.GetReferralReportRequest) -> pb.ReferralReport:
    if not request.referrer_id.strip():
        raise InvalidRequest("referrer_id is required", field="referrer_id")
    limit = request.limit if request.HasField("limit") else 50
    if not 1 <= limit <= 500:
        raise InvalidRequest("limit must be between 1 and 500", field="limit")
    async with c.engine.connect() as conn:
        report = await c.commissions.get_report(
            conn,
            request.referrer_id,
            period_from=_when(getattr(request, "from") if request.HasField("from") else None, "from"),
            period_to=_when(request.to if request.HasField("to") else None, "to"),
            status=request.status if request.HasField("status") else None,
            limit=limit,
            cursor=request.cursor if request.HasField("cursor") else None,
        )
    # The HTTP report's JSON, field for field: a field HTTP has and the proto lacks fails here, loudly.
    body = plain(report)
    filters = body.get("filters") or {}
    return pb.ReferralReport(
        referrer_id=body["referrer_id"],
        totals=[pb.StatusTotal(**t) for t in body["totals"]],
        net=[pb.CurrencyNet(**n) for n in body["net"]],
        commissions=[pb.Commission(**c) for c in body["items"]],
        next_cursor=body["next_cursor"],
        filters={k: str(v) for k, v in filters.items() if v is not None},
    )
