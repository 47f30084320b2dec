"""`POST /v1/payments` latency against the Stripe emulator's own session-creation latency.

Run by hand (not a test):

    .venv/bin/python benchmarks/payment_creation.py [--requests 300]

Starts the emulator, `payments serve` and the floor reference (benchmarks/creation_reference.py, twice:
without and with the Stripe SDK), on a fresh PostgreSQL database, then, one request at a time and in turn:
  * creates a Checkout Session directly at the emulator, with the parameters the service sends (what the
    service's Stripe call costs the emulator);
  * creates a payment through the reference: insert, the same form to the emulator, update, nothing else
    (the floor of a creation that stores its row before calling Stripe), and the same with the call made
    through the official SDK, as the service must;
  * creates a payment through the service (validation, the row, the Stripe call through the SDK, the link).
The acceptance ratio is service / emulator at the median; service / reference (through the SDK) is what
the service costs over the steps its design and its stack cannot skip.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.creation_reference import session_form
from benchmarks.webhook_throughput import (
    _start_profiler,
    drop_database,
    free_port,
    fresh_database,
    tree_cpu_seconds,
    uvicorn_cmd,
    wait_healthy,
)
from payments.migrations_runner import upgrade_to_head
from payments.runner import start_emulator


def _asked(order_id: str) -> dict[str, object]:
    return {"order_id": order_id, "user_id": "u", "amount": 2500, "currency": "eur", "description": "Mug"}


def summary(label: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return f"| {label} | {len(samples)} | {statistics.median(samples):.2f} | {p99:.2f} |"


def _start(cmd: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=Path(__file__).parents[1]
    )
    wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)
    return proc


async def _timed(samples: list[float] | None, call: Awaitable[httpx.Response], status: int) -> None:
    started = time.perf_counter()
    answer = await call
    assert answer.status_code == status, answer.text
    if samples is not None:  # None while warming up
        samples.append((time.perf_counter() - started) * 1000)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    emulator = start_emulator(0)
    name, url = await fresh_database()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        await asyncio.to_thread(upgrade_to_head, url)
        port, reference_port, sdk_reference_port = free_port(), free_port(), free_port()
        env = {
            **os.environ,
            "PAYMENTS_DATABASE_URL": url,
            "PAYMENTS_STRIPE_API_BASE": emulator.url,
            "PAYMENTS_STRIPE_API_KEY": "sk_test_emulator",
            "PAYMENTS_STRIPE_WEBHOOK_SECRETS": "whsec_x",
            "PAYMENTS_API_TOKEN": "bench",
            "PAYMENTS_HTTP_PORT": str(port),
            "PAYMENTS_GRPC_PORT": str(free_port()),
            "PAYMENTS_LOG_LEVEL": "warning",
        }
        service_proc = _start([sys.executable, "-m", "payments.cli", "serve"], env, port)
        procs.append(service_proc)
        for at, through_sdk in ((reference_port, "0"), (sdk_reference_port, "1")):
            cmd = uvicorn_cmd("benchmarks.creation_reference:create", at)
            procs.append(_start(cmd, {**env, "BENCH_REFERENCE_SDK": through_sdk}, at))
        log_dir = Path(os.environ.get("TMPDIR", "/tmp")) / "payments-bench"
        log_dir.mkdir(exist_ok=True)
        profiler = _start_profiler(service_proc.pid, "creation", 1, log_dir)  # PAYMENTS_BENCH_PROFILE=1
        direct: list[float] = []
        floor: list[float] = []
        floor_sdk: list[float] = []
        via_service: list[float] = []
        cpu_at: dict[str, float] = {}
        watched = {"service": service_proc.pid, "emulator": emulator.process.pid}
        watched |= {"reference": procs[1].pid, "reference through the SDK": procs[2].pid}
        # Interleaved, one of each per round: on a shared machine the three paths see the same load.
        async with (
            httpx.AsyncClient(
                base_url=emulator.url, headers={"Authorization": "Bearer sk_test_emulator"}
            ) as stripe_http,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{reference_port}") as reference,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{sdk_reference_port}") as sdk_reference,
            httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", headers={"Authorization": "Bearer bench"}
            ) as service,
        ):
            for i in range(args.requests + 20):
                measured = i >= 20
                if i == 20:
                    cpu_at = {label: tree_cpu_seconds(pid) for label, pid in watched.items()}
                asked = _asked(f"ord_direct_{i}")
                form = session_form(asked, "pay_" + uuid.uuid4().hex[:24])
                key = {"Idempotency-Key": uuid.uuid4().hex}
                await _timed(
                    direct if measured else None,
                    stripe_http.post("/v1/checkout/sessions", data=form, headers=key),
                    200,
                )
                await _timed(
                    floor if measured else None,
                    reference.post("/v1/payments", json=_asked(f"ord_ref_{i}")),
                    201,
                )
                await _timed(
                    floor_sdk if measured else None,
                    sdk_reference.post("/v1/payments", json=_asked(f"ord_sdk_{i}")),
                    201,
                )
                await _timed(
                    via_service if measured else None,
                    service.post("/v1/payments", json=_asked(f"ord_bench_{uuid.uuid4().hex[:8]}")),
                    201,
                )
                if i == args.requests + 19:
                    cpu_at = {label: tree_cpu_seconds(pid) - cpu_at[label] for label, pid in watched.items()}
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(timeout=60)
        print("| path | requests | p50 ms | p99 ms |")
        print("|---|---|---|---|")
        print(summary("emulator: create Checkout Session", direct))
        print(summary("reference: insert, Stripe call, update", floor))
        print(summary("reference, the call through the Stripe SDK", floor_sdk))
        print(summary("service: POST /v1/payments (checkout)", via_service))
        median = statistics.median
        print(
            f"\np50 service / emulator: {median(via_service) / median(direct):.2f}; "
            f"reference / emulator: {median(floor) / median(direct):.2f}, "
            f"through the SDK {median(floor_sdk) / median(direct):.2f}; "
            f"service / reference through the SDK: {median(via_service) / median(floor_sdk):.2f}"
        )
        # CPU ms a request, from /proc; the emulator's is per session created (it served all four paths).
        cpu_at["emulator"] /= 4
        each = (f"{label} {seconds * 1000 / args.requests:.2f}" for label, seconds in cpu_at.items())
        print("CPU ms a request: " + "; ".join(each))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
        emulator.stop()
        await drop_database(name)


if __name__ == "__main__":
    asyncio.run(main())
