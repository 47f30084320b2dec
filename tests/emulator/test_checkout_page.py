"""The hosted page's HTML and form posts, as a browser without JavaScript would use them."""

from __future__ import annotations

import re

import httpx
import stripe

from .conftest import session_params
from .receiver import Receiver


def _page_client() -> httpx.Client:
    return httpx.Client(timeout=10, follow_redirects=False)


def test_page_shows_items_and_total_in_currency_units(client: stripe.StripeClient, marker: str) -> None:
    usd = client.v1.checkout.sessions.create(params=session_params(marker))
    jpy_items = [
        {
            "price_data": {"currency": "jpy", "unit_amount": 1500, "product_data": {"name": "Matcha"}},
            "quantity": 3,
        }
    ]
    jpy = client.v1.checkout.sessions.create(params=session_params(marker, line_items=jpy_items))
    with _page_client() as http:
        usd_page = http.get(usd.url).text
        jpy_page = http.get(jpy.url).text
    assert "Blue mug" in usd_page and "Coaster" in usd_page
    assert re.search(r'id="total">\$34\.99<', usd_page)
    assert re.search(r'id="total">¥4,500<', jpy_page)  # zero-decimal: 4500 yen, not 45.00


def test_decline_stays_on_page_then_success_redirects(
    client: stripe.StripeClient, receiver: Receiver, marker: str
) -> None:
    session = client.v1.checkout.sessions.create(params=session_params(marker, receiver_url=receiver.url))
    with _page_client() as http:
        declined = http.post(session.url, data={"card_number": "4000 0000 0000 0002"})
        assert declined.status_code == 200
        assert "Your card was declined." in declined.text
        assert 'id="card-form"' in declined.text
        paid = http.post(session.url, data={"card_number": "4242 4242 4242 4242", "name": "Jenny Rosen"})
    assert paid.status_code == 303
    assert paid.headers["location"] == f"{receiver.url}/success?session_id={session.id}"
    completed = receiver.wait_for_type({session.id}, "checkout.session.completed")
    assert completed["data"]["object"]["customer_details"]["name"] == "Jenny Rosen"


def test_delayed_button_and_cancel_link(client: stripe.StripeClient, receiver: Receiver, marker: str) -> None:
    session = client.v1.checkout.sessions.create(params=session_params(marker, receiver_url=receiver.url))
    with _page_client() as http:
        cancel = http.get(session.url + "/cancel")
        assert cancel.status_code == 303
        assert cancel.headers["location"] == f"{receiver.url}/cancel"
        delayed = http.post(session.url, data={"method": "delayed"})
        assert delayed.status_code == 303
        done = http.get(session.url)
    assert "This payment is complete." in done.text
    event = receiver.wait_for_type({session.id}, "checkout.session.completed")
    assert event["data"]["object"]["payment_status"] == "unpaid"
