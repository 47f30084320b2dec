"""SIGTERM stops ``payments serve`` within its own bounds, even while a background round waits on Stripe."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.support.processes import start_service


def test_sigterm_stops_serve_promptly_while_stripe_never_answers(tmp_path: Path) -> None:
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(64)  # accepts connections, never answers: each Stripe call would wait its 80 s
    env = {
        "PAYMENTS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'payments.db'}",
        "PAYMENTS_API_TOKEN": "t" * 32,
        "PAYMENTS_STRIPE_API_BASE": f"http://127.0.0.1:{hole.getsockname()[1]}",
        "PAYMENTS_STRIPE_API_KEY": "sk_test_emulator",
        "PAYMENTS_STRIPE_WEBHOOK_SECRETS": "whsec_shutdown",
    }
    proc, _ = start_service(env, tmp_path, tmp_path / "serve.log")
    try:
        time.sleep(2)  # housekeeping's first round is at Stripe's Events API by now
        started = time.monotonic()
        proc.process.send_signal(signal.SIGTERM)
        try:
            proc.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise AssertionError("payments serve still running 30 s after SIGTERM") from None
        assert time.monotonic() - started < 25
    finally:
        proc.kill()
        hole.close()
