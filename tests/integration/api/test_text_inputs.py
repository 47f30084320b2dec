"""Text PostgreSQL refuses, report instants at the calendar's edges and hostile referrer ids: a 4xx naming
the field (or a safe answer), never a 500 or a dropped connection; nothing written."""

from __future__ import annotations

import json
from urllib.parse import quote, unquote

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.service import running_service

NUL = "%00"
# (method, path, query) for every route that takes an id or text in its path or query.
ROUTES_WITH_A_PATH_ID = [
    ("GET", "/v1/payments/pay_{x}", "payment_id"),
    ("POST", "/v1/payments/pay_{x}/refunds", "payment_id"),
    ("GET", "/v1/orders/ord_{x}/history", "order_id"),
    ("GET", "/v1/commissions/com_{x}", "commission_id"),
    ("GET", "/v1/commissions/com_{x}/audit", "commission_id"),
    ("POST", "/v1/commissions/com_{x}/pay", "commission_id"),
    ("POST", "/v1/referrers/ref_{x}/payouts", "referrer_id"),
    ("GET", "/v1/referrers/ref_{x}/report", "referrer_id"),
    ("GET", "/v1/referrers/ref_{x}/report?format=csv", "referrer_id"),
]
QUERIES = [
    ("/v1/payments?order_id=ord_{x}", "order_id"),
    ("/v1/referrers/ref_1/report?cursor=abc{x}", "cursor"),
    ("/v1/referrers/ref_1/report?status=paid{x}", "status"),
    ("/v1/referrers/ref_1/report?format=csv&status=paid{x}", "status"),
]


def _assert_422_naming(response_status: int, body: dict, field: str) -> None:
    assert response_status == 422, body
    assert body["error"]["field"] == field, body


async def test_a_nul_in_any_path_id_or_query_is_a_422_naming_it(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        for method, path, field in ROUTES_WITH_A_PATH_ID:
            response = await svc.http.request(method, path.format(x=NUL))
            _assert_422_naming(response.status_code, response.json(), field)
        for path, field in QUERIES:
            response = await svc.http.get(path.format(x=NUL))
            _assert_422_naming(response.status_code, response.json(), field)
        assert await svc.row_counts() == (0, 0, 0)


@pytest.mark.parametrize("path", ["/v1/payments", "/v1/payments/pay_1/refunds"])
async def test_an_empty_idempotency_key_is_a_422_naming_it(engine: AsyncEngine, path: str) -> None:
    """Not "no key": stored, a second empty key would collide with the first (a 5xx that says retry)."""
    payment = {"order_id": "ord_1", "user_id": "u_1", "amount": 100, "currency": "eur"}
    async with running_service(engine) as svc:
        body = payment if path == "/v1/payments" else {"amount": 100}
        response = await svc.http.post(path, json=body, headers={"Idempotency-Key": ""})
        _assert_422_naming(response.status_code, response.json(), "Idempotency-Key")
        assert await svc.row_counts() == (0, 0, 0)


@pytest.mark.parametrize(
    "url", ["https://", "https://shop.example/a b", "shop.example/ok", "http://[::1/ok", "http://:80/"]
)
async def test_a_redirect_stripe_would_refuse_is_a_422_naming_it(engine: AsyncEngine, url: str) -> None:
    payment = {"order_id": "ord_1", "user_id": "u_1", "amount": 100, "currency": "eur", "success_url": url}
    async with running_service(engine) as svc:
        response = await svc.http.post("/v1/payments", json=payment)
        _assert_422_naming(response.status_code, response.json(), "success_url")
        assert await svc.row_counts() == (0, 0, 0)


@pytest.mark.parametrize("bad", ["\u0000", "\ud800"])
@pytest.mark.parametrize(
    ("path", "field", "body"),
    [
        ("/v1/payments", "description", {"description": "a{bad}b"}),
        ("/v1/payments", "customer_email", {"customer_email": "a{bad}@example.com"}),
        ("/v1/payments", "success_url", {"success_url": "https://shop.example/ok{bad}"}),
        ("/v1/payments", "order_id", {"order_id": "ord{bad}"}),
        ("/v1/payments", "referrer_id", {"referrer_id": "ref{bad}"}),
        ("/v1/payments", "currency", {"currency": "eu{bad}"}),
        ("/v1/referrers/ref_1/ban", "reason", {"reason": "spam{bad}"}),
    ],
)
async def test_unstorable_text_in_a_body_is_a_422_naming_the_field(
    engine: AsyncEngine, path: str, field: str, body: dict, bad: str
) -> None:
    payment = {"order_id": "ord_1", "user_id": "u_1", "amount": 100, "currency": "eur"}
    if path == "/v1/payments":
        body = {**payment, **body}
    raw = json.dumps({k: v.replace("{bad}", bad) if isinstance(v, str) else v for k, v in body.items()})
    async with running_service(engine) as svc:
        response = await svc.http.post(path, content=raw, headers={"content-type": "application/json"})
        _assert_422_naming(response.status_code, response.json(), field)
        assert await svc.row_counts() == (0, 0, 0)


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("from", "0001-01-01T00:00+14:00"),
        ("to", "9999-12-31T12:00Z"),
        ("from", "9999-12-31T23:59:59-14:00"),
        ("to", "0001-01-01T00:00:00"),
    ],
)
@pytest.mark.parametrize("fmt", ["json", "csv"])
async def test_report_instants_at_the_calendars_edges_are_a_422(
    engine: AsyncEngine, param: str, value: str, fmt: str
) -> None:
    async with running_service(engine) as svc:
        response = await svc.http.get("/v1/referrers/ref_1/report", params={param: value, "format": fmt})
        _assert_422_naming(response.status_code, response.json(), param)


async def test_a_forged_cursor_near_the_calendars_edge_is_refused(engine: AsyncEngine) -> None:
    import base64

    for forged in (
        {"t": "0001-01-01T00:00:00+14:00", "i": "com_1"},
        {"t": "2026-01-01T00:00:00+00:00", "i": "com\u00001"},
        {"t": "2026-01-01T00:00:00+00:00", "i": "c" * 100},
    ):
        cursor = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
        async with running_service(engine) as svc:
            response = await svc.http.get("/v1/referrers/ref_1/report", params={"cursor": cursor})
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "invalid_cursor"


@pytest.mark.parametrize(
    "referrer_id",
    ["ref_€", "ref_😀", 'x"; filename=evil.html', "ref\r\nSet-Cookie: a=b", "ref_a b;c"],
)
async def test_a_hostile_referrer_id_gets_a_safe_download(engine: AsyncEngine, referrer_id: str) -> None:
    async with running_service(engine) as svc:
        path = f"/v1/referrers/{quote(referrer_id, safe='')}/report"
        response = await svc.http.get(path, params={"format": "csv"})
    assert response.status_code == 200, response.text
    disposition = response.headers["content-disposition"]
    assert "set-cookie" not in {k.lower() for k in response.headers}
    assert disposition.count("filename=") == 1 and disposition.count("filename*=") == 1
    fallback = disposition.split('filename="', 1)[1].split('"', 1)[0]
    assert fallback.isascii() and all(c.isalnum() or c in "._-" for c in fallback)
    exact = disposition.split("filename*=UTF-8''", 1)[1]
    assert unquote(exact) == f"referrals-{referrer_id}.csv"
    assert all(c.isascii() and c not in ' ";\r\n' for c in exact)
