"""Webhook delivery: signed, retried with backoff until 2xx, every attempt logged, chaos on demand."""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import stripe

from .receiver import Receiver, wait_until


@pytest.fixture
def extra_receiver(client: stripe.StripeClient) -> Iterator[tuple[Receiver, Any]]:
    """A second receiver that only wants `payment_intent.created`, for tests that misbehave on purpose."""
    recv = Receiver()
    endpoint = client.v1.webhook_endpoints.create(
        params={"url": recv.url + "/hook", "enabled_events": ["payment_intent.created"]}
    )
    recv.secret = endpoint.secret
    yield recv, endpoint
    client.v1.webhook_endpoints.delete(endpoint.id)
    recv.close()
    assert not recv.rejected


def _deliveries(helpers: httpx.Client, **filters: str) -> list[dict[str, Any]]:
    answer = helpers.get("/_emulator/deliveries", params=filters)
    assert answer.status_code == 200
    data: list[dict[str, Any]] = answer.json()["data"]
    return data


def _new_pi(client: stripe.StripeClient) -> str:
    return str(client.v1.payment_intents.create(params={"amount": 300, "currency": "usd"}).id)


def test_endpoint_secret_only_on_create_and_endpoints_list(client: stripe.StripeClient) -> None:
    created = client.v1.webhook_endpoints.create(
        params={"url": "http://127.0.0.1:9/none", "enabled_events": ["charge.succeeded"]}
    )
    assert created.secret.startswith("whsec_")
    assert created.status == "enabled"
    listed = client.v1.webhook_endpoints.list(params={"limit": 100})
    mine = next(e for e in listed.data if e.id == created.id)
    assert "secret" not in mine
    assert client.v1.webhook_endpoints.retrieve(created.id).url == "http://127.0.0.1:9/none"
    deleted = client.v1.webhook_endpoints.delete(created.id)
    assert deleted.deleted is True
    assert created.id not in {e.id for e in client.v1.webhook_endpoints.list(params={"limit": 100}).data}


def test_every_delivery_verifies_with_the_sdk(
    client: stripe.StripeClient,
    helpers: httpx.Client,
    receiver: Receiver,
    extra_receiver: tuple[Receiver, Any],
) -> None:
    recv, endpoint = extra_receiver
    pi_id = _new_pi(client)
    event = recv.wait_for_type({pi_id}, "payment_intent.created")
    assert event["pending_webhooks"] >= 2
    assert event["livemode"] is False
    # Only what an endpoint subscribed to reaches it: the catch-all receiver gets the cancel, this one not.
    client.v1.payment_intents.cancel(pi_id)
    canceled = receiver.wait_for_type({pi_id}, "payment_intent.canceled")
    assert _deliveries(helpers, event_id=canceled["id"], endpoint_id=endpoint.id) == []
    assert recv.types_for({pi_id}) == ["payment_intent.created"]
    assert not recv.rejected


def test_failed_deliveries_are_retried_until_2xx(
    client: stripe.StripeClient, helpers: httpx.Client, extra_receiver: tuple[Receiver, Any]
) -> None:
    recv, endpoint = extra_receiver
    recv.fail_first = 2
    pi_id = _new_pi(client)
    event = recv.wait_for_type({pi_id}, "payment_intent.created")

    def logged_ok() -> list[dict[str, Any]] | None:
        # The receiver sees the last attempt a moment before the emulator logs its answer.
        rows = _deliveries(helpers, event_id=event["id"], endpoint_id=endpoint.id)
        return rows if rows and rows[-1]["status_code"] == 200 else None

    attempts = wait_until(logged_ok, what="a successful attempt in the log")
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert [a["status_code"] for a in attempts] == [500, 500, 200]
    assert all(a["type"] == "payment_intent.created" and a["endpoint"] == endpoint.url for a in attempts)
    # pending_webhooks counts down once the endpoint has it.
    assert wait_until(
        lambda: client.v1.events.retrieve(event["id"]).pending_webhooks < event["pending_webhooks"],
        what="pending_webhooks to drop",
    )


