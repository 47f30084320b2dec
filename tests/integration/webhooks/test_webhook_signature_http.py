"""Bad signatures: 400 with the reason code, and not one row written."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.webhooks.signature import sign_payload
from tests.support import stripe_events as se
from tests.support.service import SECRET, running_service

OLD_SECRET = "whsec_test_rotated_out"
NOW = int(time.time())


def _cases(now: int = NOW) -> list[tuple[str, bytes, str | None, str]]:
    """Timestamps relative to NOW, the service's frozen clock in these tests."""
    evt = se.event(
        "checkout.session.completed", se.session("cs_sig", "pay_sig", "ord_sig", "pi_sig"), event_id="evt_sig"
    )
    body = json.dumps(evt, separators=(",", ":")).encode()
    good = sign_payload(body, SECRET, now)
    v1 = good.split("v1=")[1]
    tampered = body.replace(b"10000", b"10001")
    reserialised = json.dumps(evt, indent=2).encode()
    return [
        ("missing header", body, None, "missing_header"),
        ("empty header", body, "", "missing_header"),
        ("malformed header", body, "garbage", "malformed_header"),
        ("non-numeric timestamp", body, f"t=abc,v1={v1}", "malformed_header"),
        ("only v0", body, f"t={now},v0={v1}", "no_v1_signature"),
        ("tampered byte", tampered, good, "bad_signature"),
        ("re-serialised json", reserialised, good, "bad_signature"),
        ("unknown secret", body, sign_payload(body, "whsec_someone_else", now), "bad_signature"),
        ("old secret after rotation", body, sign_payload(body, OLD_SECRET, now), "bad_signature"),
        ("301 s old", body, sign_payload(body, SECRET, now - 301), "timestamp_out_of_tolerance"),
        ("301 s ahead", body, sign_payload(body, SECRET, now + 301), "timestamp_out_of_tolerance"),
        ("signature of another timestamp", body, f"t={now - 5},v1={v1}", "bad_signature"),
        (
            "valid signature, not json",
            b"not json",
            sign_payload(b"not json", SECRET, now),
            "malformed_payload",
        ),
    ]


CASE_NAMES = [c[0] for c in _cases()]


@pytest.mark.parametrize("index", range(len(CASE_NAMES)), ids=CASE_NAMES)
async def test_rejected_delivery_writes_nothing(engine: AsyncEngine, index: int) -> None:
    name, body, header, code = _cases()[index]
    async with running_service(engine, clock=lambda: datetime.fromtimestamp(NOW, UTC)) as svc:
        await svc.add_payment("ord_sig")
        headers = {"Stripe-Signature": header} if header is not None else {}
        response = await svc.http.post("/v1/webhooks/stripe", content=body, headers=headers)
        assert response.status_code == 400, name
        assert response.json()["error"]["code"] == code
        assert SECRET not in response.text
        assert await svc.row_counts() == (0, 0, 1)


async def test_rotation_accepts_either_configured_secret(engine: AsyncEngine) -> None:
    async with running_service(engine, stripe_webhook_secrets=f"{SECRET},{OLD_SECRET}") as svc:
        pid = await svc.add_payment("ord_rot")
        for n, secret in enumerate((SECRET, OLD_SECRET)):
            evt = se.event(
                "checkout.session.completed",
                se.session("cs_rot", pid, "ord_rot", "pi_rot"),
                event_id=f"evt_rot_{n}",
            )
            response = await svc.deliver(evt, secret=secret)
            assert response.status_code == 200
        assert (await svc.payment(pid)).status == "succeeded"


async def test_an_absurdly_large_delivery_is_refused_unread(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        response = await svc.http.post(
            "/v1/webhooks/stripe",
            content=b"{" + b" " * (600 * 1024) + b"}",
            headers={"Stripe-Signature": "t=1,v1=00"},
        )
        assert response.status_code == 413 and response.json()["error"]["code"] == "payload_too_large"
        assert await svc.row_counts() == (0, 0, 0)
