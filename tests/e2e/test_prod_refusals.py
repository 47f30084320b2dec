"""Every entry point that can move money refuses production with a test key, naming the setting, before
it connects to anything (the database URL points at a closed port)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import free_port


@pytest.mark.parametrize(
    "command",
    [
        ["serve"],
        ["serve", "--worker"],
        ["outbox", "relay", "--once"],
        ["outbox", "list"],
        ["outbox", "retry"],
        ["events", "sync", "--since", "1h"],
        ["events", "replay", "evt_1"],
        ["commissions", "release"],
        ["audit", "verify"],
    ],
    ids=" ".join,
)
def test_every_money_command_refuses_a_test_key_in_prod(tmp_path: Path, command: list[str]) -> None:
    cert = tmp_path / "grpc.crt"
    cert.write_text("cert")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYMENTS_")}
    env.update(
        PAYMENTS_ENV="prod",
        PAYMENTS_DATABASE_URL=f"postgresql+asyncpg://nobody@127.0.0.1:{free_port()}/none",
        PAYMENTS_STRIPE_API_KEY="sk_test_" + "x" * 24,
        PAYMENTS_STRIPE_WEBHOOK_SECRETS="whsec_" + "w" * 32,
        PAYMENTS_API_TOKEN="t" * 32,
        PAYMENTS_AUDIT_KEYS="k1:" + "a" * 32,
        PAYMENTS_GRPC_TLS_CERT_FILE=str(cert),
        PAYMENTS_GRPC_TLS_KEY_FILE=str(cert),
        PAYMENTS_HTTP_PORT=str(free_port()),
        PAYMENTS_GRPC_PORT=str(free_port()),
    )
    done = subprocess.run(
        [sys.executable, "-m", "payments.cli", *command],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr[-2000:]
    assert "PAYMENTS_STRIPE_API_KEY" in done.stderr and "test key" in done.stderr
    assert "x" * 24 not in done.stderr
