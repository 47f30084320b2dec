"""Drill: after a busy session full of secrets and personal data, the service's log holds none of them.

A ``payments serve`` process at debug level with planted secrets (Stripe key, webhook secrets, API token,
JWT secret) takes payments for a planted customer email, gets paid with card 4242 4242 4242 4242 through
the emulator (whose webhooks it receives), refunds, receives our own signed events carrying the card
number and the email in their fields, and is made to fail every way we can think of: bad signatures, bad
input, a signed event it chokes on, Orders down, Stripe down. Then its whole log is searched for every
planted value, every signature header we sent, the email, the card number and the referrer's token.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
import stripe

from payments.referrals.access import issue_referrer_token
from payments.webhooks.signature import sign_payload
from tests.drills.conftest import DrillDb
from tests.support import stripe_events as se
from tests.support.orders_server import GrpcOrdersServer
from tests.support.processes import eventually, free_port, start_emulator, start_service

pytestmark = pytest.mark.drill

EMAIL = "planted.person@example.com"
CARD = "4242424242424242"


def _planted() -> dict[str, str]:
    tag = secrets.token_hex(8)
    return {
        "stripe_api_key": f"sk_test_PLANTED{tag}",
        "webhook_secret": f"whsec_PLANTED{tag}",
        "old_webhook_secret": f"whsec_PLANTEDold{tag}",
        "api_token": f"tok-PLANTED-{tag}",
        "jwt_secret": f"jwt-PLANTED-{tag}{tag}",  # 32+ bytes, as HS256 wants
    }


async def test_the_log_holds_no_secret_signature_email_or_card_number(drill_db: DrillDb) -> None:
    planted = _planted()
    emulator, emulator_url = start_emulator()
    orders = GrpcOrdersServer()
    await orders.start()
    orders.behaviour.failing = True
    http_port = free_port()
    stripe_client = stripe.StripeClient(
        planted["stripe_api_key"], base_addresses={"api": emulator_url}, max_network_retries=0
    )
    endpoint = stripe_client.v1.webhook_endpoints.create(
        params={"url": f"http://127.0.0.1:{http_port}/v1/webhooks/stripe", "enabled_events": ["*"]}
    )
    found: dict[str, Any] = {"sent_signatures": [], "client_secrets": [], "tokens": []}
    env = {
        "PAYMENTS_DATABASE_URL": drill_db.url,
        "PAYMENTS_STRIPE_API_BASE": emulator_url,
        "PAYMENTS_STRIPE_API_KEY": planted["stripe_api_key"],
        "PAYMENTS_STRIPE_WEBHOOK_SECRETS": f"{planted['old_webhook_secret']},{endpoint.secret},"
        f"{planted['webhook_secret']}",
        "PAYMENTS_API_TOKEN": planted["api_token"],
        "PAYMENTS_JWT_SECRET": planted["jwt_secret"],
        "PAYMENTS_HTTP_PORT": str(http_port),
        "PAYMENTS_ORDERS_URL": orders.url,
        "PAYMENTS_OUTBOX_POLL_SECONDS": "0.1",
        "PAYMENTS_LOG_LEVEL": "debug",
    }
    log_path = drill_db.workdir / "service.log"
    service, base = await asyncio.to_thread(start_service, env, drill_db.workdir, log_path)
    answers: list[tuple[str, int]] = []
    try:
        async with httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {planted['api_token']}"}, timeout=30
        ) as api:
            await _busy_session(api, planted, endpoint.secret, emulator_url, found, answers)
            await eventually(lambda: len(orders.calls) > 0, timeout=20, what="the relay to try Orders")
            emulator.stop()  # Stripe down from here on
            await _stripe_down(api, found, answers)
    finally:
        service.stop()
        emulator.stop()
        await orders.stop()

    text = log_path.read_text(errors="replace")
    lines = text.splitlines()
    must_not_appear = {
        **planted,
        "webhook secret the emulator gave": str(endpoint.secret),
        "email": EMAIL,
        "email local part": EMAIL.split("@")[0],
        "card number": CARD,
        "card number, spaced": " ".join(CARD[i : i + 4] for i in range(0, 16, 4)),
        **{f"signature header {n}": h for n, h in enumerate(found["sent_signatures"])},
        **{f"signature {n}": h.split("v1=")[1] for n, h in enumerate(found["sent_signatures"])},
        **{f"client secret {n}": s for n, s in enumerate(found["client_secrets"])},
        **{f"referrer token {n}": t for n, t in enumerate(found["tokens"])},
    }
    leaks = {
        name: next(line[:300] for line in lines if value in line)
        for name, value in must_not_appear.items()
        if value and value in text
    }
    signature_like = [line[:300] for line in lines if re.search(r"v1=[0-9a-f]{16}", line)]
    context = f"answers={answers}; log: {len(lines)} lines at {log_path}"
    # The drill is only worth something if the log saw the traffic, including the failures.
    for expected in ("payment.created", "webhook.handled", "payment.stripe_failed", "outbox.delivery_failed"):
        assert expected in text, f"the log has no {expected!r}: the drill did not exercise it; {context}"
    assert not leaks, f"planted values in the log: {json.dumps(leaks, indent=1)}; {context}"
    assert not signature_like, f"signature values in the log: {signature_like[:3]}; {context}"


async def _busy_session(
    api: httpx.AsyncClient,
    planted: dict[str, str],
    emulator_secret: str,
    emulator_url: str,
    found: dict[str, Any],
    answers: list[tuple[str, int]],
) -> None:
    def note(what: str, response: httpx.Response, *expected: int) -> httpx.Response:
        answers.append((what, response.status_code))
        assert response.status_code in expected, f"{what}: {response.status_code} {response.text}"
        return response

    # Payments for the planted customer, one through Checkout and one as a bare PaymentIntent.
    checkout = note(
        "create checkout",
        await api.post(
            "/v1/payments",
            json={
                "order_id": "ord_log_1",
                "user_id": "u_log",
                "amount": 5000,
                "currency": "eur",
                "customer_email": EMAIL,
                "referrer_id": "ref_log",
                "description": f"gift for {EMAIL}",
            },
            headers={"Idempotency-Key": "log-create-1"},
        ),
        201,
    ).json()
    intent = note(
        "create intent",
        await api.post(
            "/v1/payments",
            json={
                "order_id": "ord_log_2",
                "user_id": "u_log",
                "amount": 3000,
                "currency": "eur",
                "customer_email": EMAIL,
                "mode": "payment_intent",
            },
        ),
        201,
    ).json()
    found["client_secrets"].append(intent["client_secret"])

    # The customer pays with the card on the emulator's page; the emulator's webhooks tell the service.
    async with httpx.AsyncClient(base_url=emulator_url, timeout=30) as emu:
        paid = await emu.post(
            f"/_emulator/checkout/sessions/{checkout['stripe_checkout_session_id']}/pay", json={"card": CARD}
        )
        assert paid.status_code == 200, paid.text

    async def status_is(wanted: str) -> bool:
        return bool((await api.get(f"/v1/payments/{checkout['id']}")).json()["status"] == wanted)

    await eventually(lambda: status_is("succeeded"), timeout=20, what="the payment to succeed by webhook")
    payment = (await api.get(f"/v1/payments/{checkout['id']}")).json()

    # Refunds through our API (Stripe called), then one more than what remains (Stripe not called).
    note(
        "refund",
        await api.post(
            f"/v1/payments/{checkout['id']}/refunds",
            json={"amount": 1000, "reason": "requested_by_customer"},
            headers={"Idempotency-Key": "log-refund-1"},
        ),
        201,
    )
    await eventually(lambda: status_is("partially_refunded"), timeout=20, what="the refund by webhook")
    note("over-refund", await api.post(f"/v1/payments/{checkout['id']}/refunds", json={"amount": 10**6}), 409)

    # Our own signed events: the card number and the email in their fields, with both our secrets.
    pi, charge = payment["stripe_payment_intent_id"], f"ch_log_{secrets.token_hex(4)}"
    carded = se.charge(charge, pi, amount=5000)
    carded["payment_method_details"]["card"].update({"number": CARD, "last4": CARD[-4:]})
    carded["billing_details"] = {"email": EMAIL, "name": "Planted Person"}
    carded["receipt_email"] = EMAIL
    carded["description"] = f"card {CARD} for {EMAIL}"
    session = se.session("cs_log_x", checkout["id"], "ord_log_1", pi, amount=5000)
    session["customer_details"] = {"email": EMAIL}
    for secret in (planted["webhook_secret"], planted["old_webhook_secret"]):
        for evt in (se.event("charge.updated", carded), se.event("checkout.session.completed", session)):
            for _ in range(2):
                note("signed event", await _webhook(api, evt, secret, found), 200)

    # Deliveries that must be refused: wrong secret, no header, tampered body, stale signature.
    evt = se.event("charge.updated", carded)
    note("wrong secret", await _webhook(api, evt, f"whsec_{secrets.token_hex(8)}", found), 400)
    note("no signature", await api.post("/v1/webhooks/stripe", content=json.dumps(evt).encode()), 400)
    body = json.dumps(evt).encode()
    header = sign_payload(body, planted["webhook_secret"], int(time.time()))
    found["sent_signatures"].append(header)
    tampered = body.replace(b"5000", b"9000")
    note(
        "tampered",
        await api.post("/v1/webhooks/stripe", content=tampered, headers={"Stripe-Signature": header}),
        400,
    )
    note(
        "stale",
        await _webhook(api, evt, planted["webhook_secret"], found, at=int(time.time()) - 3600),
        400,
    )
    garbage = f'{{"card": "{CARD}", "email": "{EMAIL}", '.encode()
    note("not json", await _webhook_raw(api, garbage, planted["webhook_secret"], found), 400)

    # A signed event the service chokes on (see test_found_bugs.py): its traceback goes to the log.
    choke = se.event(
        "payment_intent.succeeded",
        {
            "id": pi,
            "object": "payment_intent",
            "amount_received": f"{CARD} EUR",
            "currency": "eur",
            "metadata": {"payment_id": checkout["id"], "email": EMAIL},
        },
    )
    note("choking event", await _webhook(api, choke, planted["webhook_secret"], found), 200, 500)

    # Bad input on the API, carrying the email and the card number.
    note(
        "invalid payment",
        await api.post(
            "/v1/payments",
            json={
                "order_id": "bad id",
                "user_id": "u",
                "amount": -1,
                "currency": "eur",
                "customer_email": EMAIL,
                "description": CARD,
            },
        ),
        422,
    )
    note(
        "invalid email",
        await api.post(
            "/v1/payments",
            json={
                "order_id": "ord_log_3",
                "user_id": "u",
                "amount": 100,
                "currency": "eur",
                "customer_email": f"{CARD} {EMAIL}",
            },
        ),
        422,
    )
    note(
        "not json",
        await api.post("/v1/payments", content=garbage, headers={"content-type": "application/json"}),
        422,
    )
    note(
        "conflicting terms",
        await api.post(
            "/v1/payments",
            json={
                "order_id": "ord_log_1",
                "user_id": "u_log",
                "amount": 9999,
                "currency": "eur",
                "customer_email": EMAIL,
            },
        ),
        409,
    )
    note(
        "wrong token",
        await api.get(f"/v1/payments/{checkout['id']}", headers={"Authorization": f"Bearer {CARD}"}),
        401,
    )

    # The referrer's report with its token (a credential), and with a forged one.
    token = issue_referrer_token("ref_log", planted["jwt_secret"], lifetime=timedelta(seconds=600))
    found["tokens"].append(token)
    note(
        "referrer report",
        await api.get("/v1/referrers/ref_log/report", headers={"Authorization": f"Bearer {token}"}),
        200,
    )
    forged = issue_referrer_token(
        "ref_log", "not-the-secret-at-all-but-long-enough", lifetime=timedelta(seconds=600)
    )
    found["tokens"].append(forged)
    note(
        "forged token",
        await api.get("/v1/referrers/ref_log/report", headers={"Authorization": f"Bearer {forged}"}),
        401,
    )
    note(
        "webhook secret as token",
        await api.get(
            f"/v1/payments/{checkout['id']}", headers={"Authorization": f"Bearer {emulator_secret}"}
        ),
        401,
    )


async def _stripe_down(api: httpx.AsyncClient, found: dict[str, Any], answers: list[tuple[str, int]]) -> None:
    created = await api.post(
        "/v1/payments",
        json={
            "order_id": "ord_log_4",
            "user_id": "u_log",
            "amount": 700,
            "currency": "eur",
            "customer_email": EMAIL,
        },
    )
    answers.append(("create with Stripe down", created.status_code))
    assert created.status_code == 502, created.text
    payment = (await api.get("/v1/payments", params={"order_id": "ord_log_1"})).json()
    refund = await api.post(f"/v1/payments/{payment['id']}/refunds", json={"amount": 100})
    answers.append(("refund with Stripe down", refund.status_code))
    assert refund.status_code in (502, 503), refund.text


async def _webhook(
    api: httpx.AsyncClient, evt: dict[str, Any], secret: str, found: dict[str, Any], *, at: int | None = None
) -> httpx.Response:
    return await _webhook_raw(api, json.dumps(evt).encode(), secret, found, at=at)


async def _webhook_raw(
    api: httpx.AsyncClient, body: bytes, secret: str, found: dict[str, Any], *, at: int | None = None
) -> httpx.Response:
    header = sign_payload(body, secret, at if at is not None else int(time.time()))
    found["sent_signatures"].append(header)
    return await api.post("/v1/webhooks/stripe", content=body, headers={"Stripe-Signature": header})