def test_unreachable_endpoint_is_retried_with_null_status(
    client: stripe.StripeClient, helpers: httpx.Client
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    endpoint = client.v1.webhook_endpoints.create(
        params={"url": f"http://127.0.0.1:{dead_port}/gone", "enabled_events": ["payment_intent.created"]}
    )
    try:
        _new_pi(client)
        attempts = wait_until(
            lambda: (lambda rows: rows if len(rows) >= 3 else None)(
                _deliveries(helpers, endpoint_id=endpoint.id)
            ),
            what="three failed attempts",
        )
        assert [a["attempt"] for a in attempts[:3]] == [1, 2, 3]
        assert all(a["status_code"] is None and a["error"] for a in attempts[:3])
        gaps = [b["at"] - a["at"] for a, b in itertools.pairwise(attempts[:3])]
        # Exponential backoff from the 50 ms base the fixture configures: at least 50 ms, then 100 ms.
        assert gaps[0] >= 0.045
        assert gaps[1] >= 0.09
    finally:
        client.v1.webhook_endpoints.delete(endpoint.id)


def test_chaos_duplicates_deliver_each_event_n_times(
    client: stripe.StripeClient, helpers: httpx.Client, receiver: Receiver
) -> None:
    assert helpers.post("/_emulator/chaos", json={"duplicates": 3}).json()["duplicates"] == 3
    pi_id = _new_pi(client)
    events = wait_until(
        lambda: (lambda found: found if len(found) >= 3 else None)(receiver.events_for({pi_id})),
        what="three copies",
    )
    time.sleep(0.2)
    events = receiver.events_for({pi_id})
    assert len(events) == 3
    assert len({e["id"] for e in events}) == 1
    assert not receiver.rejected


def test_chaos_drop_first_loses_the_first_attempt_then_retries(
    client: stripe.StripeClient, helpers: httpx.Client, receiver: Receiver
) -> None:
    helpers.post("/_emulator/chaos", json={"drop_first": True})
    pi_id = _new_pi(client)
    event = receiver.wait_for_type({pi_id}, "payment_intent.created")

    def settled() -> list[dict[str, Any]] | None:
        rows = [
            a for a in _deliveries(helpers, event_id=event["id"]) if a["endpoint"].startswith(receiver.url)
        ]
        return rows if rows and rows[-1]["status_code"] == 200 else None

    attempts = wait_until(settled, what="the retry after the dropped attempt")
    assert attempts[0]["attempt"] == 1
    assert attempts[0]["dropped"] is True
    assert attempts[0]["status_code"] is None
    assert attempts[-1]["attempt"] == 2
    assert attempts[-1]["status_code"] == 200


def test_chaos_shuffle_and_delay_still_deliver_everything(
    client: stripe.StripeClient, helpers: httpx.Client, receiver: Receiver
) -> None:
    helpers.post("/_emulator/chaos", json={"shuffle": True, "delay_ms": 300})
    started = time.monotonic()
    pi = client.v1.payment_intents.create(
        params={"amount": 800, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
    )
    types = receiver.wait_for_types({pi.id}, 3)
    assert time.monotonic() - started >= 0.3
    assert sorted(types) == sorted(["payment_intent.created", "charge.succeeded", "payment_intent.succeeded"])


def test_resend_delivers_an_event_again(
    client: stripe.StripeClient, helpers: httpx.Client, receiver: Receiver
) -> None:
    pi_id = _new_pi(client)
    event = receiver.wait_for_type({pi_id}, "payment_intent.created")
    resent = helpers.post(f"/_emulator/events/{event['id']}/resend")
    assert resent.status_code == 200
    assert resent.json()["queued"] >= 1
    wait_until(lambda: len(receiver.events_for({pi_id})) == 2, what="the resent copy")
    assert [e["id"] for e in receiver.events_for({pi_id})] == [event["id"], event["id"]]
