"""Every Stripe call is counted by outcome, timed and spanned under its operation's name."""

from __future__ import annotations

import pytest
import stripe
from prometheus_client import REGISTRY

from payments.adapters.stripe_gateway.client import StripeGateway
from payments.stripe_port import GatewayError, GatewayErrorKind
from tests.support.spans import record_spans

OPERATION = "test.accounting"


def _calls(outcome: str) -> float:
    labels = {"operation": OPERATION, "outcome": outcome}
    return REGISTRY.get_sample_value("payments_stripe_calls_total", labels) or 0.0


def _timed() -> float:
    labels = {"operation": OPERATION}
    return REGISTRY.get_sample_value("payments_stripe_call_seconds_count", labels) or 0.0


async def _ok() -> str:
    return "answer"


async def _refused() -> str:
    raise stripe.InvalidRequestError("No such price", param="price")


async def test_a_call_is_counted_by_outcome_and_timed_each_time() -> None:
    gateway = StripeGateway("sk_test_x", "http://127.0.0.1:9")
    ok, errors, timed = _calls("ok"), _calls("error"), _timed()

    assert await gateway._call(OPERATION, _ok) == "answer"
    assert await gateway._call(OPERATION, _ok) == "answer"
    with pytest.raises(GatewayError) as refused:
        await gateway._call(OPERATION, _refused)

    assert refused.value.kind is GatewayErrorKind.INVALID
    assert (_calls("ok") - ok, _calls("error") - errors, _timed() - timed) == (2, 1, 3)


async def test_a_call_is_spanned_under_its_operation_when_tracing_is_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started = record_spans(monkeypatch)
    gateway = StripeGateway("sk_test_x", "http://127.0.0.1:9")

    await gateway._call(OPERATION, _ok)
    await gateway._call(OPERATION, _ok)

    assert [name for name, _ in started] == [f"stripe.{OPERATION}"] * 2
