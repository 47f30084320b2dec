"""gRPC GetReferralReport: the HTTP report's JSON fields, as protobuf messages."""

from __future__ import annotations

from payments.api.grpc.inputs import instant, optional_text, text
from payments.api.plain import plain
from payments.bootstrap import Container
from payments.errors import InvalidRequest
from payments.generated.payments.v1 import payments_pb2 as pb


async def get_referral_report(c: Container, request: pb.GetReferralReportRequest) -> pb.ReferralReport:
    referrer_id = text(request.referrer_id.strip(), "referrer_id", 128)
    limit = request.limit if request.HasField("limit") else 50
    if not 1 <= limit <= 500:
        raise InvalidRequest("limit must be between 1 and 500", field="limit")
    report = await c.commissions.get_report(
        referrer_id,
        period_from=instant(getattr(request, "from") if request.HasField("from") else None, "from"),
        period_to=instant(request.to if request.HasField("to") else None, "to"),
        status=optional_text(request, "status", 16),
        limit=limit,
        cursor=optional_text(request, "cursor", 512),
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
