"""Tables of the referral module, on the shared metadata so Alembic sees them with the core tables."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
)

from payments.adapters.db.tables import metadata


def _ts(name: str, nullable: bool = False) -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


# One row per order that came with a referrer. Amounts are minor units of the payment's currency.
referral_commissions = Table(
    "referral_commissions",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("order_id", String(128), nullable=False, unique=True),  # one commission per order
    Column("payment_id", String(40), nullable=False, index=True),
    Column("referrer_id", String(128), nullable=False),
    Column("customer_user_id", String(128), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("payment_amount", BigInteger, nullable=False),
    Column("original_amount", BigInteger, nullable=False),
    # What is owed now; follows refunds until paid, after which changes go to referral_adjustments.
    Column("amount", BigInteger, nullable=False),
    # The rule applied at accrual, kept so later changes of settings do not rewrite past promises.
    Column("rate_bps", Integer, nullable=False),
    Column("min_amount", BigInteger, nullable=False),
    Column("hold_days", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", String(64), nullable=True),
    # Set only when a dispute put the commission on hold: where a won dispute takes it back to.
    Column("status_before_hold", String(16), nullable=True),
    _ts("hold_until", nullable=True),
    _ts("paid_at", nullable=True),
    Column("payout_id", String(40), nullable=True),
    _ts("created_at"),
    _ts("updated_at"),
    # Report pages, the partial days at a period's edges, and the velocity count.
    Index("ix_referral_commissions_referrer_created", "referrer_id", "created_at", "id"),
    # Status-filtered report pages.
    Index("ix_referral_commissions_referrer_status", "referrer_id", "status", "created_at", "id"),
    Index("ix_referral_commissions_status_hold_until", "status", "hold_until"),
)

# Changes to a commission after it was paid (the paid row is never edited). Signed: negative is a
# clawback, positive undoes one. Netted into the referrer's next payout, which sets payout_id.
referral_adjustments = Table(
    "referral_adjustments",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("commission_id", String(40), nullable=False, index=True),
    Column("referrer_id", String(128), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("reason", String(64), nullable=False),
    Column("cause_event_id", String(255), nullable=False),
    # The commission's created_at, so a report's period filter needs no join (the commission is paid,
    # hence never edited, so this never goes stale).
    _ts("commission_created_at"),
    _ts("created_at"),
    Column("payout_id", String(40), nullable=True),
    _ts("settled_at", nullable=True),
    Index("ix_referral_adjustments_referrer_payout", "referrer_id", "payout_id"),
    Index("ix_referral_adjustments_referrer_commission_created", "referrer_id", "commission_created_at"),
)

# Per referrer, UTC day of creation, status and currency: the count and sums of commissions, kept in the
# transaction that changes a commission. Report totals add up these rows for whole days and read the
# commissions table only for the partial days at the edges of a period, so their cost follows the number
# of days, not the number of commissions.
referral_daily_totals = Table(
    "referral_daily_totals",
    metadata,
    Column("referrer_id", String(128), nullable=False),
    _ts("day"),
    Column("status", String(16), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("original_amount", BigInteger, nullable=False),
    Column("amount", BigInteger, nullable=False),
    PrimaryKeyConstraint("referrer_id", "day", "status", "currency", name="pk_referral_daily_totals"),
)

referral_payouts = Table(
    "referral_payouts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("referrer_id", String(128), nullable=False, index=True),
    Column("actor", String(255), nullable=False),
    _ts("created_at"),
)

referral_payout_lines = Table(
    "referral_payout_lines",
    metadata,
    Column("payout_id", String(40), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("commissions_amount", BigInteger, nullable=False),
    Column("adjustments_amount", BigInteger, nullable=False),
    Column("net_amount", BigInteger, nullable=False),
    Column("commission_count", Integer, nullable=False),
    Column("adjustment_count", Integer, nullable=False),
    PrimaryKeyConstraint("payout_id", "currency", name="pk_referral_payout_lines"),
)

# Append-only; see payments.domain.audit_chain for what is hashed.
referral_audit_log = Table(
    "referral_audit_log",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("seq", BigInteger, nullable=False, unique=True),
    Column("commission_id", String(40), nullable=True, index=True),
    Column("referrer_id", String(128), nullable=True),
    Column("payment_id", String(40), nullable=True),
    Column("action", String(16), nullable=False),
    Column("actor", String(255), nullable=False),
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
    Column("reason", String(500), nullable=True),
    _ts("at"),
    Column("prev_id", String(40), nullable=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # The PAYMENTS_AUDIT_KEYS id whose key signed the hash; null on legacy (plain SHA-256) entries.
    Column("key_id", String(32), nullable=True),
)

# A single row (id 1): the newest entry of the chain. Appenders lock it, so two transactions never
# extend the chain from the same entry; it also reveals entries deleted from the end.
referral_audit_chain_head = Table(
    "referral_audit_chain_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("entry_id", String(40), nullable=True),
    Column("hash", String(64), nullable=False),
)

# Who a shop user is, as far as fraud guards care: sha256 of a normalised email or a card fingerprint,
# learnt from every succeeded payment. Hashed: the guards only compare, and emails stay out of this table.
referral_identities = Table(
    "referral_identities",
    metadata,
    Column("user_id", String(128), nullable=False),
    Column("kind", String(8), nullable=False),  # email | card
    Column("value_hash", String(64), nullable=False),
    _ts("first_seen_at"),
    PrimaryKeyConstraint("user_id", "kind", "value_hash", name="pk_referral_identities"),
)

# One row per referrer, only ever locked: accrual, a ban and a payout of the same referrer take this row
# lock first, so a ban that lands while a commission is being accrued or paid waits for it or is seen by it.
# (A ban row cannot be locked before it exists; this row can, inserted on first use.)
referral_referrer_locks = Table(
    "referral_referrer_locks",
    metadata,
    Column("referrer_id", String(128), primary_key=True),
)

referral_bans = Table(
    "referral_bans",
    metadata,
    Column("referrer_id", String(128), primary_key=True),
    Column("reason", String(500), nullable=False),
    Column("actor", String(255), nullable=False),
    _ts("banned_at"),
)

__all__ = [
    "referral_adjustments",
    "referral_audit_chain_head",
    "referral_audit_log",
    "referral_bans",
    "referral_commissions",
    "referral_daily_totals",
    "referral_identities",
    "referral_payout_lines",
    "referral_payouts",
    "referral_referrer_locks",
]
