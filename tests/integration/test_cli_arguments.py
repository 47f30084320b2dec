"""A bad argument, or Stripe out of reach, is one line and a non-zero exit: never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _payments(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYMENTS_")}
    env.update(
        PAYMENTS_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'payments.db'}",
        PAYMENTS_STRIPE_API_BASE="http://127.0.0.1:9",  # nothing listens there
        PAYMENTS_STRIPE_API_KEY="sk_test_emulator",
    )
    command = [sys.executable, "-m", "payments.cli"]
    subprocess.run([*command, "db", "upgrade"], env=env, check=True, capture_output=True, timeout=120)
    return subprocess.run(
        [*command, *args], env=env, capture_output=True, text=True, errors="replace", timeout=120, check=False
    )


@pytest.mark.parametrize(
    "args",
    [
        ("events", "sync", "--since", "1000000d"),
        ("events", "sync", "--since", "99999999999d"),
        ("events", "sync", "--since", "31d"),
        ("events", "sync", "--since", "1h"),  # Stripe unreachable
        ("events", "replay", "evt_\udcff"),  # a byte of the command line that is not UTF-8
        ("outbox", "retry", "x" * 300),
        ("emulator", "--port", "70000"),
    ],
    ids=[
        "huge duration",
        "overflowing duration",
        "past Stripe's 30 days",
        "stripe down",
        "not UTF-8",
        "too long",
        "port",
    ],
)
def test_a_bad_argument_is_one_line_and_a_non_zero_exit(tmp_path: Path, args: tuple[str, ...]) -> None:
    done = _payments(tmp_path, *args)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout, done.stderr[-2000:]
