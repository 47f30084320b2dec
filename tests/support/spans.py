"""A tracer that records the spans started, installed as if an OpenTelemetry SDK were configured."""

from __future__ import annotations

from contextlib import nullcontext

import pytest

from payments.observability import tracing


def record_spans(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, object]]:
    """The (name, attributes) of every span started from now on, in order (undone after the test)."""
    started: list[tuple[str, object]] = []

    class Recording:
        def start_as_current_span(self, name: str, attributes: object = None) -> nullcontext[None]:
            started.append((name, attributes))
            return nullcontext()

    monkeypatch.setattr(tracing, "_installed", True)
    monkeypatch.setattr(tracing, "tracer", Recording())
    return started
