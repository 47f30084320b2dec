"""Missed webhooks: `payments events sync` fetches them from the Events API; `events replay` is harmless."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

import httpx
import pytest

from payments.migrations_runner import upgrade_to_head
from tests.conftest import PgDatabases
from tests.support.processes import start_service


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "payments.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_sync_processes_missed_events_once_and_replay_changes_nothing(
    emulator_url: str, pg_databases: PgDatabases, tmp_path_factory: pytest.TempPathFactory
) -> None:
    db = await pg_databases.create("sync")
    await asyncio.to_thread(upgrade_to_head, db)
    # The emulator delivers nowhere we listen with this secret: every webhook is "missed".
    env = {
        "PAYMENTS_DATABASE_URL": db,
        "PAYMENTS_STRIPE_API_BASE": emulator_url,
        "PAYMENTS_STRIPE_API_KEY": "sk_test_emulator",
        "PAYMENTS_STRIPE_WEBHOOK_SECRETS": "whsec_not_it",
        "PAYMENTS_API_TOKEN": "t",
    }
    workdir = tmp_path_factory.mktemp("sync")
    proc, base = start_service(env, workdir, workdir / "serve.log")
    try:
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": "Bearer t"}) as http:
            order = f"ord_{uuid.uuid4().hex[:8]}"
            payment = (
                await http.post(
                    "/v1/payments",
                    json={"order_id": order, "user_id": "u", "amount": 1500, "currency": "eur"},
                )
            ).json()
            async with httpx.AsyncClient(base_url=emulator_url) as emu:
                paid = await emu.post(
                    f"/_emulator/checkout/sessions/{payment['stripe_checkout_session_id']}/pay",
                    json={"card": "4242424242424242"},
                )
                assert paid.status_code == 200

            assert (await http.get(f"/v1/payments/{payment['id']}")).json()["status"] == "open"

            first = await asyncio.to_thread(_cli, env, "events", "sync", "--since", "1h")
            assert first.returncode == 0, first.stderr
            assert (await http.get(f"/v1/payments/{payment['id']}")).json()["status"] == "succeeded"
            history = (await http.get(f"/v1/orders/{order}/history")).json()
            assert history[0]["to_state"] == "paid"

            second = await asyncio.to_thread(_cli, env, "events", "sync", "--since", "1h")
            assert second.returncode == 0 and " 0 processed" in second.stdout, second.stdout

            replay = await asyncio.to_thread(_cli, env, "events", "replay", history[0]["cause_event_id"])
            assert replay.returncode == 0, replay.stderr
            assert (await http.get(f"/v1/orders/{order}/history")).json() == history
            missing = await asyncio.to_thread(_cli, env, "events", "replay", "evt_does_not_exist")
            assert missing.returncode == 1
    finally:
        proc.stop()
