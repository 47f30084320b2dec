"""Planted secrets in tracebacks, third-party loggers and SQL errors never reach the log."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator

import pytest
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db import payments_repo
from payments.observability.logging import configure_logging
from tests.support.clock import NOW

TOKEN = "svc-token-PLANTED-0b1c2d3e"
EMAIL = "planted.pérson@exämple.org"
CARD = "4000056655665556"
CLIENT_SECRET = "pi_3PLANTED_secret_PLANTEDabc"


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("debug", stream=stream, secrets=[TOKEN])
    yield stream
    configure_logging("info", stream=io.StringIO())


def _fail(secret_local: str) -> None:
    raise ValueError(f"could not charge {EMAIL} with {CARD} for {secret_local} using {CLIENT_SECRET}")


def _assert_clean(text: str) -> None:
    for planted in (TOKEN, EMAIL, CARD, CLIENT_SECRET, "PLANTED"):
        assert planted not in text, f"{planted!r} leaked into: {text[:2000]}"


@pytest.mark.parametrize("name", ["", "uvicorn.error", "asyncio", "grpc._server", "payments.anything"])
def test_stdlib_tracebacks_are_redacted(log_stream: io.StringIO, name: str) -> None:
    try:
        _fail(TOKEN)
    except ValueError:
        logging.getLogger(name).exception("failed while handling %s", f"Bearer {TOKEN}")
    text = log_stream.getvalue()
    assert "Traceback" in text and "ValueError" in text
    _assert_clean(text)


def test_a_library_handler_of_its_own_is_redacted_too(log_stream: io.StringIO) -> None:
    own = io.StringIO()
    lib = logging.getLogger("some.library")
    lib.addHandler(logging.StreamHandler(own))
    lib.propagate = False
    try:
        configure_logging("debug", stream=log_stream, secrets=[TOKEN])
        lib.error("leaking %s and %s", EMAIL, TOKEN)
    finally:
        lib.handlers.clear()
        lib.propagate = True
    assert "leaking" in own.getvalue()
    _assert_clean(own.getvalue())


def test_structlog_tracebacks_are_redacted(log_stream: io.StringIO) -> None:
    try:
        _fail(TOKEN)
    except ValueError:
        structlog.get_logger("payments.test").exception("http.unhandled", route="/v1/payments")
    text = log_stream.getvalue()
    assert "ValueError" in text
    _assert_clean(text)


def test_an_unretrieved_task_exception_is_redacted(log_stream: io.StringIO) -> None:
    async def main() -> None:
        async def boom() -> None:
            _fail(TOKEN)

        task = asyncio.get_running_loop().create_task(boom())
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        loop = asyncio.get_running_loop()
        loop.call_exception_handler(
            {"message": "Task exception was never retrieved", "exception": task.exception(), "future": task}
        )

    asyncio.run(main())
    text = log_stream.getvalue()
    assert "Task exception was never retrieved" in text
    _assert_clean(text)


async def test_sql_errors_carry_no_parameters(engine: AsyncEngine, log_stream: io.StringIO) -> None:
    row = {
        "id": "pay_PLANTED_1",
        "order_id": "ord_PLANTED_1",
        "user_id": f"usr_{EMAIL}",
        "amount": 100,
        "currency": "eur",
        "mode": "checkout",
        "status": "open",
        "amount_refunded": 0,
        "referrer_id": "ref_PLANTED",
        "terms_hash": "t",
        "facts": "{}",
        "version": 0,
        "created_at": NOW,
        "updated_at": NOW,
    }
    async with engine.begin() as conn:
        await payments_repo.insert_payment(conn, row)
    with pytest.raises(IntegrityError) as caught:
        async with engine.begin() as conn:
            await payments_repo.insert_payment(conn, row)
    assert "PLANTED" not in str(caught.value)
    try:
        raise caught.value
    except Exception:
        structlog.get_logger("payments.test").exception("db.failed")
    _assert_clean(log_stream.getvalue())
