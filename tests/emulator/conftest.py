"""The emulator as a real separate process, a real webhook receiver, and the official SDK."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import stripe

from .receiver import Receiver

API_KEY = "sk_test_emulator"
# Stripe's own object examples, vendored with their MIT licence (tests/fixtures/stripe/README.md).
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "stripe" / "fixtures3.json"
# Short retries so a failing-then-healing receiver is seen within a test's patience.
EMULATOR_ENV = {
    "STRIPE_EMULATOR_RETRY_BASE_MS": "50",
    "STRIPE_EMULATOR_RETRY_CAP_MS": "400",
    "STRIPE_EMULATOR_MAX_ATTEMPTS": "8",
}


class EmulatorProcess:
    def __init__(
        self, *args: str, env: dict[str, str] | None = None, command: list[str] | None = None
    ) -> None:
        self.process = subprocess.Popen(
            [*(command or [sys.executable, "-m", "stripe_emulator", "--port", "0"]), *args],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, **EMULATOR_ENV, **(env or {})},
        )
        lines: queue.Queue[str] = queue.Queue()
        assert self.process.stdout is not None
        stdout = self.process.stdout
        threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
        try:
            # A deadline for a wedged start, not a speed target (a loaded CI machine is slow to import).
            line = lines.get(timeout=60)
        except queue.Empty:
            self.stop()
            raise AssertionError("the emulator did not print its listening line within 60 s") from None
        assert line.startswith("emulator listening on http://"), line
        self.base_url = line.strip().rsplit(" ", 1)[1]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def make_client(base_url: str, api_key: str = API_KEY) -> stripe.StripeClient:
    return stripe.StripeClient(api_key=api_key, base_addresses={"api": base_url}, max_network_retries=0)


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorProcess]:
    process = EmulatorProcess()
    yield process
    process.stop()


@pytest.fixture(scope="session")
def base_url(emulator: EmulatorProcess) -> str:
    return emulator.base_url


@pytest.fixture(scope="session")
def client(base_url: str) -> stripe.StripeClient:
    return make_client(base_url)


@pytest.fixture(scope="session")
def helpers(base_url: str) -> Iterator[httpx.Client]:
    """For `/_emulator/…` test helpers only; Stripe API calls go through the SDK."""
    with httpx.Client(base_url=base_url, timeout=10) as http:
        yield http


@pytest.fixture(scope="session")
def receiver(client: stripe.StripeClient) -> Iterator[Receiver]:
    recv = Receiver()
    endpoint = client.v1.webhook_endpoints.create(
        params={"url": recv.url + "/webhooks", "enabled_events": ["*"]}
    )
    recv.secret = endpoint.secret
    yield recv
    client.v1.webhook_endpoints.delete(endpoint.id)
    recv.close()
    assert not recv.rejected, f"deliveries that failed verification: {recv.rejected}"


@pytest.fixture(autouse=True)
def _calm_delivery(request: pytest.FixtureRequest) -> Iterator[None]:
    """Chaos set by one test never leaks into the next."""
    yield
    if "helpers" in request.fixturenames:
        request.getfixturevalue("helpers").post(
            "/_emulator/chaos", json={"duplicates": 1, "shuffle": False, "delay_ms": 0, "drop_first": False}
        )


@pytest.fixture
def marker() -> str:
    return uuid.uuid4().hex[:12]


def session_params(marker: str, receiver_url: str = "http://127.0.0.1:9", **overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {"currency": "usd", "unit_amount": 1500, "product_data": {"name": "Blue mug"}},
                "quantity": 2,
            },
            {
                "price_data": {"currency": "usd", "unit_amount": 499, "product_data": {"name": "Coaster"}},
                "quantity": 1,
            },
        ],
        "client_reference_id": f"order-{marker}",
        "metadata": {"order_id": f"order-{marker}"},
        "payment_intent_data": {"metadata": {"order_id": f"order-{marker}", "user_id": "u-1"}},
        "customer_email": "buyer@example.com",
        "success_url": f"{receiver_url}/success?session_id={{CHECKOUT_SESSION_ID}}",
        "cancel_url": f"{receiver_url}/cancel",
    }
    params.update(overrides)
    return params
