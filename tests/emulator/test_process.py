"""The command line: `--webhook`/`--webhook-secret` registration, `--state-file` persistence."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import stripe

from .conftest import EmulatorProcess, make_client, session_params
from .receiver import Receiver


def test_webhook_flag_registers_an_endpoint_and_state_survives_restart(tmp_path: Path, marker: str) -> None:
    recv = Receiver()
    secret = "whsec_" + "s3cr3t" * 5
    recv.secret = secret
    state = tmp_path / "emulator.json"
    args = ("--webhook", recv.url + "/hook", "--webhook-secret", secret, "--state-file", str(state))
    first = EmulatorProcess(*args)
    try:
        client = make_client(first.base_url)
        endpoints = client.v1.webhook_endpoints.list().data
        assert [e.url for e in endpoints] == [recv.url + "/hook"]
        session = client.v1.checkout.sessions.create(params=session_params(marker))
        assert session.url.startswith(first.base_url + "/pay/")
        paid = httpx.post(
            f"{first.base_url}/_emulator/checkout/sessions/{session.id}/pay",
            json={"card": "4242424242424242"},
        )
        assert paid.status_code == 200
        recv.wait_for_type({session.id}, "checkout.session.completed")
        assert not recv.rejected
    finally:
        first.stop()
    assert state.exists()

    second = EmulatorProcess(*args)
    try:
        client = make_client(second.base_url)
        again = client.v1.checkout.sessions.retrieve(session.id)
        assert again.status == "complete"
        assert len(client.v1.webhook_endpoints.list().data) == 1  # not registered twice
        refund = client.v1.refunds.create(params={"payment_intent": again.payment_intent, "amount": 100})
        recv.wait_for_type({again.payment_intent}, "refund.created")
        assert client.v1.refunds.retrieve(refund.id).amount == 100
    finally:
        second.stop()
        recv.close()


def test_unknown_url_and_missing_key(base_url: str) -> None:
    unknown = httpx.get(f"{base_url}/v1/nothing_here", headers={"Authorization": "Bearer sk_test_emulator"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["type"] == "invalid_request_error"
    no_key = httpx.get(f"{base_url}/v1/events")
    assert no_key.status_code == 401
    assert no_key.json()["error"]["type"] == "invalid_request_error"


def test_reset_clears_state(tmp_path: Path) -> None:
    own = EmulatorProcess()
    try:
        client = make_client(own.base_url)
        pi = client.v1.payment_intents.create(params={"amount": 100, "currency": "usd"})
        assert httpx.post(f"{own.base_url}/_emulator/reset").json() == {"reset": True}
        try:
            client.v1.payment_intents.retrieve(pi.id)
        except stripe.InvalidRequestError as exc:
            assert exc.http_status == 404
        else:
            raise AssertionError("reset kept the PaymentIntent")
    finally:
        own.stop()


def test_payments_emulator_command_runs_the_emulator_package() -> None:
    """`payments emulator` stays the documented way in; it becomes `python -m stripe_emulator`."""
    command = Path(sys.executable).with_name("payments")
    own = EmulatorProcess(command=[str(command), "emulator", "--port", "0"])
    try:
        assert httpx.get(f"{own.base_url}/v1/events").status_code == 401  # Stripe's "no API key"
        pi = make_client(own.base_url).v1.payment_intents.create(params={"amount": 100, "currency": "usd"})
        assert pi.id.startswith("pi_")
    finally:
        own.stop()
    assert own.process.returncode is not None
