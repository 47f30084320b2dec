"""A person pays on the hosted page in a real (headless) Chromium."""

from __future__ import annotations

import pytest
import stripe

from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS

from .conftest import session_params
from .receiver import Receiver


@pytest.mark.browser
def test_person_pays_with_4242_and_lands_on_success_url(
    client: stripe.StripeClient, receiver: Receiver, marker: str
) -> None:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's `chromium` package (apt-get install -y chromium)"
        )
    from playwright.sync_api import sync_playwright

    session = client.v1.checkout.sessions.create(params=session_params(marker, receiver_url=receiver.url))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(session.url)
            assert page.locator("#total").inner_text() == "$34.99"
            page.fill("#card-number", "4000 0000 0000 0002")
            page.click("#pay")
            assert "declined" in page.locator("#error").inner_text()
            assert page.url == session.url

            page.fill("#card-number", "4242 4242 4242 4242")
            page.fill("#cardholder-name", "Jenny Rosen")
            page.click("#pay")
            page.wait_for_url(f"{receiver.url}/success**", timeout=10_000)
            assert page.url == f"{receiver.url}/success?session_id={session.id}"
            assert page.locator("#landing").inner_text() == "Landed"
        finally:
            browser.close()

    completed = receiver.wait_for_type({session.id}, "checkout.session.completed")
    assert completed["data"]["object"]["payment_status"] == "paid"
    assert not receiver.rejected
