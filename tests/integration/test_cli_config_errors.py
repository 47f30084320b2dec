"""A setting of the wrong shape stops any ``payments`` command with one line naming it, like every other
configuration error: no traceback, and never the value itself (it may be a secret)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from payments import runner
from payments.config import ConfigError, Settings


def test_a_malformed_setting_is_one_line_naming_it_without_its_value() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYMENTS_")}
    env.update(PAYMENTS_HTTP_PORT="not-a-port-s3cr3t", PAYMENTS_WEBHOOK_TOLERANCE_SECONDS="99999")
    done = subprocess.run(
        [sys.executable, "-m", "payments.cli", "events", "list"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("payments: "), done.stderr
    assert "PAYMENTS_HTTP_PORT: " in lines[0] and "PAYMENTS_WEBHOOK_TOLERANCE_SECONDS: " in lines[0]
    assert "s3cr3t" not in lines[0] and "99999" not in lines[0]


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("orders_url", "ftp://orders.internal"),
        ("audit_keys", ["not-a-key"]),
        ("grpc_tls_cert_file", "/nonexistent/cert.pem"),
    ],
)
def test_a_bad_setting_stops_serve_before_the_emulator_starts(
    monkeypatch: pytest.MonkeyPatch, setting: str, value: object
) -> None:
    """The development server starts the Stripe emulator for itself; a setting that would stop the
    service stops it first, so nothing is started only to be stopped again."""
    started: list[int] = []
    monkeypatch.setattr(runner, "start_emulator", lambda port, *a, **k: started.append(port))
    if setting == "grpc_tls_cert_file":
        monkeypatch.setenv("PAYMENTS_GRPC_TLS_KEY_FILE", "/nonexistent/key.pem")
    settings = Settings(database_url="sqlite+aiosqlite:///:memory:", **{setting: value})
    assert settings.uses_emulator
    with pytest.raises(ConfigError):
        runner.serve(settings)
    assert started == []


def test_a_livemode_that_contradicts_the_key_stops_serve_before_any_worker(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spawned: list[object] = []
    monkeypatch.setattr(runner.subprocess, "Popen", lambda *a, **k: spawned.append(a))
    settings = Settings(
        database_url="sqlite+aiosqlite:///:memory:",
        stripe_api_key="sk_test_x",
        stripe_api_base="http://127.0.0.1:9",
        stripe_livemode=True,
    )
    with pytest.raises(ConfigError, match="PAYMENTS_STRIPE_LIVEMODE"):
        runner.serve(settings, workers=2)
    assert spawned == []
