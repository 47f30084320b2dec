"""OpenTelemetry spans through the API only; an SDK/exporter is the deployer's choice."""

from __future__ import annotations

from opentelemetry import trace

tracer = trace.get_tracer("payments")
