"""Webhook throughput and ack latency of `payments serve` against a bare reference endpoint.

Run by hand on a quiet machine (not a test):

    .venv/bin/python benchmarks/webhook_throughput.py [--events 6000] [--concurrency 32]

For 1 and 2 worker processes it starts, each time on a fresh PostgreSQL database with Redis:
  * `payments serve --workers N` and sends signed, distinct Stripe events for seeded payments
    (checkout.session.completed, refund.created, charge.refunded, with ~10 % duplicates mixed in);
  * the reference app (benchmarks/reference_app.py: verify the HMAC, insert two rows in one transaction)
    under uvicorn with the same loop and parser, with the same events.
It prints a markdown table (events/s, p50/p99 ack latency, the servers' CPU per event, ratios
service/reference) and the peak RSS of a service process under the load, and checks in the service's
database that every event was applied exactly once (it stops with an error if not).
PAYMENTS_BENCH_PROFILE=1 records py-spy (collapsed stacks) of each server during the measured run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.loadgen import Result, post_request, run
from payments.migrations_runner import upgrade_to_head
from payments.webhooks.signature import sign_payload

ADMIN_DSN = os.environ.get("PAYMENTS_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
SECRET = "whsec_bench"
HOST = "127.0.0.1"


@dataclass
class Row:
    label: str
    workers: int
    result: Result
    rss_mb: float | None = None
    cpu_ms_per_event: float | None = None
    under_locks: int | None = None  # events the optimistic attempt handed to a transaction (one worker)


async def _under_locks(port: int) -> int:
    async with httpx.AsyncClient(headers={"Authorization": "Bearer bench"}) as client:
        text = (await client.get(f"http://{HOST}:{port}/metrics")).text
    for line in text.splitlines():
        if line.startswith("payments_webhook_under_locks_total "):
            return int(float(line.split()[1]))
    return 0


def tree_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and all its descendants, from /proc.

    On a shared machine events/s moves with everyone else's load; the server's own CPU per event does
    not, so it is printed next to the rates.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        cpu[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(cpu.get(p, 0.0) for p in tree)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


async def fresh_database() -> tuple[str, str]:
    name = f"payments_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    base = ADMIN_DSN.rsplit("/", 1)[0]
    return name, f"{base.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"


async def drop_database(name: str) -> None:
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


async def seed_payments(url: str, count: int, tag: str) -> list[tuple[str, str]]:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    now = datetime.now(UTC)
    rows = [(f"pay_{tag}_{i}", f"ord_{tag}_{i}") for i in range(count)]
    await conn.copy_records_to_table(
        "payments",
        columns=[
            "id",
            "order_id",
            "user_id",
            "amount",
            "currency",
            "mode",
            "status",
            "amount_refunded",
            "terms_hash",
            "facts",
            "version",
            "created_at",
            "updated_at",
        ],
        records=[
            (pid, oid, "u_bench", 10_000, "eur", "checkout", "open", 0, "t", "{}", 0, now, now)
            for pid, oid in rows
        ],
    )
    await conn.close()
    return rows


def _event(type_: str, obj: dict) -> dict:
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type_,
    }


def build_events(payments: list[tuple[str, str]], rng: random.Random) -> list[dict]:
    events: list[dict] = []
    for pid, oid in payments:
        pi, ch = f"pi_{pid}", f"ch_{pid}"
        meta = {
            "payment_id": pid,
            "order_id": oid,
            "user_id": "u_bench",
            "referrer_id": "",
            "payment_type": "checkout",
        }
        events.append(
            _event(
                "checkout.session.completed",
                {
                    "id": f"cs_{pid}",
                    "object": "checkout.session",
                    "amount_total": 10_000,
                    "currency": "eur",
                    "client_reference_id": oid,
                    "metadata": meta,
                    "mode": "payment",
                    "payment_intent": pi,
                    "payment_status": "paid",
                    "status": "complete",
                },
            )
        )
        if rng.random() < 0.5:
            refund = {
                "id": f"re_{pid}",
                "object": "refund",
                "amount": 3000,
                "charge": ch,
                "currency": "eur",
                "created": int(time.time()),
                "metadata": {},
                "payment_intent": pi,
                "status": "succeeded",
            }
            events.append(_event("refund.created", refund))
            events.append(
                _event(
                    "charge.refunded",
                    {
                        "id": ch,
                        "object": "charge",
                        "amount": 10_000,
                        "amount_captured": 10_000,
                        "amount_refunded": 3000,
                        "captured": True,
                        "currency": "eur",
                        "payment_intent": pi,
                        "status": "succeeded",
                        "metadata": {},
                        "outcome": {"risk_level": "normal"},
                        "payment_method_details": {"card": {"fingerprint": "fp_bench"}},
                        "refunds": {"object": "list", "data": [refund], "has_more": False},
                    },
                )
            )
    duplicates = rng.sample(events, k=len(events) // 10)
    return events + duplicates


def requests_for(events: list[dict], port: int) -> list[bytes]:
    out = []
    for event in events:
        body = json.dumps(event, separators=(",", ":")).encode()
        header = sign_payload(body, SECRET, int(time.time()))
        out.append(post_request(HOST, port, "/v1/webhooks/stripe", body, {"Stripe-Signature": header}))
    return out


async def verify_applied_once(url: str, events: list[dict]) -> None:
    """Every distinct event has one processed ledger row and its effects exactly once.

    Per payment: one diff for "paid" and, when refunded, one for "partially refunded" (refund.created and
    charge.refunded report the same refund), one refund row, 3 000 refunded. An event that raced its
    payment's link is applied by the housekeeping sweep within seconds, so this polls with a deadline.
    """
    distinct = {e["id"]: e for e in events}
    paid = {
        e["data"]["object"]["metadata"]["payment_id"]
        for e in distinct.values()
        if e["type"] == "checkout.session.completed"
    }
    refunded = {e["data"]["object"]["id"] for e in distinct.values() if e["type"] == "refund.created"}
    expected = (len(distinct), len(distinct), len(paid) + len(refunded), len(refunded), 3000 * len(refunded))
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        deadline = time.monotonic() + 60
        while True:
            found = tuple(
                await conn.fetchrow(
                    """SELECT (SELECT count(*) FROM stripe_events),
                              (SELECT count(*) FROM stripe_events WHERE status = 'processed'),
                              (SELECT count(*) FROM order_state_diffs),
                              (SELECT count(*) FROM refunds),
                              (SELECT coalesce(sum(amount_refunded), 0) FROM payments)"""
                )
            )
            if found == expected:
                return
            if time.monotonic() > deadline:
                raise SystemExit(
                    "not applied exactly once: (events, processed, diffs, refunds, refunded) "
                    f"expected {expected}, found {found}"
                )
            await asyncio.sleep(1)
    finally:
        await conn.close()


def uvicorn_cmd(factory: str, port: int, workers: int = 1) -> list[str]:
    """A reference app under uvicorn as the service runs: uvloop, httptools, no access log."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        factory,
        "--factory",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]


def wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120  # a busy shared machine can take this long to start two workers
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=0.5)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


def _start_profiler(pid: int, label: str, workers: int, log_dir: Path) -> subprocess.Popen[bytes] | None:
    """py-spy on the server during the measured run, when PAYMENTS_BENCH_PROFILE is set (collapsed
    stacks in the log directory; py-spy is not a project dependency: pip install it to profile)."""
    if not os.environ.get("PAYMENTS_BENCH_PROFILE"):
        return None
    out = log_dir / f"{label}-{workers}.collapsed"
    cmd = [
        "py-spy",
        "record",
        "--pid",
        str(pid),
        "--subprocesses",
        "--format",
        "raw",
        *(["--idle"] if os.environ.get("PAYMENTS_BENCH_PROFILE") == "idle" else []),
        "--rate",
        "400",
        "-o",
        str(out),
    ]
    profiler = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attached before the load starts
    return profiler


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


async def measure(label: str, workers: int, events_count: int, concurrency: int, log_dir: Path) -> Row:
    rng = random.Random(42)
    name, url = await fresh_database()
    try:
        await asyncio.to_thread(upgrade_to_head, url)
        per_payment = 2  # about two events per payment on average, plus duplicates
        payments = await seed_payments(url, events_count // per_payment + 200, "b")
        warm, measured = payments[:200], payments[200:]
        port = free_port()
        env = {
            **os.environ,
            "PAYMENTS_DATABASE_URL": url,
            "PAYMENTS_STRIPE_WEBHOOK_SECRETS": SECRET,
            "PAYMENTS_API_TOKEN": "bench",
            "PAYMENTS_STRIPE_API_KEY": "sk_test_emulator",
            "PAYMENTS_STRIPE_API_BASE": "http://127.0.0.1:9",
            "PAYMENTS_HTTP_PORT": str(port),
            "PAYMENTS_GRPC_PORT": str(free_port()),
            "PAYMENTS_REDIS_URL": os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/0"),
        }
        if label == "service":
            cmd = [sys.executable, "-m", "payments.cli", "serve", "--workers", str(workers)]
        else:
            cmd = uvicorn_cmd("benchmarks.reference_app:create", port, workers)
        log = (log_dir / f"{label}-{workers}.log").open("wb")
        proc = subprocess.Popen(
            cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[1]
        )
        try:
            wait_healthy(f"http://{HOST}:{port}/healthz", proc)
            warm_events, measured_events = build_events(warm, rng), build_events(measured, rng)
            await run(HOST, port, requests_for(warm_events, port), concurrency)
            requests = requests_for(measured_events, port)
            profiler = _start_profiler(proc.pid, label, workers, log_dir)
            cpu_before = tree_cpu_seconds(proc.pid)
            result = await run(HOST, port, requests, concurrency)
            cpu_ms = (tree_cpu_seconds(proc.pid) - cpu_before) * 1000 / len(requests)
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)
                profiler.wait(timeout=60)
            rss = peak_rss_mb(proc.pid) if label == "service" else None
            under_locks = await _under_locks(port) if label == "service" and workers == 1 else None
            if label == "service":
                await verify_applied_once(url, warm_events + measured_events)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        return Row(label, workers, result, rss, cpu_ms, under_locks)
    finally:
        await drop_database(name)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    log_dir = Path(os.environ.get("TMPDIR", "/tmp")) / "payments-bench"
    log_dir.mkdir(exist_ok=True)
    rows: list[Row] = []
    for workers in args.workers:
        for label in ("reference", "service"):
            rows.append(await measure(label, workers, args.events, args.concurrency, log_dir))
            r = rows[-1].result
            print(
                f"{label} x{workers}: {r.rate:.0f}/s p50 {r.p50:.1f} ms p99 {r.percentile(99):.1f} ms "
                f"statuses {r.statuses} server CPU {rows[-1].cpu_ms_per_event:.2f} ms/event",
                file=sys.stderr,
            )
    print(
        f"\n{args.events} events (+10 % duplicates), {args.concurrency} concurrent connections, "
        f"PostgreSQL + Redis, {os.cpu_count()} cores\n"
    )
    print(
        "| endpoint | workers | events/s | p50 ms | p99 ms | statuses | server CPU ms/event "
        "| events/s vs reference | p99 vs reference |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    reference = {r.workers: r.result for r in rows if r.label == "reference"}
    for r in rows:
        ref = reference.get(r.workers)
        rate_ratio = p99_ratio = ""
        if r.label == "service" and ref is not None:
            rate_ratio = f"{r.result.rate / ref.rate:.2f}"
            p99_ratio = f"{r.result.percentile(99) / ref.percentile(99):.2f}"
        print(
            f"| {r.label} | {r.workers} | {r.result.rate:.0f} | {r.result.p50:.1f} | "
            f"{r.result.percentile(99):.1f} | {r.result.statuses} | {r.cpu_ms_per_event:.2f} "
            f"| {rate_ratio} | {p99_ratio} |"
        )
    for r in rows:
        if r.rss_mb is not None:
            print(f"\npeak RSS of one service process under load (workers={r.workers}): {r.rss_mb:.0f} MiB")
        if r.under_locks is not None:
            print(f"events run under locks after the optimistic attempt (one worker): {r.under_locks}")


if __name__ == "__main__":
    asyncio.run(main())
