"""OpenTelemetry spans through the API only; an SDK/exporter is the deployer's choice.

``span`` is a shared do-nothing context until a tracer provider is installed: asking the API's proxy
tracer for a non-recording span costs an environment lookup and a context switch per call, which on the
webhook path was a few per cent of its CPU for spans nobody records. Whether a provider is installed is
decided at the first span, so a deployer installs it before the service starts (the SDK's usual set-up).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import ProxyTracerProvider

tracer = trace.get_tracer("payments")
_NO_SPAN: AbstractContextManager[Any] = nullcontext()
_installed: bool | None = None


def tracing_installed() -> bool:
    global _installed
    if _installed is None:
        _installed = not isinstance(trace.get_tracer_provider(), ProxyTracerProvider)
    return _installed


def span(name: str, **attributes: str) -> AbstractContextManager[Any]:
    if not tracing_installed():
        return _NO_SPAN
    return tracer.start_as_current_span(name, attributes=attributes or None)
