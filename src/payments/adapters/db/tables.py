"""Tables of the payments core (SQLAlchemy Core; the hot path never builds ORM objects).

Every table lives on one ``metadata`` so Alembic sees them all; the referral module adds its own tables
to the same metadata in ``referral_tables``.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)


def _ts(name: str, nullable: bool = False) -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


payments = Table(
    "payments",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("order_id", String(128), nullable=False),
    # An order's payments are its attempts, numbered from 1; a new one only after the last one ended.
    Column("attempt", Integer, nullable=False, server_default=text("1")),
    # Set on an attempt once a newer one exists: Orders follows the newest attempt only.
    Column("superseded", Boolean, nullable=False, server_default=text("false")),
    Column("user_id", String(128), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("mode", String(16), nullable=False),
    Column("status", String(24), nullable=False),
    Column("amount_refunded", BigInteger, nullable=False, server_default=text("0")),
    Column("description", String(500), nullable=True),
    Column("customer_email", String(320), nullable=True),
    Column("referrer_id", String(128), nullable=True),
    Column("success_url", String(2048), nullable=True),
    Column("cancel_url", String(2048), nullable=True),
    # Hash of the terms (amount, currency, user, referrer, mode, ...) to tell a retry from a conflict.
    Column("terms_hash", String(64), nullable=False),
    Column("idempotency_key", String(255), nullable=True, unique=True),
    Column("checkout_url", String(2048), nullable=True),
    Column("client_secret", String(255), nullable=True),
    Column("stripe_checkout_session_id", String(255), nullable=True, unique=True),
    Column("stripe_payment_intent_id", String(255), nullable=True, unique=True),
    Column("stripe_charge_id", String(255), nullable=True, unique=True),
    Column("facts", JSON, nullable=False),
    Column("last_error", String(500), nullable=True),
    # The Checkout Session's expires_at as last sent to Stripe, and the idempotency-key generation it was
    # sent under: a retry after the window has run short opens a fresh window under a new key.
    _ts("stripe_expires_at", nullable=True),
    Column("stripe_key_generation", Integer, nullable=False, server_default=text("0")),
    Column("version", Integer, nullable=False, server_default=text("0")),
    # How many order state diffs this payment produced: the next diff's per-order seq, kept on the row we
    # already lock and update rather than found with a MAX() query.
    Column("diff_seq", Integer, nullable=False, server_default=text("0")),
    _ts("created_at"),
    _ts("updated_at"),
    UniqueConstraint("order_id", "attempt", name="uq_payments_order_attempt"),
    # At most one live attempt per order, whatever races: the database says no to a second.
    Index(
        "uq_payments_live_order",
        "order_id",
        unique=True,
        postgresql_where=text("status IN ('open', 'processing')"),
        sqlite_where=text("status IN ('open', 'processing')"),
    ),
)

# One row per Stripe event id: the ledger that makes processing exactly-once (dj-stripe's model).
stripe_events = Table(
    "stripe_events",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("type", String(100), nullable=False),
    Column("livemode", Boolean, nullable=False),
    Column("api_version", String(64), nullable=True),
    Column("stripe_created", BigInteger, nullable=False),
    Column("payload", Text, nullable=False),
    # received -> processed | ignored | deferred (payment not known yet) | failed (handler raised)
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", String(1000), nullable=True),
    Column("payment_id", String(40), nullable=True),
    # The Stripe object (PaymentIntent, else charge) a deferred event waits for.
    Column("ref", String(255), nullable=True),
    _ts("received_at"),
    _ts("processed_at", nullable=True),
    Index("ix_stripe_events_status_ref", "status", "ref"),
    Index("ix_stripe_events_received_at", "received_at"),
)

# The order state diffs: the order history and, while delivered_at is null, the outbox to Orders.
order_state_diffs = Table(
    "order_state_diffs",
    metadata,
    Column("id", String(40), primary_key=True),  # also the idempotency key Orders sees
    Column("order_id", String(128), nullable=False),
    Column("seq", Integer, nullable=False),  # per order, from 1
    Column("payment_id", String(40), nullable=False),
    Column("from_state", String(24), nullable=False),
    Column("to_state", String(24), nullable=False),
    Column("amount_paid", BigInteger, nullable=False),
    Column("amount_refunded", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("cause_event_id", String(255), nullable=False),
    Column("cause_event_type", String(100), nullable=False),
    _ts("at"),
    _ts("delivered_at", nullable=True),
    _ts("next_attempt_at"),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", String(1000), nullable=True),
    UniqueConstraint("order_id", "seq", name="uq_order_state_diffs_order_seq"),
    Index("ix_order_state_diffs_pending", "delivered_at", "next_attempt_at"),
)

refunds = Table(
    "refunds",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("payment_id", String(40), nullable=False, index=True),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    # requested (Stripe not answered yet) | pending | succeeded | failed
    Column("status", String(16), nullable=False),
    Column("reason", String(64), nullable=True),
    Column("source", String(16), nullable=False),  # api | dashboard
    Column("stripe_refund_id", String(255), nullable=True, unique=True),
    Column("idempotency_key", String(255), nullable=True),
    Column("last_error", String(500), nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    UniqueConstraint("payment_id", "idempotency_key", name="uq_refunds_payment_idem"),
)

# What a person did through the console or the operator commands: one row per action, with its outcome.
# Append-only; the referral actions also leave entries in the referral audit chain, this names the
# operator action that caused them.
operator_actions = Table(
    "operator_actions",
    metadata,
    Column("id", String(40), primary_key=True),
    _ts("at"),
    Column("actor", String(255), nullable=False),  # console:admin, cli
    Column("action", String(40), nullable=False),  # event.replay, outbox.retry, commission.approve, ...
    Column("subject", String(255), nullable=False),  # the id acted on
    Column("outcome", String(500), nullable=False),
    Column("ok", Boolean, nullable=False),
    Index("ix_operator_actions_action_at", "action", "at"),
)
