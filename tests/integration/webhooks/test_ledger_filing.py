"""What the event ledger keeps for a person: each applied event under its payment, an unreadable one
with its reason, listed and kept until someone acts."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db.tables import stripe_events
from tests.support import stripe_events as se
from tests.support.service import Service, running_service


async def _ledger(svc: Service, *event_ids: str) -> dict[str, tuple[object, ...]]:
    e = stripe_events.c
    async with svc.engine.connect() as conn:
        rows = await conn.execute(
            select(e.id, e.status, e.payment_id, e.attempts, e.last_error).where(e.id.in_(event_ids))
        )
        return {r.id: (r.status, r.payment_id, r.attempts, r.last_error) for r in rows}


async def test_refund_and_dispute_events_are_filed_under_the_payment_they_changed(
    engine: AsyncEngine,
) -> None:
    """Neither carries our payment id in its metadata: the payment is found by its Stripe ids."""
    async with running_service(engine) as svc:
        pid = await svc.add_payment("ord_file")
        completed = se.event("checkout.session.completed", se.session("cs_file", pid, "ord_file", "pi_file"))
        refunded = se.event("refund.created", se.refund("re_file", "pi_file", "ch_file", 500))
        disputed = se.event("charge.dispute.created", se.dispute("dp_file", "ch_file", "pi_file"))
        for event in (completed, refunded, disputed):
            assert (await svc.deliver(event)).status_code == 200
        assert (await svc.payment(pid)).status == "disputed"

        ledger = await _ledger(svc, refunded["id"], disputed["id"])
        assert ledger == {
            refunded["id"]: ("processed", pid, 1, None),
            disputed["id"]: ("processed", pid, 1, None),
        }
        found = await svc.container.lookup.find_payment(refunded["id"])
        assert found is not None and found.matched_payment_id == pid
        assert refunded["id"] in {event["id"] for attempt in found.attempts for event in attempt.events}


async def test_an_unreadable_signed_event_is_kept_with_its_reason_listed_and_not_pruned(
    engine: AsyncEngine,
) -> None:
    async with running_service(engine) as svc:
        event = se.event("charge.succeeded", {"id": "ch_x"})
        event["data"] = {"object": ["not", "an", "object"]}
        ignored = se.event("customer.created", {"id": "cus_1", "object": "customer"})
        for sent in (event, ignored):
            assert (await svc.deliver(sent)).status_code == 200

        ledger = await _ledger(svc, event["id"], ignored["id"])
        status, _, _, reason = ledger[event["id"]]
        assert status == "ignored" and reason is not None and reason.startswith("malformed event")
        assert ledger[ignored["id"]][0::3] == ("ignored", None)

        listed = [e.id for e in await svc.container.events.needing_look()]
        assert listed == [event["id"]]
        attention = await svc.container.attention.needs_attention()
        assert [row["id"] for row in attention.queue("events").items] == [event["id"]]
        assert await svc.container.events.prune(svc.container.clock() + timedelta(days=1)) == 1
        assert list(await _ledger(svc, event["id"], ignored["id"])) == [event["id"]]


async def test_a_signed_event_whose_ids_no_column_can_hold_is_kept_with_its_reason_not_a_500(
    engine: AsyncEngine,
) -> None:
    async with running_service(engine) as svc:
        event = se.event("refund.created", se.refund("re_long", "pi_" + "x" * 300, "ch_long", 100))
        assert (await svc.deliver(event)).status_code == 200
        status, _, _, reason = (await _ledger(svc, event["id"]))[event["id"]]
        assert status == "ignored" and "malformed" in str(reason)


async def test_a_payment_id_in_metadata_that_cannot_be_ours_is_not_stored_as_ours(
    engine: AsyncEngine,
) -> None:
    async with running_service(engine) as svc:
        charge = se.charge("ch_other", "pi_other")
        charge["metadata"] = {"payment_id": "another_product_" + "p" * 40}
        event = se.event("charge.succeeded", charge)
        assert (await svc.deliver(event)).status_code == 200
        assert (await svc.container.webhooks.replay(event["id"])).status.value == "deferred"
        assert (await _ledger(svc, event["id"]))[event["id"]][:2] == ("deferred", None)


async def test_one_delivery_is_one_attempt_whatever_became_of_the_event(engine: AsyncEngine) -> None:
    async with running_service(engine) as svc:
        ignored = se.event("customer.created", {"id": "cus_1", "object": "customer"})
        deferred = se.event("refund.created", se.refund("re_unknown", "pi_unknown", "ch_unknown", 100))
        for event in (ignored, deferred):
            assert (await svc.deliver(event)).status_code == 200
        ledger = await _ledger(svc, ignored["id"], deferred["id"])
        assert {event_id: row[0::2] for event_id, row in ledger.items()} == {
            ignored["id"]: ("ignored", 1),
            deferred["id"]: ("deferred", 1),
        }
