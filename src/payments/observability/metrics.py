"""Prometheus metrics; names follow ``payments_<thing>_<unit>``."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter("payments_http_requests_total", "HTTP requests", ["method", "route", "status"])
HTTP_LATENCY = Histogram("payments_http_request_seconds", "HTTP request latency", ["method", "route"])
STRIPE_CALLS = Counter("payments_stripe_calls_total", "Calls to Stripe", ["operation", "outcome"])
STRIPE_LATENCY = Histogram("payments_stripe_call_seconds", "Stripe call latency", ["operation"])
WEBHOOK_EVENTS = Counter("payments_webhook_events_total", "Webhook events by outcome", ["type", "outcome"])
WEBHOOK_UNDER_LOCKS = Counter(
    "payments_webhook_under_locks_total",
    "Webhook events the optimistic attempt handed to a locking transaction (a race lost, deferred events "
    "to apply, a repository needed)",
)
OUTBOX_DELIVERIES = Counter("payments_outbox_deliveries_total", "Outbox deliveries to Orders", ["outcome"])
GRPC_REQUESTS = Counter("payments_grpc_requests_total", "gRPC requests", ["method", "code"])
PAYMENTS_NEEDING_REVIEW = Gauge(
    "payments_needing_review", "Payments Stripe paid with another amount or currency, waiting for a person"
)
WEBHOOK_LIVEMODE_MISMATCH = Counter(
    "payments_webhook_livemode_mismatch_total", "Events whose livemode is not ours, stored as failed"
)
EVENTS_SWEPT = Counter(
    "payments_events_swept_total", "Events housekeeping's sweep fetched from Stripe", ["outcome"]
)
