"""PaymentService.create_payment on the in-memory store and Stripe: an order's attempts and their rules."""

from __future__ import annotations

from dataclasses import replace

import pytest

from payments.checkout.cancel import AlreadyPaid
from payments.checkout.service import CheckoutMode, CreatePayment, PaymentService
from payments.domain.attempts import MAX_ATTEMPTS
from payments.domain.payment_state import PaymentFacts
from payments.domain.stripe_facts import EventFacts
from payments.errors import Conflict, InvalidRequest, UpstreamError, UpstreamRefused
from payments.stripe_port import GatewayErrorKind
from tests.support.clock import FakeClock
from tests.support.fakes import FakeStore, FakeStripeGateway, apply_facts, chain
from tests.support.service import service_settings
from tests.support.spans import record_spans

CMD = CreatePayment(order_id="ord_1", user_id="u_1", amount=2500, currency="EUR")
SETTINGS = service_settings()


def _service() -> tuple[PaymentService, FakeStore, FakeStripeGateway, FakeClock]:
    store, gateway, clock = FakeStore(), FakeStripeGateway(), FakeClock()
    return PaymentService(store, gateway, SETTINGS, clock), store, gateway, clock


async def test_a_new_order_gets_an_open_attempt_with_its_checkout_session() -> None:
    service, store, gateway, _ = _service()
    result = await service.create_payment(CMD)
    payment = result.payment
    assert result.created
    assert (payment.order_id, payment.attempt, payment.status, payment.currency) == (
        "ord_1",
        1,
        "open",
        "eur",
    )
    assert payment.stripe_checkout_session_id in gateway.sessions
    assert payment.checkout_url and payment.stripe_checkout_session_id in payment.checkout_url
    (call,) = gateway.calls_to("create_checkout_session")
    assert call.target == payment.id and call.idempotency_key and payment.id in call.idempotency_key
    assert list(store.tables.payments) == [payment.id]
    assert chain(store, "ord_1") == []  # "pending" is where every order starts: nothing to tell Orders


async def test_a_first_attempt_and_its_link_need_no_transaction_and_a_repeat_takes_the_locks() -> None:
    service, store, _, _ = _service()
    await service.create_payment(CMD)
    # The claim (two reads and an insert) and the link (one UPDATE ... RETURNING), each statement alone.
    assert (store.autocommit_units, store.commits) == (2, 2)
    await service.create_payment(CMD)
    # The order has an attempt: the locking claim answers with it (one transaction more).
    assert (store.autocommit_units, store.commits) == (3, 4)


async def test_the_same_request_again_answers_the_same_attempt_without_calling_stripe() -> None:
    service, store, gateway, _ = _service()
    first = await service.create_payment(replace(CMD, idempotency_key="key-1"))
    again = await service.create_payment(replace(CMD, idempotency_key="key-1"))
    same_terms_no_key = await service.create_payment(CMD)
    assert not again.created and not same_terms_no_key.created
    assert again.payment.id == same_terms_no_key.payment.id == first.payment.id
    assert len(gateway.calls_to("create_checkout_session")) == 1
    assert len(store.tables.payments) == 1


async def test_other_terms_for_a_live_order_or_a_reused_key_are_conflicts() -> None:
    service, store, _, _ = _service()
    await service.create_payment(replace(CMD, idempotency_key="key-1"))
    with pytest.raises(Conflict) as other_terms:
        await service.create_payment(replace(CMD, amount=2600))
    assert other_terms.value.code == "payment_terms_conflict"
    with pytest.raises(Conflict) as reused_key:
        await service.create_payment(replace(CMD, order_id="ord_2", idempotency_key="key-1"))
    assert reused_key.value.code == "idempotency_conflict"
    assert len(store.tables.payments) == 1


async def test_after_the_attempt_expired_the_order_takes_a_second_one_and_orders_hears_one_chain() -> None:
    service, store, gateway, clock = _service()
    first = (await service.create_payment(CMD)).payment
    await apply_facts(store, first.id, EventFacts(facts=PaymentFacts(expired=True)), "evt_expired", clock())
    second = await service.create_payment(CMD)
    assert second.created and second.payment.attempt == 2 and second.payment.id != first.id
    assert store.tables.payment(first.id).superseded
    assert len(gateway.calls_to("create_checkout_session")) == 2
    assert chain(store, "ord_1") == [(1, "pending", "expired"), (2, "expired", "pending")]
    assert [p.id for p in await service.list_order_payments("ord_1")] == [first.id, second.payment.id]
    assert (await service.get_payment_for_order("ord_1")).id == second.payment.id


