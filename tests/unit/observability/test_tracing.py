"""Spans cost nothing until a tracer provider is installed, and are real once one is."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext

import pytest
from opentelemetry import trace
from opentelemetry.trace import NoOpTracerProvider, ProxyTracerProvider

from payments.observability import tracing
from tests.support.spans import record_spans


@pytest.fixture(autouse=True)
def _undecided() -> Iterator[None]:
    tracing._installed = None
    yield
    tracing._installed = None


def test_without_a_provider_a_span_is_the_shared_null_context(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trace, "get_tracer_provider", ProxyTracerProvider)
    assert isinstance(tracing.span("webhooks.process"), nullcontext)
    assert tracing.span("a") is tracing.span("b")


def test_with_a_provider_installed_spans_go_to_the_tracer(monkeypatch: pytest.MonkeyPatch) -> None:
    started = record_spans(monkeypatch)
    monkeypatch.setattr(tracing, "_installed", None)  # decided from the provider, as in production
    monkeypatch.setattr(trace, "get_tracer_provider", NoOpTracerProvider)
    with tracing.span("webhooks.process", **{"stripe.event_type": "charge.refunded"}):
        pass
    assert started == [("webhooks.process", {"stripe.event_type": "charge.refunded"})]
