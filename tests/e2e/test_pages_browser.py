"""The console and the referrer dashboard in a real (headless) Chromium, against real processes."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support import stripe_events as se
from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.support.pages_seed import month_starts, plant_commissions
from tests.support.pages_stack import TOKEN, PagesStack, pages_stack
from tests.support.processes import wait_until

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PagesStack]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's `chromium` package (apt-get install -y chromium)"
        )
    with pages_stack(tmp_path_factory.mktemp("pages")) as running:
        yield running


@pytest.fixture
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


def _count(page: object, key: str) -> int:
    return int(page.get_attribute(f"#count-{key}", "data-count"))  # type: ignore[attr-defined]


def test_operator_signs_in_and_resolves_what_needs_attention(stack: PagesStack, browser: object) -> None:
    stack.orders.behaviour.failing = True
    paid = stack.create_payment("ord_console_paid")
    stack.pay(paid)
    wait_until(lambda: stack.orders.behaviour.calls, what="a failed delivery to Orders")
    stuck = stack.create_payment("ord_console_stuck", amount=4_200)
    event_id = stack.plant_failed_event(stuck)
    odd = stack.create_payment("ord_console_odd", amount=10_000)
    stack.deliver(
        se.event(
            "checkout.session.completed",
            se.session(odd["stripe_checkout_session_id"], odd["id"], odd["order_id"], None, amount=9_000),
        )
    )
    assert stack.payment(odd["id"])["status"] == "needs_review"

    page = browser.new_page()  # type: ignore[attr-defined]
    page.goto(f"{stack.base}/console")
    assert page.locator("h1").inner_text() == "Operator console"
    assert "ord_console" not in page.content()
    page.fill("#token", "wrong")
    page.click("button[type=submit]")
    assert "not the admin credential" in page.locator("#signin-error").inner_text()
    page.fill("#token", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_url(f"{stack.base}/console")
    assert page.locator("h1").inner_text() == "Needs attention"
    assert _count(page, "review") == 1 and page.locator(f"#review-{odd['id']}").is_visible()
    assert _count(page, "events") == 1 and page.locator(f"#event-{event_id}").is_visible()
    # The paid order's diff and the one under review's (Orders hears needs_review too).
    assert _count(page, "outbox") == 2
    assert "Last delivery error" in page.locator("#q-outbox").inner_text()

    # The failed event: replayed from the page, the payment it was about is paid.
    page.locator(f"#event-{event_id} button", has_text="Replay").click()
    assert "replayed: processed" in page.locator("#flash").inner_text()
    assert _count(page, "events") == 0
    assert stack.payment(stuck["id"])["status"] == "succeeded"

    # The payment under review: the operator accepts what Stripe took; the API says it is paid.
    page.locator(f"#review-{odd['id']} button", has_text="Accept").click()
    assert "reviewed (accept)" in page.locator("#flash").inner_text()
    assert _count(page, "review") == 0
    assert stack.payment(odd["id"])["status"] == "succeeded"

    # Orders is back, but the relay's backoff has pushed the messages an hour out (as after a long outage):
    # nothing moves until a person presses "Retry now" on each waiting message.
    stack.push_outbox_back(hours=1)
    stack.orders.behaviour.failing = False
    page.goto(f"{stack.base}/console")
    waiting = [row.get_attribute("id") for row in page.locator("#q-outbox tbody tr").all()]
    # Paid, needs_review, the replayed payment's paid, and the accepted review's paid.
    assert len(waiting) == _count(page, "outbox") == 4
    for row_id in waiting:
        page.locator(f"#{row_id} button", has_text="Retry now").click()
        assert "1 message(s) due now" in page.locator("#flash").inner_text()

    def outbox_empty() -> bool:
        page.goto(f"{stack.base}/console")
        return _count(page, "outbox") == 0

    wait_until(outbox_empty, timeout=20, interval=0.3, what="the outbox to empty")
    delivered = {(c.diff["order_id"], c.diff["to_state"]) for c in stack.orders.behaviour.applied}
    assert {
        ("ord_console_paid", "paid"),
        ("ord_console_stuck", "paid"),
        ("ord_console_odd", "needs_review"),
        ("ord_console_odd", "paid"),
    } <= delivered

    # Find the payment the event was about: its history and the event applied.
    page.click("text=Find a payment")
    page.fill("#q", stuck["stripe_checkout_session_id"])
    page.press("#q", "Enter")
    timeline = page.locator(".timeline").inner_text()
    assert "pending → paid" in timeline
    assert event_id in page.locator(f"#attempt-{stuck['id']}").inner_text()

    # Signing out leaves nothing behind: the console is the sign-in page again.
    page.click("text=Sign out")
    page.goto(f"{stack.base}/console")
    assert page.locator("h1").inner_text() == "Operator console"


def test_referrer_follows_their_link_and_sees_what_the_api_reports(
    stack: PagesStack, browser: object
) -> None:
    now = datetime.now(UTC)
    months = month_starts(now, 3)

    async def plant(c: object) -> int:
        await plant_commissions(c, "ref_other", months[-1:], 2, now=now)  # type: ignore[arg-type]
        return await plant_commissions(c, "ref_web", months, 25, now=now)  # type: ignore[arg-type]

    planted = stack.run(plant)
    link = stack.cli("referrers", "link", "ref_web")
    assert link.startswith(f"{stack.base}/referrer/signin?token=")

    page = browser.new_page(accept_downloads=True)  # type: ignore[attr-defined]
    page.goto(link)
    page.wait_for_url(f"{stack.base}/referrer")
    assert page.locator("#who").inner_text() == "ref_web"
    page.fill("#from", f"{months[0]:%Y-%m}")
    page.click("text=Show")
    page.wait_for_url("**/referrer?from=*")

    with stack.api() as api:
        report = api.get("/v1/referrers/ref_web/report", params={"from": months[0].isoformat()}).json()
        api_csv = api.get(
            "/v1/referrers/ref_web/report", params={"from": months[0].isoformat(), "format": "csv"}
        ).text
        for month, following in zip(months, [*months[1:], None], strict=True):
            params = {"from": month.isoformat()} | ({"to": following.isoformat()} if following else {})
            net = api.get("/v1/referrers/ref_web/report", params=params).json()["net"]
            bar = page.locator(f'#chart-eur g.bar[data-month="{month:%Y-%m}"]')
            shown = tuple(int(bar.get_attribute(a)) for a in ("data-gross", "data-clawed-back", "data-net"))
            assert shown == ((net[0]["gross"], net[0]["clawed_back"], net[0]["net"]) if net else (0, 0, 0))
    net = report["net"][0]
    row = page.locator('#net tr[data-currency="eur"]')
    assert (
        int(row.get_attribute("data-net")) == net["net"]
        and int(row.get_attribute("data-gross")) == net["gross"]
    )
    assert sum(int(r.get_attribute("data-count")) for r in page.locator("#totals tbody tr").all()) == planted
    assert (
        page.locator("#chart-eur figcaption [data-total=net]").inner_text()
        == row.locator("strong").inner_text()
    )

    # Pages through every commission, newest first, as the API lists them.
    api_ids = [r["id"] for r in csv.DictReader(io.StringIO(api_csv))]
    seen: list[str] = []
    while True:
        seen += [r.get_attribute("data-id") for r in page.locator("#commissions tbody tr").all()]
        older = page.locator("#older")
        if older.count() == 0:
            break
        older.click()
    assert seen == api_ids and len(seen) == planted

    # The CSV download holds the same rows.
    with page.expect_download() as download_info:
        page.click("#csv")
    downloaded = Path(download_info.value.path()).read_text()
    assert [r["id"] for r in csv.DictReader(io.StringIO(downloaded))] == api_ids
    assert "cust_" not in page.content() and "ref_other" not in downloaded

    # Nothing else opens: not another referrer's figures, not the console.
    page.goto(f"{stack.base}/referrer?referrer_id=ref_other")
    assert page.locator("#who").inner_text() == "ref_web" and "ref_other" not in page.content()
    page.goto(f"{stack.base}/console")
    assert page.locator("h1").inner_text() == "Operator console" and "ord_" not in page.content()
    response = page.goto(f"{stack.base}/v1/referrers/ref_other/report")
    assert response is not None and response.status == 401
