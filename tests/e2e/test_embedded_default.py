"""`payments serve` with nothing configured: SQLite file, no Redis, its own emulator, its own webhook."""

from __future__ import annotations

import httpx

from tests.support.processes import eventually, free_port, start_service


async def test_zero_config_serve_takes_a_payment_through_its_own_emulator(tmp_path) -> None:
    emulator_port = free_port()
    proc, base = start_service(
        {"PAYMENTS_EMULATOR_PORT": str(emulator_port)}, tmp_path, tmp_path / "serve.log"
    )
    try:
        printed = (tmp_path / "serve.log").read_text()
        assert base in printed and "curl" in printed
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            created = await client.post(
                "/v1/payments",
                json={"order_id": "ord_zero", "user_id": "u_1", "amount": 2500, "currency": "eur"},
            )
            assert created.status_code == 201, created.text
            payment = created.json()
            assert payment["checkout_url"].startswith(f"http://127.0.0.1:{emulator_port}/")
            page = await client.get(payment["checkout_url"])
            assert page.status_code == 200 and "25.00" in page.text
            paid = await client.post(
                f"http://127.0.0.1:{emulator_port}/_emulator/checkout/sessions/"
                f"{payment['stripe_checkout_session_id']}/pay",
                json={"card": "4242424242424242"},
            )
            assert paid.status_code == 200

            async def succeeded() -> bool:
                return (await client.get(f"/v1/payments/{payment['id']}")).json()["status"] == "succeeded"

            await eventually(succeeded, what="the webhook registered by serve to arrive")
            ready = await client.get("/readyz")
            assert ready.json() == {"status": "ready", "checks": {"database": "ok"}}
            # No success_url/cancel_url given: the session sends the customer to our own pages, on the
            # port this service really listens on.
            session = (
                await client.get(
                    f"http://127.0.0.1:{emulator_port}/v1/checkout/sessions/{payment['stripe_checkout_session_id']}",
                    headers={"Authorization": "Bearer sk_test_emulator"},
                )
            ).json()
            assert session["success_url"] == f"{base}/checkout/success?session_id={{CHECKOUT_SESSION_ID}}"
            assert session["cancel_url"] == f"{base}/checkout/cancel"
            landed = await client.get(
                "/checkout/success", params={"session_id": payment["stripe_checkout_session_id"]}
            )
            assert landed.status_code == 200 and "Payment received" in landed.text
            assert landed.headers["cache-control"] == "no-store"
            unknown = await client.get("/checkout/success", params={"session_id": "cs_unknown"})
            assert unknown.status_code == 200 and "being confirmed" in unknown.text
            back = await client.get("/checkout/cancel")
            assert back.status_code == 200 and "No payment was taken" in back.text
            too_long = await client.get("/checkout/success", params={"session_id": "x" * 300})
            assert too_long.status_code == 422
        assert (tmp_path / "payments.db").exists()
    finally:
        proc.stop()
    assert proc.process.returncode == 0


def test_prod_refuses_to_start_without_its_secrets(tmp_path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "payments.cli", "serve"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PAYMENTS_ENV": "prod"},
        timeout=60,
    )
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("payments: PAYMENTS_ENV=prod refuses to start: ")
    for setting in (
        "PAYMENTS_STRIPE_API_KEY",
        "PAYMENTS_STRIPE_WEBHOOK_SECRETS",
        "PAYMENTS_API_TOKEN",
        "PAYMENTS_AUDIT_KEYS",
        "PAYMENTS_GRPC_TLS_CERT_FILE",
        "PAYMENTS_DATABASE_URL",
    ):
        assert setting in last
    assert not (tmp_path / "payments.db").exists()
