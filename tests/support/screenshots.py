"""Screenshots of the console and the referrer dashboard at desktop and phone widths (docs/screenshots/).

Run by ``scripts/screenshots``: real ``payments serve``, emulator and Orders processes, data planted through
the service's own paths, Debian's Chromium driven by Playwright.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from payments.bootstrap import Container
from payments.domain.payment import PaymentSnapshot
from payments.domain.payment_state import PaymentFacts, PaymentStatus
from payments.domain.state_diff import Cause
from tests.support import stripe_events as se
from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.support.pages_seed import month_starts, plant_commissions
from tests.support.pages_stack import TOKEN, PagesStack, pages_stack
from tests.support.processes import wait_until

WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}


def _plant(stack: PagesStack) -> None:
    stack.orders.behaviour.failing = True
    for n in range(2):
        paid = stack.create_payment(f"ord_2026_{1040 + n}", amount=4_900 + 2_500 * n, referrer_id="ref_lena")
        stack.pay(paid)
    wait_until(lambda: len(stack.orders.behaviour.calls) >= 2, what="failed deliveries")
    stuck = stack.create_payment("ord_2026_1043", amount=12_900)
    stack.plant_failed_event(stuck)
    odd = stack.create_payment("ord_2026_1044", amount=8_000)
    stack.deliver(
        se.event(
            "checkout.session.completed",
            se.session(odd["stripe_checkout_session_id"], odd["id"], odd["order_id"], None, amount=7_500),
        )
    )
    now = datetime.now(UTC)

    async def referral_history(c: Container) -> None:
        await plant_commissions(c, "ref_lena", month_starts(now, 18), 6, now=now)
        await plant_commissions(c, "ref_omar", month_starts(now, 6), 3, now=now)
        await plant_commissions(c, "ref_spam", month_starts(now, 1), 2, now=now)
        risky = PaymentSnapshot(
            payment_id="pay_risky",
            order_id="ord_2026_1045",
            user_id="cust_risky",
            amount=25_000,
            currency="eur",
            referrer_id="ref_omar",
            customer_email=None,
            status=PaymentStatus.SUCCEEDED,
            facts=PaymentFacts(
                succeeded=True, amount_received=25_000, currency_received="eur", risk_level="elevated"
            ),
        )
        await c.commissions.accrue_commission(risky, Cause("evt_risky", "charge.succeeded"), now)
        ops = c.operator
        await ops.ban_referrer("ref_spam", "self-referrals from one card", "console:admin")
        await ops.verify_audit_chain("console:admin")

    stack.run(referral_history)


def _shoot(stack: PagesStack, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    saved: list[Path] = []
    link = stack.cli("referrers", "link", "ref_lena")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            for name, (width, height) in WIDTHS.items():
                page = browser.new_page(viewport={"width": width, "height": height})
                page.goto(f"{stack.base}/console")
                page.fill("#token", TOKEN)
                page.click("button[type=submit]")
                page.wait_for_url(f"{stack.base}/console")
                shots = {
                    "console-needs-attention": "/console",
                    "console-find-payment": "/console/payments?q=ord_2026_1040",
                    "console-referral-programme": "/console/referrals",
                }
                for shot, path in shots.items():
                    page.goto(f"{stack.base}{path}")
                    target = out / f"{shot}-{name}.png"
                    page.screenshot(path=str(target), full_page=True)
                    saved.append(target)
                page.goto(link)
                page.wait_for_url(f"{stack.base}/referrer")
                page.goto(f"{stack.base}/referrer?from={month_starts(datetime.now(UTC), 18)[0]:%Y-%m}")
                target = out / f"referrer-dashboard-{name}.png"
                page.screenshot(path=str(target), full_page=True)
                saved.append(target)
                page.close()
        finally:
            browser.close()
    return saved


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="payments-screenshots-") as tmp, pages_stack(Path(tmp)) as stack:
        _plant(stack)
        for path in _shoot(stack, out):
            sys.stdout.write(f"{path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
