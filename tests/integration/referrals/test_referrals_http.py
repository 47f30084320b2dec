"""The referral API over HTTP, fed by real webhooks: tokens, report, CSV, audit; `payments audit verify`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import timedelta

import jwt
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db.referral_tables import referral_audit_log
from payments.referrals.access import issue_referrer_token
from tests.support import stripe_events as se
from tests.support.service import Service, running_service

JWT_SECRET = "jwt-test-secret-long-enough-for-hs256"  # what tests.support.service configures


def _token(referrer_id: str) -> str:
    return issue_referrer_token(referrer_id, JWT_SECRET, lifetime=timedelta(seconds=600))


async def _referred_purchase(svc: Service, order_id: str, referrer: str, amount: int = 10_000) -> None:
    pid = await svc.add_payment(order_id, amount=amount, referrer_id=referrer, user_id=f"buyer_{order_id}")
    await svc.deliver(
        se.event(
            "checkout.session.completed",
            se.session(f"cs_{order_id}", pid, order_id, f"pi_{order_id}", amount=amount),
        )
    )


def _cli(engine: AsyncEngine, *args: str) -> subprocess.CompletedProcess[str]:
    url = engine.url.render_as_string(hide_password=False)
    return subprocess.run(
        [sys.executable, "-m", "payments.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PAYMENTS_DATABASE_URL": url},
        timeout=120,
    )


async def test_tokens_decide_who_reads_which_report(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        await _referred_purchase(svc, "ord_r1", "ref_a")
        url = "/v1/referrers/ref_a/report"
        own = await svc.http.get(url, headers={"Authorization": f"Bearer {_token('ref_a')}"})
        assert own.status_code == 200, own.text
        assert [(c["order_id"], c["amount"], c["status"]) for c in own.json()["commissions"]] == [
            ("ord_r1", 1000, "pending")
        ]
        other = await svc.http.get(url, headers={"Authorization": f"Bearer {_token('ref_b')}"})
        assert other.status_code == 403 and other.json()["error"]["code"] == "forbidden"
        anonymous = await svc.http.get(url, headers={"Authorization": ""})
        assert anonymous.status_code == 401
        forged = issue_referrer_token("ref_a", "not-the-secret-but-long-enough-for-hs256")
        assert (await svc.http.get(url, headers={"Authorization": f"Bearer {forged}"})).status_code == 401
        now = int(time.time())
        for claims in (
            {"sub": "ref_a", "exp": now + 600},  # no audience, issuer or iat: the old, unbounded shape
            {"sub": "ref_a", "aud": "payments:referrer", "iss": "payments", "iat": now, "exp": 253402300799},
            {"sub": "ref_a", "aud": "another-service", "iss": "payments", "iat": now, "exp": now + 600},
        ):
            refused = jwt.encode(claims, JWT_SECRET, algorithm="HS256")
            answer = await svc.http.get(url, headers={"Authorization": f"Bearer {refused}"})
            assert answer.status_code == 401, claims
        assert (await svc.http.get(url)).status_code == 200  # the service (admin) token sees any referrer


async def test_report_csv_audit_and_admin_payment(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        await _referred_purchase(svc, "ord_c1", "ref_csv", amount=20_000)
        await _referred_purchase(svc, "ord_c2", "ref_csv", amount=5_000)
        csv = await svc.http.get("/v1/referrers/ref_csv/report", params={"format": "csv"})
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        lines = csv.text.strip().splitlines()
        assert len(lines) == 3 and "ord_c1" in csv.text and "ord_c2" in csv.text
        bad = await svc.http.get("/v1/referrers/ref_csv/report", params={"status": "nonsense"})
        assert bad.status_code == 422
        report = (await svc.http.get("/v1/referrers/ref_csv/report")).json()
        commission_id = report["commissions"][0]["id"]
        audit = (await svc.http.get(f"/v1/commissions/{commission_id}/audit")).json()
        assert [e["action"] for e in audit] == ["accrued"]
        not_yet = await svc.http.post(f"/v1/commissions/{commission_id}/pay")
        assert not_yet.status_code == 409  # pending: the hold period is not over
        ref_token = {"Authorization": f"Bearer {_token('ref_csv')}"}
        assert (
            await svc.http.post(f"/v1/commissions/{commission_id}/pay", headers=ref_token)
        ).status_code == 401


async def test_audit_verify_names_the_changed_or_deleted_entry(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        for n in range(3):
            await _referred_purchase(svc, f"ord_a{n}", "ref_audit")
    intact = await asyncio.to_thread(_cli, engine, "audit", "verify")
    assert intact.returncode == 0 and "intact: 3 entries" in intact.stdout, intact.stdout + intact.stderr
    async with engine.begin() as conn:
        ids = (
            (await conn.execute(select(referral_audit_log.c.id).order_by(referral_audit_log.c.seq)))
            .scalars()
            .all()
        )
        await conn.execute(
            update(referral_audit_log).where(referral_audit_log.c.id == ids[1]).values(reason="edited")
        )
    changed = await asyncio.to_thread(_cli, engine, "audit", "verify")
    assert changed.returncode == 1 and ids[1] in changed.stdout, changed.stdout
    async with engine.begin() as conn:
        await conn.execute(
            update(referral_audit_log).where(referral_audit_log.c.id == ids[1]).values(reason=None)
        )
    restored = await asyncio.to_thread(_cli, engine, "audit", "verify")
    assert restored.returncode == 0, restored.stdout + restored.stderr[-500:]
    async with engine.begin() as conn:
        await conn.execute(delete(referral_audit_log).where(referral_audit_log.c.id == ids[1]))
    deleted = await asyncio.to_thread(_cli, engine, "audit", "verify")
    assert deleted.returncode == 1 and "broken at entry" in deleted.stdout, deleted.stdout


async def test_a_referrer_sees_neither_the_customer_nor_the_guard_that_fired(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        await _referred_purchase(svc, "ord_v1", "ref_view")
        # Self-referral: the guard refuses it; its code is how a fraudster would learn which rule fired.
        pid = await svc.add_payment("ord_v2", referrer_id="ref_view", user_id="ref_view")
        await svc.deliver(
            se.event("checkout.session.completed", se.session("cs_ord_v2", pid, "ord_v2", "pi_ord_v2"))
        )
        as_referrer = {"Authorization": f"Bearer {_token('ref_view')}"}
        url = "/v1/referrers/ref_view/report"

        admin = (await svc.http.get(url)).json()["commissions"]
        assert {c["customer_user_id"] for c in admin} == {"buyer_ord_v1", "ref_view"}
        assert {c["reason"] for c in admin} == {None, "self_referral"}

        own = (await svc.http.get(url, headers=as_referrer)).json()["commissions"]
        assert all("customer_user_id" not in c for c in own) and "buyer_ord_v1" not in str(own)
        refused = next(c for c in own if c["order_id"] == "ord_v2")
        assert (refused["status"], refused["reason"]) == ("refused", "not_eligible")

        one = (await svc.http.get(f"/v1/commissions/{refused['id']}", headers=as_referrer)).json()
        assert "customer_user_id" not in one and one["reason"] == "not_eligible"
        assert (await svc.http.get(f"/v1/commissions/{refused['id']}")).json()["reason"] == "self_referral"

        csv = await svc.http.get(url, params={"format": "csv"}, headers=as_referrer)
        assert csv.status_code == 200 and "not_eligible" in csv.text
        assert "self_referral" not in csv.text and "buyer_ord_v1" not in csv.text
        assert "self_referral" in (await svc.http.get(url, params={"format": "csv"})).text

        audit = f"/v1/commissions/{refused['id']}/audit"
        assert (await svc.http.get(audit, headers=as_referrer)).status_code == 401
        assert (await svc.http.get(audit)).status_code == 200