async def test_a_paid_order_refuses_another_attempt() -> None:
    service, store, _, clock = _service()
    first = (await service.create_payment(CMD)).payment
    paid = PaymentFacts(succeeded=True, amount_received=2500, currency_received="eur")
    await apply_facts(store, first.id, EventFacts(facts=paid), "evt_paid", clock())
    with pytest.raises(AlreadyPaid) as refused:
        await service.create_payment(replace(CMD, amount=9999))
    assert refused.value.code == "order_already_paid" and refused.value.payment.id == first.id
    assert len(store.tables.payments) == 1


async def test_stripe_unavailable_keeps_the_attempt_and_a_retry_sends_the_same_key() -> None:
    service, store, gateway, _ = _service()
    gateway.fail_next("create_checkout_session", GatewayErrorKind.UNAVAILABLE)
    with pytest.raises(UpstreamError) as failed:
        await service.create_payment(CMD)
    assert failed.value.retryable and failed.value.code == "stripe_unavailable"
    (kept,) = store.tables.payments.values()
    assert kept.status == "open" and kept.last_error and kept.checkout_url is None
    retried = await service.create_payment(CMD)
    assert (
        retried.payment.id == kept.id and retried.payment.checkout_url and retried.payment.last_error is None
    )
    keys = {c.idempotency_key for c in gateway.calls_to("create_checkout_session")}
    assert len(keys) == 1 and len(gateway.sessions) == 1


async def test_stripe_refusing_the_parameters_ends_the_attempt_failed_and_the_next_request_starts_anew() -> (
    None
):
    service, store, gateway, _ = _service()
    gateway.fail_next("create_payment_intent", GatewayErrorKind.INVALID, param="currency")
    intent_cmd = replace(CMD, mode=CheckoutMode.PAYMENT_INTENT)
    with pytest.raises(UpstreamRefused) as refused:
        await service.create_payment(intent_cmd)
    assert refused.value.field == "currency"
    (failed,) = store.tables.payments.values()
    assert failed.status == "failed"
    assert chain(store, "ord_1") == [(1, "pending", "payment_failed")]
    again = await service.create_payment(intent_cmd)
    assert again.created and again.payment.attempt == 2 and again.payment.client_secret


def test_the_terms_hash_of_a_request_never_changes() -> None:
    """Stored attempts are compared with later requests by this hash: a new formula would answer every
    retry of an order created before it with payment_terms_conflict. The value is the one the first
    formula (the sorted JSON of ``dataclasses.asdict``, less the key) gave."""
    cmd = CreatePayment(
        order_id="ord_1",
        user_id="u_1",
        amount=2500,
        currency="eur",
        customer_email="a@b.co",
        mode=CheckoutMode.CHECKOUT,
        success_url="https://shop/ok",
        description="Mug",
        idempotency_key="k1",
    )
    assert cmd.terms_hash() == "53b5b93649cfbe9a9e0c66abd967c7596927fc8d13725a29676d0f3bddf836ff"
    assert replace(cmd, idempotency_key="k2").terms_hash() == cmd.terms_hash()
    assert replace(cmd, amount=2501).terms_hash() != cmd.terms_hash()


async def test_creating_a_payment_is_spanned_when_tracing_is_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started = record_spans(monkeypatch)
    service, _, _, _ = _service()
    await service.create_payment(CMD)
    assert [name for name, _ in started] == ["payments.create_payment"]


async def test_an_amount_stripe_would_refuse_for_its_size_is_refused_here_naming_amount() -> None:
    service, _, gateway, _ = _service()
    assert (await service.create_payment(replace(CMD, amount=99_999_999))).created
    with pytest.raises(InvalidRequest) as refused:
        await service.create_payment(replace(CMD, order_id="ord_2", amount=100_000_000))
    assert refused.value.field == "amount"
    assert len(gateway.calls) == 1
    with pytest.raises(ValueError, match="max_payment_amount"):
        service_settings(max_payment_amount=100_000_000)


async def test_an_order_takes_a_bounded_number_of_attempts() -> None:
    """Each attempt is listed whole (GET /v1/orders/{id}/payments): past the bound, a conflict."""
    service, store, _, clock = _service()
    for n in range(MAX_ATTEMPTS):
        payment = (await service.create_payment(CMD)).payment
        await apply_facts(
            store, payment.id, EventFacts(facts=PaymentFacts(expired=True)), f"evt_{n}", clock()
        )
    with pytest.raises(Conflict) as refused:
        await service.create_payment(CMD)
    assert refused.value.code == "too_many_attempts"
    assert len(await service.list_order_payments("ord_1")) == MAX_ATTEMPTS
