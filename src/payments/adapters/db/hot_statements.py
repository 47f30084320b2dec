"""The hot path's SQL on asyncpg, shared by the locking unit of work (``unit_of_work.py``) and the
optimistic one (``optimistic.py``).

A ``Write`` is a statement whose result nobody reads; both units of work hold writes back and send them
as data-modifying CTEs of one statement. ``{ok}`` in a write is the condition it runs under: ``true``
under the locks of a transaction, "the ledger row went in" in the optimistic unit's one statement.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from payments.adapters.db.timestamps import as_utc
from payments.domain.payment_state import PaymentFacts, PaymentStatus
from payments.domain.state_diff import StateDiff
from payments.ids import new_id
from payments.records import STATUS_RANK, EventStatus, PaymentRecord

PAYMENT_COLUMNS = ", ".join(PaymentRecord.__slots__)

RECORD_EVENT = """
INSERT INTO stripe_events (id, type, livemode, api_version, stripe_created, payload, status, attempts,
                           received_at, processed_at, payment_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $8, $9)
ON CONFLICT DO NOTHING RETURNING id
"""
PAYMENT_BY_REFS = (
    "id = {} OR stripe_checkout_session_id = {} OR stripe_payment_intent_id = {} OR stripe_charge_id = {}"
)
# The ledger row and the payment lock in one round trip. The lookup only runs once the insert is done
# (``EXISTS (SELECT 1 FROM ins)`` is evaluated first, as a one-time filter), so the locks are taken in
# the same order as by two statements (the event id, then the payment) and a concurrent copy of the same
# event that waits on the id never holds the payment. A duplicate locks nothing and finds nothing.
#
# ``waiting`` counts the deferred events that wait on the event's PaymentIntent (a refund that arrived
# before the checkout's completion): when there are none, the completion that links the PaymentIntent
# skips its deferred-events query. One that is deferred after this statement is applied by the sweep
# (``sweep_deferred``), as one deferred after that query always was.
RECORD_EVENT_AND_LOCK = f"""
WITH ins AS ({RECORD_EVENT})
SELECT (SELECT count(*) FROM ins) AS inserted,
       (SELECT count(*) FROM stripe_events
        WHERE status = '{EventStatus.DEFERRED.value}' AND ref = $12 AND $12 IS NOT NULL) AS waiting,
       found.*
FROM (SELECT 1) AS one
LEFT JOIN LATERAL (
    SELECT {PAYMENT_COLUMNS} FROM payments
    WHERE ({PAYMENT_BY_REFS.format("$10", "$11", "$12", "$13")}) AND EXISTS (SELECT 1 FROM ins)
    LIMIT 1 FOR UPDATE
) AS found ON true
"""  # noqa: S608
EVENT_STATUS_FOR_UPDATE = "SELECT status FROM stripe_events WHERE id = $1 FOR UPDATE"
DEFERRED_FOR = f"""
SELECT id, type, status, payload, attempts FROM stripe_events
WHERE status = '{EventStatus.DEFERRED.value}' AND ref = ANY($1::varchar[])
ORDER BY stripe_created, id FOR UPDATE SKIP LOCKED
"""  # noqa: S608 - our own constants only, here and below
FIND_PAYMENT = f"""
SELECT {PAYMENT_COLUMNS} FROM payments WHERE {PAYMENT_BY_REFS.format("$1", "$2", "$3", "$4")}
LIMIT 1 FOR UPDATE
"""  # noqa: S608
GET_PAYMENT_FOR_UPDATE = f"SELECT {PAYMENT_COLUMNS} FROM payments WHERE id = $1 FOR UPDATE"  # noqa: S608


@dataclass(frozen=True, slots=True)
class Write:
    """A statement held back: CTE bodies ({0}, {1}.. name this write's own CTEs) and the tables it
    touches (read or written); $1.. number its own parameters."""

    key: str
    parts: tuple[str, ...]
    tables: frozenset[str]


MARK_EVENT = Write(
    "mark_event",
    (
        """UPDATE stripe_events SET status = $2, processed_at = $3, payment_id = $4, ref = $5,
           last_error = $6, attempts = attempts + $7::int WHERE id = $1 AND {ok}""",
    ),
    frozenset({"stripe_events"}),
)
SAVE_STATE = Write(
    "save_state",
    (
        # A Stripe id is learned once and never replaced.
        """UPDATE payments SET facts = $2, status = $3, amount_refunded = $4, version = $5, diff_seq = $6,
           updated_at = $7,
           stripe_checkout_session_id = COALESCE(stripe_checkout_session_id, $8),
           stripe_payment_intent_id = COALESCE(stripe_payment_intent_id, $9),
           stripe_charge_id = COALESCE(stripe_charge_id, $10)
           WHERE id = $1 AND {ok}""",
    ),
    frozenset({"payments"}),
)
APPEND_DIFF = Write(
    "append_diff",
    (
        """INSERT INTO order_state_diffs (id, order_id, seq, payment_id, from_state, to_state, amount_paid,
           amount_refunded, currency, cause_event_id, cause_event_type, at, next_attempt_at, attempts)
           SELECT $1::varchar, $2::varchar, $3::int, $4::varchar, $5::varchar, $6::varchar, $7::bigint,
                  $8::bigint, $9::varchar, $10::varchar, $11::varchar, $12::timestamptz, $12::timestamptz, 0
           WHERE {ok}""",
    ),
    frozenset({"order_state_diffs"}),
)
RECORD_IDENTITIES = Write(
    "record_identities",
    (
        """INSERT INTO referral_identities (user_id, kind, value_hash, first_seen_at)
           SELECT $1::varchar, kind, value_hash, $4::timestamptz
           FROM unnest($2::varchar[], $3::varchar[]) AS given(kind, value_hash) WHERE {ok}
           ON CONFLICT DO NOTHING""",
    ),
    frozenset({"referral_identities"}),
)
# refunds_repo.record_seen as one statement: find by Stripe's id or ours, move the status forward only
# (the rank is refunds_repo.status_rank, repeated in SQL), or insert a dashboard refund.
RANK_SQL = (
    "CASE {col} "
    + " ".join(f"WHEN '{status}' THEN {rank}" for status, rank in STATUS_RANK.items())
    + " ELSE 0 END"
)
RECORD_REFUND_SEEN = Write(
    "record_refund_seen",
    (
        "SELECT id FROM refunds WHERE (stripe_refund_id = $1 OR id = $2) AND {ok} LIMIT 1",
        # The rank compared is the row's as updated (refunds.status), not as this statement's snapshot saw
        # it: a row changed since then is re-read by the UPDATE, and its status must not move back.
        f"""UPDATE refunds SET stripe_refund_id = $1, updated_at = $9,
            status = CASE WHEN $10::int > {RANK_SQL.format(col="refunds.status")} THEN $7
                          ELSE refunds.status END
            FROM {{0}} AS found WHERE refunds.id = found.id""",  # noqa: S608
        """INSERT INTO refunds (id, payment_id, amount, currency, status, reason, source, stripe_refund_id,
                               created_at, updated_at)
           SELECT $3::varchar, $4::varchar, $5::bigint, $6::varchar, $7::varchar, $8::varchar, 'dashboard',
                  $1::varchar, $9::timestamptz, $9::timestamptz
           WHERE NOT EXISTS (SELECT 1 FROM {0}) AND {ok}""",
    ),
    frozenset({"refunds"}),
)

PARAM = re.compile(r"\$(\d+)")


def renumber(sql: str, offset: int) -> str:
    return PARAM.sub(lambda m: f"${int(m.group(1)) + offset}", sql)


def compose(
    writes: Sequence[Write],
    counts: Sequence[int],
    tail: str,
    tail_params: int,
    *,
    lead: Sequence[str] = (),
    ok: str = "true",
) -> str:
    """``WITH`` the ``lead`` CTEs, every write's CTEs (each under ``ok``), then ``tail`` (a read, or
    ``SELECT 1``); the lead and the tail keep $1..$tail_params, the writes' parameters are renumbered."""
    ctes = list(lead)
    offset = tail_params
    for i, (write, count) in enumerate(zip(writes, counts, strict=True)):
        names = [f"w{i}_{j}" for j in range(len(write.parts))]
        for name, body in zip(names, write.parts, strict=True):
            ctes.append(f"{name} AS ({renumber(body.format(*names, ok=ok), offset)})")
        offset += count
    return "WITH " + ",\n".join(ctes) + "\n" + tail


