"""``POST /v1/payments`` ahead of FastAPI (api/http/payment_creation.py): the answers it gives are the
ones FastAPI's route gives, and whatever it does not answer reaches FastAPI intact.

Each comparison sends one request to the whole app and the same request to FastAPI's own stack (the app
without the endpoints in front of it), and compares status, headers in order and body byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.api.http import payment_creation
from payments.api.http import payments as route
from payments.api.http.payment_creation import CreatePaymentEndpoint
from payments.stripe_port import GatewayErrorKind
from tests.integration.api.asgi_calls import Answer, call
from tests.support import stripe_events as se
from tests.support.fakes import FakeStripeGateway
from tests.support.service import TOKEN, Service, running_service

AUTH = {"authorization": f"Bearer {TOKEN}"}
REQUEST_ID = "req-parity"  # the same on both paths, so the headers compare whole


def _body(order_id: str, **fields: Any) -> dict[str, Any]:
    return {"order_id": order_id, "user_id": "u_1", "amount": 2500, "currency": "eur", **fields}


def _once(raw: bytes) -> Iterator[bytes]:
    yield raw


class Paths:
    """The whole app, FastAPI's own stack, and a recorder of what the endpoint passes on."""

    def __init__(self, svc: Service, app: Any) -> None:
        self.svc = svc
        self.app = app
        stack = FastAPI.build_middleware_stack(app)  # the stack without the endpoints in front

        async def fastapi(scope: Any, receive: Any, send: Any) -> None:
            await stack({**scope, "app": app}, receive, send)  # as FastAPI.__call__ does

        self.fastapi = fastapi
        self.passed_on: list[bytes] = []

    async def send(
        self, app: Any, body: bytes, headers: dict[str, str | None] | None = None, *, query: bytes = b""
    ) -> Answer:
        length = str(len(body))
        sent = {
            **AUTH,
            "content-type": "application/json",
            "content-length": length,
            "x-request-id": REQUEST_ID,
            **(headers or {}),
        }
        given = {k: v for k, v in sent.items() if v is not None}
        return await call(app, "POST", "/v1/payments", _once(body), given, query)

    async def both(self, body: bytes, headers: dict[str, str | None] | None = None) -> tuple[Answer, Answer]:
        return await self.send(self.app, body, headers), await self.send(self.fastapi, body, headers)

    def recording(self) -> CreatePaymentEndpoint:
        """The endpoint in front of an app that only records the body it is handed."""

        async def downstream(scope: Any, receive: Any, send: Any) -> None:
            chunks = []
            while True:
                message = await receive()
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    break
            self.passed_on.append(b"".join(chunks))
            await send({"type": "http.response.start", "status": 299, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        return CreatePaymentEndpoint(downstream, self.svc.container)


@asynccontextmanager
async def paths(engine: AsyncEngine, gateway: FakeStripeGateway | None = None) -> AsyncIterator[Paths]:
    async with running_service(engine, gateway=gateway or FakeStripeGateway()) as svc:
        app = svc.http._transport.app  # type: ignore[attr-defined]
        yield Paths(svc, app)


def _same(ours: Answer, theirs: Answer) -> None:
    assert (ours.status, ours.raw_headers, ours.body) == (theirs.status, theirs.raw_headers, theirs.body)


async def test_a_new_payment_and_its_replay_read_as_fastapi_writes_them(engine: AsyncEngine) -> None:
    async with paths(engine) as p:
        raw = json.dumps(_body("ord_lane_1", description="Mug")).encode()
        created = await p.send(p.app, raw)
        assert created.status == 201
        replay_ours, replay_theirs = await p.both(raw)
        assert replay_ours.status == 200
        _same(replay_ours, replay_theirs)
        assert json.loads(created.body) == json.loads(replay_ours.body)  # one payment, read three times


async def test_a_well_formed_request_never_reaches_fastapi(engine: AsyncEngine) -> None:
    async with paths(engine) as p:
        answer = await p.send(p.recording(), json.dumps(_body("ord_lane_2")).encode())
        assert answer.status == 201 and p.passed_on == []


@pytest.mark.parametrize(
    ("label", "body", "headers"),
    [
        ("no token", _body("ord_x"), {"authorization": None}),
        ("a wrong token", _body("ord_x"), {"authorization": "Bearer nope"}),
        ("not JSON", b"{not json", None),
        ("a field missing", {"order_id": "ord_x", "amount": 1, "currency": "eur"}, None),
        ("a field unknown", _body("ord_x", colour="red"), None),
        ("an amount as text", _body("ord_x", amount="2500"), None),
        ("a NUL in a field", _body("ord_x", description="a\x00b"), None),
        ("text/plain", _body("ord_x"), {"content-type": "text/plain"}),
        ("a key too long", _body("ord_x"), {"idempotency-key": "k" * 256}),
        ("an empty key", _body("ord_x"), {"idempotency-key": ""}),
        ("a body over the limit", _body("ord_x", description="d" * 20_000), None),
        ("nested past the parser's depth", b"[" * 15_000, None),
    ],
)
async def test_what_it_does_not_answer_fastapi_answers_with_the_body_intact(
    engine: AsyncEngine, label: str, body: Any, headers: dict[str, str] | None
) -> None:
    """The endpoint hands the request on with its body (the recorder), so the whole app answers exactly
    as FastAPI does, and nothing is written."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with paths(engine) as p:
        ours, theirs = await p.both(raw, headers)
        assert ours.status >= 400, label
        _same(ours, theirs)
        await p.send(p.recording(), raw, headers)
        assert p.passed_on == [raw]
        assert await p.svc.row_counts() == (0, 0, 0)


async def test_a_query_string_goes_to_fastapi(engine: AsyncEngine) -> None:
    """FastAPI checks every query parameter (storable_params); this endpoint reads none."""
    async with paths(engine) as p:
        raw = json.dumps(_body("ord_q")).encode()
        assert (await p.send(p.recording(), raw, query=b"x=1")).status == 299
        assert p.passed_on == [raw]
        refused = await p.send(p.app, raw, query=b"x=a%00b")
        assert refused.status == 422 and refused.json()["error"]["field"] == "x"


@pytest.mark.parametrize("failure", ["conflict", "already_paid", "stripe_down", "idempotency"])
async def test_a_service_error_reads_as_fastapi_writes_it(engine: AsyncEngine, failure: str) -> None:
    gateway = FakeStripeGateway()
    async with paths(engine, gateway) as p:
        first = json.dumps(_body("ord_err", description="Mug")).encode()
        created = json.loads((await p.send(p.app, first, {"idempotency-key": "key-1"})).body)
        raw = first
        headers: dict[str, str] = {}
        if failure == "conflict":
            raw = json.dumps(_body("ord_err", amount=9999)).encode()
        elif failure == "idempotency":
            raw, headers = json.dumps(_body("ord_other")).encode(), {"idempotency-key": "key-1"}
        elif failure == "already_paid":
            await p.svc.deliver(
                se.event(
                    "checkout.session.completed",
                    se.session(created["stripe_checkout_session_id"], created["id"], "ord_err", "pi_err"),
                )
            )
            raw = json.dumps(_body("ord_err", amount=9999)).encode()
        else:
            raw = json.dumps(_body("ord_down")).encode()
        if failure == "stripe_down":
            gateway.fail_next("create_checkout_session", GatewayErrorKind.UNAVAILABLE)
            ours = await p.send(p.app, raw, headers)
            gateway.fail_next("create_checkout_session", GatewayErrorKind.UNAVAILABLE)
            theirs = await p.send(p.fastapi, raw, headers)
        else:
            ours, theirs = await p.both(raw, headers)
        assert ours.status in (409, 502), ours.body
        _same(ours, theirs)


async def test_the_request_id_comes_back_and_the_answer_is_counted(engine: AsyncEngine) -> None:
    def counted() -> float:
        return (
            REGISTRY.get_sample_value(
                "payments_http_requests_total", {"method": "POST", "route": "/v1/payments", "status": "201"}
            )
            or 0.0
        )

    async with paths(engine) as p:
        before = counted()
        answer = await p.send(p.app, json.dumps(_body("ord_rid")).encode(), {"x-request-id": "req-7"})
        assert answer.status == 201 and answer.headers["x-request-id"] == "req-7"
        assert counted() == before + 1
        made = await p.send(p.app, json.dumps(_body("ord_rid2")).encode(), {"x-request-id": None})
        assert len(made.headers["x-request-id"]) == 32


async def test_an_unexpected_fault_reads_as_fastapis_500(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(payment_creation, "created_payment", broken)
    monkeypatch.setattr(route, "created_payment", broken)
    async with paths(engine) as p:
        ours, theirs = await p.both(json.dumps(_body("ord_boom")).encode())
        assert ours.status == 500 and ours.json()["error"]["code"] == "internal_error"
        assert ours.headers["x-request-id"] == REQUEST_ID
        _same(ours, theirs)


async def test_a_request_id_outside_ascii_comes_back_as_it_came(engine: AsyncEngine) -> None:
    async with paths(engine) as p:
        raw = json.dumps(_body("ord_rid_e")).encode()
        ours = await p.send(p.app, raw, {"x-request-id": "r\xe9q"})
        theirs = await p.send(p.fastapi, raw, {"x-request-id": "r\xe9q"})
        assert ours.status == 201 and theirs.status == 200  # the second is the replay
        assert (b"x-request-id", b"r\xe9q") in ours.raw_headers
        assert ours.raw_headers[-1] == theirs.raw_headers[-1]
