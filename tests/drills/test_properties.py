"""Property drills against the in-process app (the real routers and services, no network).

(a) Any interleaving and duplication of one payment's events ends where in-order delivery ends: the
    payment's status, amounts and facts, its refund rows, the order's last state and its commission.
(b) Random bytes, headers and JSON posted to the webhook endpoint never get a 5xx and never write a row.
(c) Signed bodies that are not events as Stripe documents them (not an object, no id or type, fields of
    other types than Stripe's anywhere) are never a 5xx either.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db import schema
from payments.adapters.db.engine import create_engine
from payments.adapters.db.referral_tables import referral_commissions
from payments.adapters.db.tables import order_state_diffs, refunds, stripe_events
from payments.webhooks.signature import sign_payload
from payments.webhooks.stripe_events import HANDLED_TYPES, envelope_problem
from tests.support import stripe_events as se
from tests.support.service import SECRET, Service, running_service

pytestmark = pytest.mark.drill

PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=False,
    print_blob=True,
)
_example = itertools.count(1)


async def _sqlite_engine(path: Path) -> AsyncEngine:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    await schema.create_all(engine)
    return engine


@pytest_asyncio.fixture
async def two_services(tmp_path: Path) -> AsyncIterator[tuple[Service, Service]]:
    """The reference (events in order, once) and the subject (shuffled, duplicated), on SQLite files."""
    ref_engine, subject_engine = (
        await _sqlite_engine(tmp_path / "ref.db"),
        await _sqlite_engine(tmp_path / "s.db"),
    )
    async with running_service(ref_engine) as ref, running_service(subject_engine) as subject:
        yield ref, subject
    await ref_engine.dispose()
    await subject_engine.dispose()


# -- (a) interleavings ---------------------------------------------------------------------------------
@st.composite
def payment_stories(draw: st.DrawFn) -> dict[str, Any]:
    """One payment's life as Stripe tells it, in the order Stripe would send it."""
    amount = draw(st.integers(10, 500)) * 100
    refund_amounts: list[int] = []
    left = amount
    for _ in range(draw(st.integers(0, 3))):
        if left < 100:
            break
        refund_amounts.append(draw(st.integers(1, left // 100)) * 100)
        left -= refund_amounts[-1]
    return {
        "amount": amount,
        "refunds": [(a, draw(st.sampled_from(["succeeded", "succeeded", "failed"]))) for a in refund_amounts],
        "intent_event": draw(st.booleans()),
        "dispute": draw(st.sampled_from([None, "open", "won", "lost"])),
        "referred": draw(st.booleans()),
    }


def story_events(story: dict[str, Any], tag: str, pid: str, order: str) -> list[dict[str, Any]]:
    cs, pi, ch = f"cs_{tag}", f"pi_{tag}", f"ch_{tag}"
    amount = story["amount"]
    n = itertools.count()

    def evt(type_: str, obj: dict[str, Any]) -> dict[str, Any]:
        k = next(n)
        return se.event(type_, obj, event_id=f"evt_{tag}_{k}", created=1_764_000_000 + k)

    events = [evt("checkout.session.completed", se.session(cs, pid, order, pi, amount=amount))]
    if story["intent_event"]:
        events.append(
            evt("payment_intent.succeeded", se.payment_intent(pi, pid, order, amount=amount, charge=ch))
        )
    events.append(evt("charge.succeeded", se.charge(ch, pi, amount=amount)))
    made: list[dict[str, Any]] = []
    for k, (refund_amount, outcome) in enumerate(story["refunds"]):
        refund = se.refund(f"re_{tag}_{k}", pi, ch, refund_amount, created=1_764_000_100 + k)
        made.append(refund)
        events.append(evt("refund.created", {**refund, "status": "pending"}))
        events.append(
            evt("charge.refunded", se.charge(ch, pi, amount=amount, refunds=[dict(r) for r in made]))
        )
        if outcome == "failed":
            made[-1] = {**refund, "status": "failed"}
            events.append(evt("refund.failed", made[-1]))
        else:
            events.append(evt("refund.updated", refund))
    if story["dispute"] is not None:
        dispute = se.dispute(f"dp_{tag}", ch, pi, amount=amount)
        events.append(evt("charge.dispute.created", dispute))
        if story["dispute"] != "open":
            events.append(evt("charge.dispute.closed", {**dispute, "status": story["dispute"]}))
    return events


async def _end_state(svc: Service, pid: str, order: str) -> dict[str, Any]:
    payment = await svc.payment(pid)
    async with svc.engine.connect() as conn:
        refund_rows = sorted(
            (r.stripe_refund_id, r.amount, r.status)
            for r in await conn.execute(select(refunds).where(refunds.c.payment_id == pid))
        )
        diffs = (
            await conn.execute(
                select(order_state_diffs)
                .where(order_state_diffs.c.order_id == order)
                .order_by(order_state_diffs.c.seq)
            )
        ).all()
        commissions = [
            (c.status, c.amount)
            for c in await conn.execute(
                select(referral_commissions).where(referral_commissions.c.order_id == order)
            )
        ]
    last = diffs[-1] if diffs else None
    return {
        "status": payment.status,
        "amount_refunded": payment.amount_refunded,
        "facts": payment.facts,
        "links": (payment.stripe_payment_intent_id, payment.stripe_charge_id),
        "refund_rows": refund_rows,
        "order_state": (last.to_state, last.amount_paid, last.amount_refunded) if last else None,
        "commissions": commissions,
    }


def _chain_problems(diffs: list[Any]) -> list[str]:
    problems = []
    if [d.seq for d in diffs] != list(range(1, len(diffs) + 1)):
        problems.append(f"seqs {[d.seq for d in diffs]}")
    for prev, cur in itertools.pairwise(diffs):
        if cur.from_state != prev.to_state:
            problems.append(f"diff {cur.seq} starts at {cur.from_state}, the last ended at {prev.to_state}")
        if (cur.to_state, cur.amount_paid, cur.amount_refunded) == (
            prev.to_state,
            prev.amount_paid,
            prev.amount_refunded,
        ):
            problems.append(f"diff {cur.seq} repeats diff {prev.seq}")
    return problems


@PROPERTY_SETTINGS
@given(story=payment_stories(), data=st.data())
async def test_any_interleaving_and_duplication_ends_as_in_order_delivery(
    two_services: tuple[Service, Service], story: dict[str, Any], data: st.DataObject
) -> None:
    ref, subject = two_services
    tag = f"prop{next(_example)}"
    order, referrer = f"ord_{tag}", f"ref_{tag}" if story["referred"] else None
    pids = [
        await svc.add_payment(order, amount=story["amount"], referrer_id=referrer, user_id=f"u_{tag}")
        for svc in (ref, subject)
    ]
    events = story_events(story, tag, pids[0], order)
    extra = data.draw(st.lists(st.sampled_from(events), max_size=len(events)), label="duplicates")
    shuffled = data.draw(st.permutations(events + extra), label="delivery order")

    for evt in events:
        response = await ref.deliver(evt)
        assert response.status_code == 200, response.text
    for evt in shuffled:
        response = await subject.deliver(evt)
        assert response.status_code == 200, response.text

    expected, got = await _end_state(ref, pids[0], order), await _end_state(subject, pids[1], order)
    assert expected["status"] not in ("open", "needs_review"), (
        f"the in-order delivery did not apply: {expected}"
    )
    assert got == expected, f"delivered as {[e['type'] for e in shuffled]}"
    async with subject.engine.connect() as conn:
        statuses = {
            r.id: r.status
            for r in await conn.execute(
                select(stripe_events.c.id, stripe_events.c.status).where(
                    stripe_events.c.id.like(f"evt_{tag}_%")
                )
            )
        }
        diffs = (
            await conn.execute(
                select(order_state_diffs)
                .where(order_state_diffs.c.order_id == order)
                .order_by(order_state_diffs.c.seq)
            )
        ).all()
    assert statuses == {e["id"]: "processed" for e in events}
    assert not _chain_problems(diffs), _chain_problems(diffs)


# -- (b) garbage never gets a 5xx nor a row ------------------------------------------------------------
_header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200)


def _json_values(text: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    return st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
        lambda children: st.lists(children, max_size=5) | st.dictionaries(text, children, max_size=5),
        max_leaves=20,
    )


_json = _json_values(st.text(max_size=30))
# Text without NUL (PostgreSQL cannot store or compare it) nor lone surrogates (no UTF-8 for them): a
# signed event carrying either still gets a 500 (test_found_bugs.py); (c) looks for everything else.
_text_storable = st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=30)
_json_storable = _json_values(_text_storable)
_event_like = st.fixed_dictionaries(
    {
        "id": st.text(max_size=20),
        "type": st.sampled_from(["checkout.session.completed", "charge.refunded", "x"]),
    },
    optional={"data": _json, "livemode": _json, "created": _json},
)


SignatureSpec = tuple[str, Any]


def _signature(spec: SignatureSpec, body: bytes, now: int) -> str | None:
    """A Stripe-Signature header that must not verify, built at request time (the clock is not drawn)."""
    kind, value = spec
    if kind == "none":
        return None
    if kind == "text":
        return str(value)
    if kind == "random_v1":  # a well-formed header with a made-up signature, timestamp near now or not
        offset, hex_digits = value
        return f"t={max(0, now + offset)},v1={hex_digits}"
    if kind == "other_secret":  # another endpoint's secret
        return sign_payload(body, "whsec_not_ours", now)
    if kind == "stale":  # ours, older than the tolerance
        return sign_payload(body, SECRET, now - 301 - int(value))
    if kind == "other_body":  # ours, for another body
        return sign_payload(body + b" ", SECRET, now)
    assert kind == "tampered_t"  # ours, its timestamp changed afterwards
    return sign_payload(body, SECRET, now).replace("t=", f"t={value}", 1)


@st.composite
def unsigned_deliveries(draw: st.DrawFn) -> tuple[bytes, dict[str, str], SignatureSpec]:
    body = draw(
        st.one_of(
            st.binary(max_size=600),
            _json.map(lambda v: json.dumps(v).encode()),
            _event_like.map(lambda v: json.dumps(v).encode()),
        )
    )
    spec = draw(
        st.one_of(
            st.just(("none", None)),
            st.tuples(st.just("text"), _header_text),
            st.tuples(
                st.just("random_v1"),
                st.tuples(st.integers(-(10**9), 10**9), st.text("0123456789abcdef", max_size=64)),
            ),
            st.just(("other_secret", None)),
            st.tuples(st.just("stale"), st.integers(0, 10**6)),
            st.just(("other_body", None)),
            st.tuples(st.just("tampered_t"), st.integers(1, 9)),
        )
    )
    headers = draw(
        st.dictionaries(
            st.sampled_from(
                ["content-type", "x-forwarded-for", "user-agent", "x-request-id", "stripe-version"]
            ),
            _header_text,
            max_size=3,
        )
    )
    return body, headers, spec


@PROPERTY_SETTINGS
@given(delivery=unsigned_deliveries())
async def test_random_bodies_and_headers_never_5xx_and_never_write(
    engine: AsyncEngine, delivery: tuple[bytes, dict[str, str], SignatureSpec]
) -> None:
    body, headers, spec = delivery
    signature = _signature(spec, body, int(time.time()))
    if signature is not None:
        headers = {**headers, "stripe-signature": signature}
    async with running_service(engine) as svc:
        before = await svc.row_counts()
        response = await svc.http.post("/v1/webhooks/stripe", content=body, headers=headers)
        assert response.status_code < 500, response.text
        assert response.status_code in (400, 413), response.text
        assert response.json()["error"]["code"], response.text
        assert await svc.row_counts() == before


# -- (c) signed, but not an event we can use -----------------------------------------------------------
_object_fields = st.dictionaries(
    st.sampled_from(
        [
            "id",
            "object",
            "amount",
            "amount_total",
            "amount_received",
            "amount_captured",
            "currency",
            "status",
            "payment_status",
            "captured",
            "metadata",
            "payment_intent",
            "charge",
            "latest_charge",
            "refunds",
            "payment_method_details",
            "outcome",
            "created",
            "reason",
        ]
    ),
    _json_storable,
    max_size=8,
)


@st.composite
def signed_unusable(draw: st.DrawFn) -> Any:
    """Whatever a holder of the signing secret could send that is not an event as Stripe documents it."""
    kind = draw(st.sampled_from(["not_object", "no_id", "odd_fields"]))
    if kind == "not_object":
        return draw(_json_storable.filter(lambda v: not isinstance(v, dict)))
    if kind == "no_id":
        return draw(st.dictionaries(st.sampled_from(["type", "data", "object"]), _json_storable, max_size=3))
    event: dict[str, Any] = {
        "id": f"evt_odd_{next(_example)}",
        "type": draw(st.one_of(st.sampled_from(sorted(HANDLED_TYPES)), _text_storable)),
        "data": draw(
            st.one_of(
                _json_storable, st.builds(lambda o: {"object": o}, st.one_of(_json_storable, _object_fields))
            )
        ),
    }
    for key in ("livemode", "object", "request", "pending_webhooks"):
        if draw(st.booleans()):
            event[key] = draw(_json_storable)
    return event


@PROPERTY_SETTINGS
@given(event=signed_unusable())
async def test_signed_but_unusable_events_are_never_a_5xx(engine: AsyncEngine, event: Any) -> None:
    body = json.dumps(event).encode()
    async with running_service(engine) as svc:
        before = await svc.row_counts()
        response = await svc.http.post(
            "/v1/webhooks/stripe",
            content=body,
            headers={"Stripe-Signature": sign_payload(body, SECRET, int(time.time()))},
        )
        assert response.status_code < 500, response.text
        # Usable: a JSON object whose envelope the ledger can store (id and type of bounded length, ...).
        usable = isinstance(event, dict) and envelope_problem(event) is None
        if not usable:
            assert response.status_code == 400, response.text
            assert await svc.row_counts() == before
        elif event.get("livemode"):
            # A live-mode event at this test-mode service: kept as failed for a person, never acknowledged.
            assert response.status_code == 409, response.text
            assert response.json()["error"]["code"] == "livemode_mismatch"
            after = await svc.row_counts()
            assert after[0] == before[0] + 1, "the live-mode event was not stored"
            assert after[1:] == before[1:], "a live-mode event changed a payment or an order"
        else:
            assert response.status_code == 200, response.text
            after = await svc.row_counts()
            assert after[1:] == before[1:], "an unusable event changed a payment or an order"
