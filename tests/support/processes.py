"""Real processes for end-to-end tests: the emulator and ``payments serve``, each on free loopback ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from payments import runner

FAST_RETRIES = {
    "STRIPE_EMULATOR_RETRY_BASE_MS": "50",
    "STRIPE_EMULATOR_RETRY_CAP_MS": "500",
    "STRIPE_EMULATOR_MAX_ATTEMPTS": "12",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Any, timeout: float = 15.0, interval: float = 0.05, what: str = "condition") -> Any:
    """Poll a condition with a deadline; fail loudly instead of sleeping and hoping."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@dataclass
class Proc:
    process: subprocess.Popen[str]
    log_path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


def start_emulator(env: dict[str, str] | None = None) -> tuple[Proc, str]:
    """The emulator the service's own runner starts, with short webhook retries for tests."""
    emulator = runner.start_emulator(0, timeout=20, env={**os.environ, **FAST_RETRIES, **(env or {})})
    return Proc(emulator.process), emulator.url


def start_service(env: dict[str, str], cwd: Path, log_path: Path, *, workers: int = 1) -> tuple[Proc, str]:
    """``payments serve`` with the given PAYMENTS_* environment; returns when /healthz answers."""
    http_port = int(env.get("PAYMENTS_HTTP_PORT") or free_port())
    full_env = {
        **os.environ,
        "PAYMENTS_HTTP_PORT": str(http_port),
        "PAYMENTS_GRPC_PORT": env.get("PAYMENTS_GRPC_PORT") or str(free_port()),
        **env,
    }
    log = log_path.open("a")
    process = subprocess.Popen(
        [sys.executable, "-m", "payments.cli", "serve", "--workers", str(workers)],
        cwd=cwd,
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{http_port}"
    proc = Proc(process, log_path, {"grpc_port": int(full_env["PAYMENTS_GRPC_PORT"])})

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(
                f"payments serve exited with {process.returncode}: {log_path.read_text()[-3000:]}"
            )
        try:
            return httpx.get(f"{base}/healthz", timeout=0.5).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(healthy, timeout=30, what="payments serve to answer /healthz")
    return proc, base


async def eventually(
    predicate: Any, timeout: float = 15.0, interval: float = 0.05, what: str = "condition"
) -> Any:
    """The async twin of wait_until: lets in-process servers (the Orders fake) run while we wait."""
    import asyncio
    import inspect

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)