def payment_of(row: Any) -> PaymentRecord:
    values = {name: row[name] for name in PaymentRecord.__slots__}
    facts = values["facts"]
    values["facts"] = json.loads(facts) if isinstance(facts, str) else facts
    values["created_at"] = as_utc(values["created_at"])
    values["updated_at"] = as_utc(values["updated_at"])
    return PaymentRecord(**values)


class HeldWrites:
    """The unit-of-work writes nobody reads the result of, as ``Write``s handed to ``_hold``."""

    async def _hold(self, write: Write, *args: Any) -> None:
        raise NotImplementedError

    async def save_state(
        self,
        record: PaymentRecord,
        *,
        facts: PaymentFacts,
        status: PaymentStatus,
        amount_refunded: int,
        now: datetime,
        links: dict[str, str],
        diff_seq: int,
    ) -> None:
        await self._hold(
            SAVE_STATE,
            record.id,
            json.dumps(facts.to_json()),
            status.value,
            amount_refunded,
            record.version + 1,
            diff_seq,
            now,
            links.get("stripe_checkout_session_id"),
            links.get("stripe_payment_intent_id"),
            links.get("stripe_charge_id"),
        )

    async def record_refund_seen(
        self,
        *,
        payment_id: str,
        stripe_refund_id: str,
        our_refund_id: str | None,
        amount: int,
        currency: str,
        status: str,
        reason: str | None,
        now: datetime,
    ) -> None:
        await self._hold(
            RECORD_REFUND_SEEN,
            stripe_refund_id,
            our_refund_id,
            new_id("rf"),
            payment_id,
            amount,
            currency,
            status,
            reason,
            now,
            STATUS_RANK[status],
        )

    async def append_diff(self, diff: StateDiff, seq: int, now: datetime) -> None:
        await self._hold(
            APPEND_DIFF,
            new_id("msg"),
            diff.order_id,
            seq,
            diff.payment_id,
            diff.from_state.value,
            diff.to_state.value,
            diff.amount_paid,
            diff.amount_refunded,
            diff.currency,
            diff.cause.event_id,
            diff.cause.event_type,
            now,
        )

    async def record_identities(self, user_id: str, hashes: Sequence[tuple[str, str]], now: datetime) -> None:
        if hashes:
            await self._hold(RECORD_IDENTITIES, user_id, [k for k, _ in hashes], [h for _, h in hashes], now)
