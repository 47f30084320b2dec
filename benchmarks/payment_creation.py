"""`POST /v1/payments` latency against the Stripe emulator's own session-creation latency.

Run by hand (not a test):

    .venv/bin/python benchmarks/payment_creation.py [--requests 300]

Starts the emulator and `payments serve` (on a fresh PostgreSQL database), then, one request at a time and
alternating between the two:
  * creates Checkout Sessions directly at the emulator, with the parameters the service sends (what the
    service's Stripe call costs the emulator), and
  * creates payments through the service (validation, two short transactions, the Stripe call).
The difference is the service's own overhead per payment.
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
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.webhook_throughput import (
    _start_profiler,
    drop_database,
    free_port,
    fresh_database,
    tree_cpu_seconds,
    wait_healthy,
)
from payments.migrations_runner import upgrade_to_head
from payments.runner import start_emulator


def _session_form(order_id: str) -> dict[str, str]:
    """The Checkout Session the service asks for (adapters/stripe_gateway/client.py), as a form: the
    emulator does the same work for both paths."""
    form = {
        "mode": "payment",
        "line_items[0][quantity]": "1",
        "line_items[0][price_data][currency]": "eur",
        "line_items[0][price_data][unit_amount]": "2500",
        "line_items[0][price_data][product_data][name]": "Mug",
        "client_reference_id": order_id,
        "payment_intent_data[description]": "Mug",
        "success_url": "http://127.0.0.1/ok",
        "cancel_url": "http://127.0.0.1/cancel",
        "expires_at": str(int(time.time()) + 3600),
    }
    metadata = {
        "order_id": order_id,
        "user_id": "u",
        "payment_id": "pay_" + uuid.uuid4().hex[:24],
        "referrer_id": "",
        "payment_type": "checkout",
    }
    for key, value in metadata.items():
        form[f"metadata[{key}]"] = value
        form[f"payment_intent_data[metadata][{key}]"] = value
    return form


def summary(label: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return f"| {label} | {len(samples)} | {statistics.median(samples):.2f} | {p99:.2f} |"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    emulator = start_emulator(0)
    name, url = await fresh_database()
    proc = None
    try:
        await asyncio.to_thread(upgrade_to_head, url)
        port = free_port()
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
        proc = subprocess.Popen(
            [sys.executable, "-m", "payments.cli", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)
        log_dir = Path(os.environ.get("TMPDIR", "/tmp")) / "payments-bench"
        log_dir.mkdir(exist_ok=True)
        profiler = _start_profiler(proc.pid, "creation", 1, log_dir)  # PAYMENTS_BENCH_PROFILE=1
        direct: list[float] = []
        via_service: list[float] = []
        service_cpu = emulator_cpu = 0.0
        # Interleaved, one of each per round: on a shared machine both paths then see the same load.
        async with (
            httpx.AsyncClient(
                base_url=emulator.url, headers={"Authorization": "Bearer sk_test_emulator"}
            ) as stripe_http,
            httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", headers={"Authorization": "Bearer bench"}
            ) as service,
        ):
            for i in range(args.requests + 20):
                if i == 20:
                    service_cpu = tree_cpu_seconds(proc.pid)
                    emulator_cpu = tree_cpu_seconds(emulator.process.pid)
                started = time.perf_counter()
                answer = await stripe_http.post(
                    "/v1/checkout/sessions",
                    data=_session_form(f"ord_direct_{i}"),
                    headers={"Idempotency-Key": uuid.uuid4().hex},
                )
                assert answer.status_code == 200, answer.text
                if i >= 20:
                    direct.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                answer = await service.post(
                    "/v1/payments",
                    json={
                        "order_id": f"ord_bench_{uuid.uuid4().hex[:8]}",
                        "user_id": "u",
                        "amount": 2500,
                        "currency": "eur",
                        "description": "Mug",
                    },
                )
                assert answer.status_code == 201, answer.text
                if i >= 20:
                    via_service.append((time.perf_counter() - started) * 1000)
        service_cpu = tree_cpu_seconds(proc.pid) - service_cpu
        emulator_cpu = tree_cpu_seconds(emulator.process.pid) - emulator_cpu
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(timeout=60)
        print("| path | requests | p50 ms | p99 ms |")
        print("|---|---|---|---|")
        print(summary("emulator: create Checkout Session", direct))
        print(summary("service: POST /v1/payments (checkout)", via_service))
        print(
            f"\nservice overhead at the median: "
            f"{statistics.median(via_service) - statistics.median(direct):.2f} ms; "
            f"p50 service / emulator: {statistics.median(via_service) / statistics.median(direct):.2f}"
        )
        # CPU a request, from /proc: the emulator's is per session created (it served both paths).
        print(
            f"CPU ms a request: service {service_cpu * 1000 / args.requests:.2f}; "
            f"emulator {emulator_cpu * 1000 / (2 * args.requests):.2f} a session"
        )
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        emulator.stop()
        await drop_database(name)


if __name__ == "__main__":
    asyncio.run(main())
