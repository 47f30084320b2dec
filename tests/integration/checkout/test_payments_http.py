"""`GET /v1/payments/{id}` through the real app: the answer model, and the error model's 404 and 401."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.service import running_service


async def test_a_payment_reads_back_with_its_fields(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        pid = await svc.add_payment("ord_read_1", amount=2500, currency="eur")
        answer = await svc.http.get(f"/v1/payments/{pid}")
    assert answer.status_code == 200
    body = answer.json()
    assert (body["id"], body["order_id"], body["status"]) == (pid, "ord_read_1", "open")
    assert (body["amount"], body["currency"]) == (2500, "eur")


async def test_an_unknown_payment_is_a_404_in_the_error_body(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        answer = await svc.http.get("/v1/payments/pay_nobody")
    assert answer.status_code == 404
    assert answer.json() == {"error": {"code": "not_found", "message": "no payment pay_nobody"}}


async def test_without_the_service_token_nothing_is_read(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        pid = await svc.add_payment("ord_read_2")
        answer = await svc.http.get(f"/v1/payments/{pid}", headers={"Authorization": "Bearer wrong"})
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert answer.json()["error"]["code"] == "unauthorized"
