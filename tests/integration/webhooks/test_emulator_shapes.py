"""Both payload shapes, rendered by the emulator per endpoint API version, straight into our webhook.

The emulator delivers each event twice: to an endpoint pinned before 2022-11-15 (charges embed their
refunds, intents their charges) and to one on the current version (neither). Each shape's events of
one payment are then fed into the service; the current shape's refund is fed only as ``charge.refunded``
(no ``refund.*``), so the service must list the charge's refunds from the emulator to record it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import stripe
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db.tables import refunds
from payments.adapters.stripe_gateway.client import StripeGateway
from tests.emulator.receiver import Receiver
from tests.support.processes import start_emulator
from tests.support.service import running_service

OLD = "2020-08-27"
TYPES = ("payment_intent.succeeded", "charge.succeeded", "checkout.session.completed", "charge.refunded")


@pytest.fixture(scope="module")
def emulator_url() -> Iterator[str]:
    proc, url = start_emulator()
    yield url
    proc.stop()


def _receiver(client: stripe.StripeClient, api_version: str | None) -> Receiver:
    recv = Receiver()
    params: dict[str, Any] = {"url": recv.url + "/hook", "enabled_events": ["*"]}
    if api_version:
        params["api_version"] = api_version
    recv.secret = client.v1.webhook_endpoints.create(params=params).secret
    return recv


async def _paid_and_refunded(emulator_url: str, payment_id: str, order_id: str) -> dict[str, str]:
    client = stripe.StripeClient(
        "sk_test_emulator", base_addresses={"api": emulator_url}, max_network_retries=0
    )
    metadata = {"payment_id": payment_id, "order_id": order_id, "payment_type": "checkout"}
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {"currency": "eur", "unit_amount": 10_000, "product_data": {"name": "x"}},
                }
            ],
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "success_url": "http://127.0.0.1:9/ok",
            "cancel_url": "http://127.0.0.1:9/no",
        }
    )
    async with httpx.AsyncClient(base_url=emulator_url) as http:
        paid = await http.post(
            f"/_emulator/checkout/sessions/{session.id}/pay", json={"card": "4242424242424242"}
        )
        assert paid.status_code == 200, paid.text
    pi = client.v1.payment_intents.retrieve(
        str(client.v1.checkout.sessions.retrieve(session.id).payment_intent)
    )
    # A refund made in the Dashboard: no metadata of ours.
    refund = client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 3000})
    return {"session": session.id, "pi": pi.id, "charge": str(pi.latest_charge), "refund": refund.id}


async def test_both_shapes_from_the_emulator_end_in_the_same_payment(
    engine: AsyncEngine, emulator_url: str
) -> None:
    client = stripe.StripeClient(
        "sk_test_emulator", base_addresses={"api": emulator_url}, max_network_retries=0
    )
    old, new = _receiver(client, OLD), _receiver(client, None)
    try:
        gateway = StripeGateway("sk_test_emulator", emulator_url, max_network_retries=0)
        async with running_service(engine, gateway=gateway) as svc:
            outcomes = []
            for shape, recv in (("old", old), ("new", new)):
                order = f"ord_shape_{shape}"
                pid = await svc.add_payment(order)
                ids = await _paid_and_refunded(emulator_url, pid, order)
                refs = {ids["pi"], ids["charge"], ids["session"]}
                events = {t: recv.wait_for_type(refs, t) for t in TYPES}
                charge = events["charge.refunded"]["data"]["object"]
                intent = events["payment_intent.succeeded"]["data"]["object"]
                if shape == "old":
                    assert [r["id"] for r in charge["refunds"]["data"]] == [ids["refund"]]
                    assert "charges" in intent
                else:
                    assert "refunds" not in charge and "charges" not in intent
                for t in TYPES:
                    # Re-signed with the service's secret: the emulator's endpoint is a test receiver.
                    response = await svc.deliver(events[t])
                    assert response.status_code == 200, (shape, t, response.text)
                payment = await svc.payment(pid)
                async with engine.connect() as conn:
                    rows = (
                        await conn.execute(
                            select(refunds.c.stripe_refund_id, refunds.c.amount).where(
                                refunds.c.payment_id == pid
                            )
                        )
                    ).all()
                outcomes.append(
                    (
                        payment.status,
                        payment.amount_refunded,
                        [tuple(r) for r in rows],
                        await svc.history(order),
                    )
                )
                assert rows == [(ids["refund"], 3000)], shape
            old_outcome, new_outcome = outcomes
            assert old_outcome[:2] == new_outcome[:2] == ("partially_refunded", 3000)
            assert (
                old_outcome[3]
                == new_outcome[3]
                == [
                    ("pending", "paid", 10_000, 0),
                    ("paid", "partially_refunded", 10_000, 3000),
                ]
            )
    finally:
        old.close()
        new.close()
