"""The Events API: retrieve, filter by type and created, paginate newest first."""

from __future__ import annotations

import time

import stripe


def test_retrieve_list_filter_and_paginate(client: stripe.StripeClient) -> None:
    since = int(time.time())
    pis = [client.v1.payment_intents.create(params={"amount": 700, "currency": "usd"}) for _ in range(3)]

    created = client.v1.events.list(params={"type": "payment_intent.created", "created": {"gte": since}})
    ours = [e for e in created.data if e.data.object.id in {pi.id for pi in pis}]
    assert [e.data.object.id for e in ours] == [pi.id for pi in reversed(pis)]
    assert all(e.type == "payment_intent.created" for e in created.data)

    event = client.v1.events.retrieve(ours[0].id)
    assert event.id == ours[0].id
    assert event.api_version == stripe.api_version
    assert event.livemode is False
    assert event.request.id is not None
    assert event.request.idempotency_key is not None  # the SDK sends one on every POST

    page = client.v1.events.list(params={"limit": 2, "type": "payment_intent.created"})
    assert len(page.data) == 2
    assert page.has_more is True
    following = client.v1.events.list(
        params={"limit": 2, "type": "payment_intent.created", "starting_after": page.data[-1].id}
    )
    assert {e.id for e in page.data}.isdisjoint({e.id for e in following.data})
    back = client.v1.events.list(
        params={"limit": 2, "type": "payment_intent.created", "ending_before": following.data[0].id}
    )
    assert [e.id for e in back.data] == [e.id for e in page.data]

    future = client.v1.events.list(params={"created": {"gt": int(time.time()) + 3600}})
    assert future.data == []
    wildcard = client.v1.events.list(params={"type": "payment_intent.*", "limit": 5})
    assert all(e.type.startswith("payment_intent.") for e in wildcard.data)


def test_auto_pagination_walks_every_page(client: stripe.StripeClient) -> None:
    for _ in range(3):
        client.v1.payment_intents.create(params={"amount": 100, "currency": "usd"})
    seen = [e.id for e in client.v1.events.list(params={"limit": 2}).auto_paging_iter()]
    assert len(seen) == len(set(seen)) >= 3


def test_missing_event_is_404(client: stripe.StripeClient) -> None:
    try:
        client.v1.events.retrieve("evt_missing")
    except stripe.InvalidRequestError as exc:
        assert exc.http_status == 404
        assert exc.code == "resource_missing"
    else:
        raise AssertionError("expected a 404")
