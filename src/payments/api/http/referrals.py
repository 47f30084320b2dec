"""Referral reports and commission administration over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import AfterValidator, BaseModel, Field

from payments.api.http.auth import Caller, ServiceRoute, container, service_or_referrer
from payments.api.http.downloads import attachment
from payments.api.http.errors import error_responses
from payments.api.http.params import CommissionId, Cursor, ReferrerId, ReportFrom, ReportTo, Status
from payments.api.plain import plain
from payments.domain.text import storable_str
from payments.errors import ErrorKind, Forbidden
from payments.referrals.models import AuditEntry, Commission, CommissionNotFound, Payout
from payments.referrals.referrer_view import ReferrerCommission, for_referrer

router = APIRouter(prefix="/v1", responses=error_responses(ErrorKind.UNAUTHENTICATED, ErrorKind.INVALID))
# Admin only: the service token, checked before the body is read.
admin = APIRouter(
    prefix="/v1",
    route_class=ServiceRoute,
    responses=error_responses(ErrorKind.UNAUTHENTICATED, ErrorKind.INVALID),
)
ADMIN_ACTOR = "admin"


def _may_see(caller: Caller, referrer_id: str) -> None:
    if not caller.admin and caller.referrer_id != referrer_id:
        raise Forbidden("a referrer token may read only its own referrals")


async def _commission_for(request: Request, caller: Caller, commission_id: str) -> Commission:
    commission = await container(request).commissions.get_commission(commission_id)
    if commission is None:
        raise CommissionNotFound(f"no commission {commission_id}")
    _may_see(caller, commission.referrer_id)
    return commission


@router.get(
    "/referrers/{referrer_id}/report",
    response_model=None,
    responses={
        200: {
            "description": "The report as JSON, or with format=csv every matching commission as CSV",
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
        **error_responses(ErrorKind.FORBIDDEN, ErrorKind.BUSY),
    },
)
async def referral_report(
    referrer_id: ReferrerId,
    request: Request,
    caller: Annotated[Caller, Depends(service_or_referrer)],
    period_from: ReportFrom = None,
    period_to: ReportTo = None,
    status: Status = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Cursor = None,
    format: Literal["json", "csv"] = "json",
) -> dict[str, Any] | StreamingResponse:
    _may_see(caller, referrer_id)
    c = container(request)
    if format == "csv":
        return await _csv(request, referrer_id, period_from, period_to, status, for_referrer=not caller.admin)
    # A referrer's token gets the referrer's view: no customer identity, no guard's reason.
    read = c.commissions.get_report if caller.admin else c.commissions.get_referrer_report
    report = await read(
        referrer_id,
        period_from=period_from,
        period_to=period_to,
        status=status,
        limit=limit,
        cursor=cursor,
    )
    body: dict[str, Any] = plain(report)
    body["commissions"] = body.pop("items")
    return body


async def _csv(
    request: Request,
    referrer_id: str,
    period_from: datetime | None,
    period_to: datetime | None,
    status: str | None,
    *,
    for_referrer: bool,
) -> StreamingResponse:
    c = container(request)
    lines = c.commissions.stream_report_csv(
        referrer_id,
        period_from=period_from,
        period_to=period_to,
        status=status,
        for_referrer=for_referrer,
    )
    # A bad filter, too large an export or a full export pool raises here, before any byte is sent.
    header = await anext(lines)

    async def body() -> AsyncIterator[str]:
        yield header
        async for line in lines:
            yield line

    return StreamingResponse(
        body(),
        media_type="text/csv",
        headers={"Content-Disposition": attachment(f"referrals-{referrer_id}.csv")},
    )


@router.get(
    "/commissions/{commission_id}",
    response_model=Commission | ReferrerCommission,
    responses=error_responses(ErrorKind.FORBIDDEN, ErrorKind.NOT_FOUND),
)
async def get_commission(
    commission_id: CommissionId, request: Request, caller: Annotated[Caller, Depends(service_or_referrer)]
) -> dict[str, Any]:
    commission = await _commission_for(request, caller, commission_id)
    return plain(commission if caller.admin else for_referrer(commission))  # type: ignore[no-any-return]


@admin.get(
    "/commissions/{commission_id}/audit",
    response_model=list[AuditEntry],
    responses=error_responses(ErrorKind.NOT_FOUND),
)
async def commission_audit(commission_id: CommissionId, request: Request) -> list[dict[str, Any]]:
    """Admin only: entries carry customer ids and the guards' reasons."""
    await _commission_for(request, Caller(admin=True), commission_id)
    entries = await container(request).commissions.get_audit(commission_id)
    return plain(entries)  # type: ignore[no-any-return]


@admin.post(
    "/commissions/{commission_id}/pay",
    response_model=Commission,
    responses=error_responses(ErrorKind.NOT_FOUND, ErrorKind.FAILED_PRECONDITION),
)
async def pay_commission(commission_id: CommissionId, request: Request) -> dict[str, Any]:
    c = container(request)
    commission = await c.commissions.mark_commission_paid(commission_id, ADMIN_ACTOR, c.clock())
    return plain(commission)  # type: ignore[no-any-return]


@admin.post(
    "/referrers/{referrer_id}/payouts",
    status_code=201,
    response_model=Payout,
    responses=error_responses(ErrorKind.FAILED_PRECONDITION),
)
async def pay_referrer(referrer_id: ReferrerId, request: Request) -> dict[str, Any]:
    c = container(request)
    payout = await c.commissions.pay_referrer(referrer_id, ADMIN_ACTOR, c.clock())
    return plain(payout)  # type: ignore[no-any-return]


class Decision(BaseModel):
    approve: bool


@admin.post(
    "/commissions/{commission_id}/decision",
    response_model=Commission,
    responses=error_responses(
        ErrorKind.MALFORMED, ErrorKind.NOT_FOUND, ErrorKind.FAILED_PRECONDITION, extra=(413,)
    ),
)
async def decide_held(commission_id: CommissionId, decision: Decision, request: Request) -> dict[str, Any]:
    c = container(request)
    commission = await c.commissions.decide_held(commission_id, decision.approve, ADMIN_ACTOR, c.clock())
    return plain(commission)  # type: ignore[no-any-return]


class Ban(BaseModel):
    reason: Annotated[str, Field(min_length=1, max_length=500), AfterValidator(storable_str)]


class BanOut(BaseModel):
    referrer_id: str
    banned: bool
    commissions_canceled: int


@admin.post(
    "/referrers/{referrer_id}/ban",
    response_model=BanOut,
    responses=error_responses(ErrorKind.MALFORMED, extra=(413,)),
)
async def ban_referrer(referrer_id: ReferrerId, ban: Ban, request: Request) -> dict[str, Any]:
    c = container(request)
    canceled = await c.commissions.ban_referrer(referrer_id, ADMIN_ACTOR, ban.reason, c.clock())
    return {"referrer_id": referrer_id, "banned": True, "commissions_canceled": canceled}
