"""The floor of a payment creation that stores its row before calling Stripe: the steps, nothing else.

Read the JSON body, insert a row (one autocommit statement), POST the Checkout Session form to Stripe
(aiohttp, no SDK), store the session's id and address (one ``UPDATE ... RETURNING``), answer the row as
JSON. No validation, no framework, one connection, and no SDK, unless ``BENCH_REFERENCE_SDK=1``: then the
call goes through the official SDK as the service's does (``raw_request_async`` on its aiohttp client),
the one part of the service's stack the project may not replace. ``payment_creation.py`` runs both
beside the service, so the service's time can be read against the floor its design and its stack allow
as well as against the emulator's own.
Run: uvicorn --factory benchmarks.creation_reference:create --loop uvloop --http httptools
(PAYMENTS_DATABASE_URL and PAYMENTS_STRIPE_API_BASE as for the service).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import aiohttp
import asyncpg

from benchmarks.reference_app import answer, read_body

CREATE = """
CREATE TABLE IF NOT EXISTS bench_ref_payments (
    id text PRIMARY KEY, order_id text UNIQUE NOT NULL, body text NOT NULL, url text, session_id text
)
"""


def create() -> Any:
    dsn = os.environ["PAYMENTS_DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
    stripe = os.environ["PAYMENTS_STRIPE_API_BASE"] + "/v1/checkout/sessions"
    held: dict[str, Any] = {}
    through_sdk = os.environ.get("BENCH_REFERENCE_SDK") == "1"

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    held["db"] = await asyncpg.connect(dsn)
                    await held["db"].execute(CREATE)
                    held["http"] = aiohttp.ClientSession()
                    if through_sdk:
                        held["sdk"] = _sdk_client(os.environ["PAYMENTS_STRIPE_API_BASE"])
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await held["http"].close()
                    await held["db"].close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["path"] == "/healthz":
            await answer(send, 200, b"{}")
            return
        body = await read_body(receive)
        asked = json.loads(body)
        payment_id = "pay_" + uuid.uuid4().hex[:24]
        db = held["db"]
        await db.fetchval(
            "INSERT INTO bench_ref_payments (id, order_id, body) VALUES ($1, $2, $3) "
            "ON CONFLICT DO NOTHING RETURNING 1",
            payment_id,
            asked["order_id"],
            body.decode(),
        )
        headers = {
            "Authorization": "Bearer sk_test_emulator",
            "Idempotency-Key": f"{payment_id}:checkout_session",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        if through_sdk:
            sdk_answer = await held["sdk"].raw_request_async(
                "post",
                "/v1/checkout/sessions",
                idempotency_key=headers["Idempotency-Key"],
                **_nested(asked, payment_id),
            )
            session = sdk_answer.data
        else:
            form = urlencode(session_form(asked, payment_id))
            async with held["http"].post(stripe, data=form, headers=headers) as got:
                session = json.loads(await got.read())
        row = await db.fetchrow(
            "UPDATE bench_ref_payments SET url = $2, session_id = $3 WHERE id = $1 RETURNING *",
            payment_id,
            session["url"],
            session["id"],
        )
        await answer(send, 201, json.dumps(dict(row)).encode())

    return app


def session_form(asked: dict[str, Any], payment_id: str) -> dict[str, str]:
    """The Checkout Session the service asks for (adapters/stripe_gateway/client.py), as a form."""
    form = {
        "mode": "payment",
        "line_items[0][quantity]": "1",
        "line_items[0][price_data][currency]": asked["currency"],
        "line_items[0][price_data][unit_amount]": str(asked["amount"]),
        "line_items[0][price_data][product_data][name]": asked.get("description") or "",
        "client_reference_id": asked["order_id"],
        "payment_intent_data[description]": asked.get("description") or "",
        "success_url": "http://127.0.0.1/ok",
        "cancel_url": "http://127.0.0.1/cancel",
        "expires_at": str(int(time.time()) + 3600),
        "adaptive_pricing[enabled]": "false",
    }
    metadata = {
        "order_id": asked["order_id"],
        "user_id": asked["user_id"],
        "payment_id": payment_id,
        "referrer_id": "",
        "payment_type": "checkout",
    }
    for key, value in metadata.items():
        form[f"metadata[{key}]"] = value
        form[f"payment_intent_data[metadata][{key}]"] = value
    return form


def _sdk_client(api_base: str) -> Any:
    import stripe

    return stripe.StripeClient(
        "sk_test_emulator", base_addresses={"api": api_base}, http_client=stripe.AIOHTTPClient()
    )


def _nested(asked: dict[str, Any], payment_id: str) -> dict[str, Any]:
    """``session_form`` as the nested parameters the SDK encodes into that form."""
    form = session_form(asked, payment_id)
    metadata = {k[len("metadata[") : -1]: v for k, v in form.items() if k.startswith("metadata[")}
    return {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": asked["currency"],
                    "unit_amount": asked["amount"],
                    "product_data": {"name": asked.get("description") or ""},
                },
            }
        ],
        "client_reference_id": asked["order_id"],
        "metadata": metadata,
        "payment_intent_data": {"metadata": metadata, "description": asked.get("description") or ""},
        "success_url": form["success_url"],
        "cancel_url": form["cancel_url"],
        "expires_at": int(form["expires_at"]),
        "adaptive_pricing": {"enabled": False},
    }
