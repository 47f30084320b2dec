"""A real ``payments serve`` under hostile input: its memory stays flat and /healthz stays responsive."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import httpx
import pytest

from payments.migrations_runner import upgrade_to_head
from tests.conftest import PgDatabases
from tests.support.processes import Proc, start_service, wait_until

TOKEN = "bounded-input-token"
MIB = 1024 * 1024
CONCURRENCY = 16


@pytest.fixture(scope="module")
def served(pg_databases: PgDatabases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proc, str]]:
    loop = asyncio.new_event_loop()
    database = loop.run_until_complete(pg_databases.create("bounded"))
    loop.close()
    upgrade_to_head(database)
    workdir = tmp_path_factory.mktemp("bounded")
    env = {
        "PAYMENTS_DATABASE_URL": database,
        "PAYMENTS_STRIPE_API_BASE": "http://127.0.0.1:9",
        "PAYMENTS_STRIPE_API_KEY": "sk_test_emulator",
        "PAYMENTS_STRIPE_WEBHOOK_SECRETS": "whsec_bounded",
        "PAYMENTS_API_TOKEN": TOKEN,
        "PAYMENTS_HTTP_LIMIT_CONCURRENCY": str(CONCURRENCY),
    }
    proc, base = start_service(env, workdir, workdir / "service.log")
    yield proc, base
    proc.stop()


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _exchange(base: str, parts: Iterable[bytes]) -> bytes:
    """Sends ``parts`` until the server closes, then returns all it answered."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for part in parts:  # a refusing server closes: what it said is still in our receive buffer
                sock.sendall(part)
        answer = b""
        with contextlib.suppress(ConnectionResetError):
            while data := sock.recv(65536):
                answer += data
    return answer


def _send_chunked(base: str, path: str, total: int, headers: dict[str, str]) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    chunk = b"a" * (64 * 1024)
    framed = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    return _exchange(
        base, itertools.chain([head.encode()], itertools.repeat(framed, total // len(chunk)), [b"0\r\n\r\n"])
    )


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/v1/webhooks/stripe", {"Stripe-Signature": "t=1,v1=00", "Content-Type": "application/json"}),
        ("/v1/payments", {"Content-Type": "application/json"}),  # no token
        ("/v1/payments", {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}),
    ],
)
def test_32_mib_chunked_leaves_memory_flat(
    served: tuple[Proc, str], path: str, headers: dict[str, str]
) -> None:
    proc, base = served
    for _ in range(3):  # warm up: imports, pools, first-request allocations
        _send_chunked(base, path, 1 * MIB, headers)
    before = _rss_bytes(proc.process.pid)
    answer = _send_chunked(base, path, 32 * MIB, headers)
    grown = _rss_bytes(proc.process.pid) - before
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line in (b"HTTP/1.1 413 Request Entity Too Large", b"HTTP/1.1 401 Unauthorized"), answer[
        :300
    ]
    assert grown < 4 * MIB, f"RSS grew by {grown / MIB:.1f} MiB for a 32 MiB body"
    assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200


def test_an_oversized_request_head_is_431(served: tuple[Proc, str]) -> None:
    _, base = served
    response = httpx.get(f"{base}/healthz", headers={"X-Filler": "a" * (64 * 1024)}, timeout=5)
    assert response.status_code == 431


def test_a_200_kb_path_is_answered_at_once_while_healthz_stays_responsive(served: tuple[Proc, str]) -> None:
    """A NUL made today's code log the path, whose redaction took tens of seconds on a 200 KB path."""
    _, base = served
    request = (
        f"GET /v1/payments/%00{'a' * 200_000} HTTP/1.1\r\nHost: test\r\n"
        f"Authorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    ).encode()
    answers: list[bytes] = []
    big = threading.Thread(target=lambda: answers.append(_exchange(base, [request])))  # too long for httpx
    big.start()
    try:
        assert httpx.get(f"{base}/healthz", timeout=2).status_code == 200
        wait_until(lambda: answers, timeout=2, what="the 200 KB path to be answered")
        assert answers[0].split(b" ", 2)[1] in (b"414", b"422", b"431"), answers[0][:300]
    finally:
        big.join(timeout=60)


def test_past_the_concurrency_limit_new_requests_get_503(served: tuple[Proc, str]) -> None:
    _, base = served
    host, port = base.removeprefix("http://").split(":")
    idle = [socket.create_connection((host, int(port))) for _ in range(CONCURRENCY)]
    try:
        response = httpx.get(f"{base}/healthz", timeout=5)
        assert response.status_code == 503
    finally:
        for sock in idle:
            sock.close()
    wait_until(
        lambda: httpx.get(f"{base}/healthz", timeout=5).status_code == 200, what="room again once they close"
    )
