"""Fault drills' stream: a plan of Stripe events with duplicates, a sender that re-sends like Stripe, and
the end-state check against the database.

The plan is a set of payments, each with the events Stripe sends for it (checkout completed, charge
succeeded, and per refund ``refund.created`` / ``charge.refunded`` / ``refund.updated``), every event
delivered 1-3 times, all deliveries shuffled. Everything random comes from one seeded ``random.Random``;
the seed is in every assertion message so a failing drill can be run again as it was (``DRILL_SEED``).

The sender treats anything but a 2xx (a 5xx, a refused connection, a cut connection, a timeout) as "not
acknowledged" and sends that delivery again later with a fresh signature, as Stripe does, so a drill that
ends has every delivery acknowledged once and nothing is lost on the sending side.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import os
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.db import payments_repo
from payments.adapters.db.engine import create_engine
from payments.adapters.db.referral_tables import referral_commissions
from payments.adapters.db.tables import order_state_diffs, payments, refunds, stripe_events
from payments.domain.commission import remaining_after_refunds
from payments.domain.payment_state import PaymentFacts
from payments.webhooks.signature import sign_payload
from tests.support import stripe_events as se
from tests.support.clock import NOW

LIVE_COMMISSION_STATUSES = frozenset({"pending", "approved", "held"})
_ORDER_STATE = {"succeeded": "paid", "partially_refunded": "partially_refunded", "refunded": "refunded"}


def drill_seed() -> int:
    """``DRILL_SEED`` replays a run; otherwise a fresh seed (printed in every failure)."""
    value = os.environ.get("DRILL_SEED")
    return int(value) if value else random.SystemRandom().randrange(2**32)


# -- the plan ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlannedPayment:
    payment_id: str
    order_id: str
    user_id: str
    amount: int
    currency: str
    referrer_id: str | None
    session_id: str
    payment_intent_id: str
    charge_id: str
    refunds: tuple[tuple[str, int], ...]  # (stripe refund id, amount), in the order they are made
    event_ids: tuple[str, ...]

    @property
    def refunded(self) -> int:
        return sum(amount for _, amount in self.refunds)

    @property
    def expected_status(self) -> str:
        return _status_for(self.amount, self.refunded)

    @property
    def possible_refunded(self) -> frozenset[int]:
        """Refunded totals Orders may see on the way: any non-empty subset of the refunds, since each
        refund's own events may be the first ones processed."""
        amounts = [amount for _, amount in self.refunds]
        return frozenset(
            sum(combo) for n in range(1, len(amounts) + 1) for combo in itertools.combinations(amounts, n)
        )


def _status_for(amount: int, refunded: int) -> str:
    if refunded == 0:
        return "succeeded"
    return "refunded" if refunded >= amount else "partially_refunded"


@dataclass
class Plan:
    seed: int
    payments: list[PlannedPayment]
    events: dict[str, dict[str, Any]]  # event id -> the event, as Stripe sends it
    deliveries: list[str]  # event ids in sending order, duplicates included

    def __post_init__(self) -> None:
        self.bodies = {
            eid: json.dumps(evt, separators=(",", ":")).encode() for eid, evt in self.events.items()
        }

    def describe(self) -> str:
        return (
            f"seed={self.seed} payments={len(self.payments)} events={len(self.events)} "
            f"deliveries={len(self.deliveries)} (replay with DRILL_SEED={self.seed})"
        )


def make_plan(
    seed: int, n_payments: int, prefix: str, *, referred_share: float = 0.3, max_copies: int = 3
) -> Plan:
    """``n_payments`` checkout payments and their events, each event sent 1..max_copies times, shuffled.

    A quarter have no refund, a third one partial refund, a sixth one full refund, the rest two
    refunds (summing to at most the amount, sometimes exactly it). About ``referred_share`` of them
    name one of eight referrers.
    """
    rng = random.Random(seed)
    planned: list[PlannedPayment] = []
    events: dict[str, dict[str, Any]] = {}
    for i in range(n_payments):
        tag = f"{prefix}{i:04d}"
        amount = rng.randrange(1_000, 50_000, 100)
        kind = rng.choices(["none", "partial", "full", "two"], weights=[25, 35, 15, 25])[0]
        if kind == "none":
            refund_amounts: list[int] = []
        elif kind == "partial":
            refund_amounts = [rng.randrange(100, amount, 100)]
        elif kind == "full":
            refund_amounts = [amount]
        else:
            first = rng.randrange(100, amount - 100, 100)
            refund_amounts = [first, rng.randrange(100, amount - first + 1, 100)]
        referrer = f"ref_{prefix}_{rng.randrange(8)}" if rng.random() < referred_share else None
        p = dict(
            payment_id=f"pay_{tag}",
            order_id=f"ord_{tag}",
            session_id=f"cs_{tag}",
            pi=f"pi_{tag}",
            charge=f"ch_{tag}",
        )
        base = 1_764_000_000 + i * 100
        evts: list[dict[str, Any]] = [
            se.event(
                "checkout.session.completed",
                se.session(p["session_id"], p["payment_id"], p["order_id"], p["pi"], amount=amount),
                event_id=f"evt_{tag}_cs",
                created=base + 1,
            ),
            se.event(
                "charge.succeeded",
                se.charge(p["charge"], p["pi"], amount=amount),
                event_id=f"evt_{tag}_ch",
                created=base + 2,
            ),
        ]
        made: list[dict[str, Any]] = []
        refund_ids: list[tuple[str, int]] = []
        for k, refund_amount in enumerate(refund_amounts):
            rid = f"re_{tag}_{k}"
            created = base + 10 + 3 * k
            refund = se.refund(rid, p["pi"], p["charge"], refund_amount, created=created)
            made.append(refund)
            refund_ids.append((rid, refund_amount))
            evts += [
                se.event(
                    "refund.created",
                    {**refund, "status": "pending"},
                    event_id=f"evt_{tag}_r{k}c",
                    created=created,
                ),
                se.event(
                    "charge.refunded",
                    se.charge(p["charge"], p["pi"], amount=amount, refunds=list(made)),
                    event_id=f"evt_{tag}_r{k}ch",
                    created=created + 1,
                ),
                se.event("refund.updated", refund, event_id=f"evt_{tag}_r{k}u", created=created + 2),
            ]
        for evt in evts:
            events[evt["id"]] = evt
        planned.append(
            PlannedPayment(
                payment_id=p["payment_id"],
                order_id=p["order_id"],
                user_id=f"u_{tag}",
                amount=amount,
                currency="eur",
                referrer_id=referrer,
                session_id=p["session_id"],
                payment_intent_id=p["pi"],
                charge_id=p["charge"],
                refunds=tuple(refund_ids),
                event_ids=tuple(e["id"] for e in evts),
            )
        )
    deliveries = [eid for eid in events for _ in range(rng.randint(1, max_copies))]
    rng.shuffle(deliveries)
    return Plan(seed, planned, events, deliveries)


async def insert_payments(engine: AsyncEngine, plan: Plan) -> None:
    """The payment rows as ``POST /v1/payments`` leaves them once the Checkout Session is open."""
    rows = [
        {
            "id": p.payment_id,
            "order_id": p.order_id,
            "user_id": p.user_id,
            "amount": p.amount,
            "currency": p.currency,
            "mode": "checkout",
            "status": "open",
            "amount_refunded": 0,
            "referrer_id": p.referrer_id,
            "terms_hash": "t",
            "facts": PaymentFacts().to_json(),
            "stripe_checkout_session_id": p.session_id,
            "version": 0,
            "created_at": NOW,
            "updated_at": NOW,
        }
        for p in plan.payments
    ]
    async with engine.begin() as conn:
        for row in rows:
            await payments_repo.insert_payment(conn, row)


# -- the sender ----------------------------------------------------------------------------------------
Gate = Callable[[int], bool]  # may the n-th fresh delivery go out now? (raises when held too long)


@dataclass
class SendStats:
    attempts: int = 0
    acked: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)  # "200", "500", "ConnectError", ...
    first_acked_new: Counter[str] = field(default_factory=Counter)  # event id -> 2xx answers duplicate=false
    server_errors: int = 0
    cut_in_flight: int = 0  # connections cut after the request was sent (a kill mid-request)
    elapsed: float = 0.0
    timeline: list[tuple[float, float, str]] = field(default_factory=list)  # (sent, answered, outcome)

    def outcomes_between(self, start: float, end: float) -> Counter[str]:
        """Outcomes of the deliveries sent and answered within [start, end] (time.monotonic())."""
        return Counter(label for sent, answered, label in self.timeline if sent >= start and answered <= end)

    def summary(self) -> str:
        return (
            f"attempts={self.attempts} acked={self.acked} elapsed={self.elapsed:.1f}s "
            f"outcomes={dict(self.outcomes)}"
        )


class ResendingSender:
    """Sends every planned delivery until a 2xx acknowledges it, from ``concurrency`` concurrent senders.

    ``targets()`` names the service URLs to spread deliveries over (a dead one just fails and is retried).
    ``gate(n)`` says whether the n-th fresh delivery may go out: a drill holds the stream there until its
    fault has happened, while re-sends of what was not acknowledged go on. The whole run fails loudly after
    ``deadline_s``.
    """

    def __init__(
        self,
        plan: Plan,
        secret: str,
        targets: Callable[[], Sequence[str]],
        *,
        concurrency: int = 8,
        deadline_s: float = 120.0,
        request_timeout: float = 10.0,
        gate: Gate | None = None,
        max_backoff_s: float = 0.5,
    ) -> None:
        self.plan = plan
        self.secret = secret
        self.targets = targets
        self.concurrency = concurrency
        self.deadline_s = deadline_s
        self.request_timeout = request_timeout
        self.gate = gate
        self.max_backoff_s = max_backoff_s
        self.stats = SendStats()
        self.dispatched = 0
        self.in_flight: Counter[str] = Counter()  # target -> requests on the wire
        self._fresh = list(reversed(plan.deliveries))
        self._retries: list[tuple[float, int, str, int]] = []  # (due, tiebreak, event id, attempt)
        self._tiebreak = itertools.count()
        self._busy = 0
        self._rr = itertools.count()
        self._rng = random.Random(plan.seed ^ 0x5EED)
        self._deadline = 0.0

    @property
    def total(self) -> int:
        return len(self.plan.deliveries)

    def _fail(self, what: str) -> AssertionError:
        return AssertionError(
            f"{what}; {self.plan.describe()}; {self.stats.summary()}; "
            f"fresh left={len(self._fresh)} retries pending={len(self._retries)}"
        )

    async def _next(self) -> tuple[str, int] | None:
        loop = asyncio.get_running_loop()
        while True:
            if loop.time() > self._deadline:
                raise self._fail(f"the stream did not finish within {self.deadline_s}s")
            if self._retries and self._retries[0][0] <= loop.time():
                _, _, event_id, attempt = heapq.heappop(self._retries)
                self._busy += 1
                return event_id, attempt
            if self._fresh and (self.gate is None or self.gate(self.dispatched)):
                self.dispatched += 1
                self._busy += 1
                return self._fresh.pop(), 0
            if not self._fresh and not self._retries and self._busy == 0:
                return None
            wait = self._retries[0][0] - loop.time() if self._retries else 0.02
            await asyncio.sleep(min(max(wait, 0.0), 0.02))

    def _target(self) -> str:
        live = list(self.targets())
        return live[next(self._rr) % len(live)]

    async def _send_once(self, client: httpx.AsyncClient, event_id: str) -> tuple[bool, str]:
        body = self.plan.bodies[event_id]
        header = sign_payload(body, self.secret, int(time.time()))
        target = self._target()
        self.in_flight[target] += 1
        try:
            response = await client.post(
                f"{target}/v1/webhooks/stripe",
                content=body,
                headers={"Stripe-Signature": header, "Content-Type": "application/json"},
            )
        except httpx.ConnectError:
            return False, "ConnectError"
        except httpx.TransportError as exc:  # sent, then cut (a kill) or timed out
            self.stats.cut_in_flight += 1
            return False, type(exc).__name__
        finally:
            self.in_flight[target] -= 1
        label = str(response.status_code)
        if response.status_code >= 500:
            self.stats.server_errors += 1
        if 200 <= response.status_code < 300:
            if response.json().get("duplicate") is False:
                self.stats.first_acked_new[event_id] += 1
            return True, label
        return False, label

    async def _worker(self, client: httpx.AsyncClient) -> None:
        loop = asyncio.get_running_loop()
        while (item := await self._next()) is not None:
            event_id, attempt = item
            try:
                self.stats.attempts += 1
                sent = time.monotonic()
                ok, label = await self._send_once(client, event_id)
                self.stats.outcomes[label] += 1
                self.stats.timeline.append((sent, time.monotonic(), label))
                if ok:
                    self.stats.acked += 1
                else:
                    delay = min(self.max_backoff_s, 0.02 * 2**attempt) * (0.5 + self._rng.random())
                    heapq.heappush(
                        self._retries, (loop.time() + delay, next(self._tiebreak), event_id, attempt + 1)
                    )
            finally:
                self._busy -= 1

    async def run(self) -> SendStats:
        started = time.monotonic()
        self._deadline = asyncio.get_running_loop().time() + self.deadline_s
        limits = httpx.Limits(
            max_connections=self.concurrency * 2, max_keepalive_connections=self.concurrency
        )
        async with httpx.AsyncClient(timeout=self.request_timeout, limits=limits) as client:
            await asyncio.gather(*(self._worker(client) for _ in range(self.concurrency)))
        self.stats.elapsed = time.monotonic() - started
        if self.stats.acked != self.total:
            raise self._fail(f"{self.stats.acked} of {self.total} deliveries acknowledged")
        return self.stats

    async def send_one(self, event_id: str) -> str:
        """One more delivery of an event, outside the stream; its outcome ("200", "500", ...)."""
        async with httpx.AsyncClient(timeout=self.request_timeout) as client:
            return (await self._send_once(client, event_id))[1]

    def check_answers(self) -> None:
        """At most one delivery per event was answered "new" (duplicate=false): the outside view of once."""
        twice = {eid: n for eid, n in self.stats.first_acked_new.items() if n > 1}
        assert not twice, (
            f"events answered as new more than once: {dict(list(twice.items())[:10])}; {self.plan.describe()}"
        )


# -- the end state -------------------------------------------------------------------------------------
@dataclass
class DbState:
    payments: dict[str, Any]
    events: dict[str, str]  # id -> status
    diffs: dict[str, list[Any]]  # order id -> rows by seq
    refunds: dict[str, list[Any]]  # payment id -> rows
    commissions: dict[str, list[Any]]  # order id -> rows


async def read_state(engine: AsyncEngine) -> DbState:
    async with engine.connect() as conn:
        pay = {r.id: r for r in (await conn.execute(select(payments))).all()}
        events = {
            r.id: r.status for r in await conn.execute(select(stripe_events.c.id, stripe_events.c.status))
        }
        diffs: dict[str, list[Any]] = defaultdict(list)
        for r in await conn.execute(
            select(order_state_diffs).order_by(order_state_diffs.c.order_id, order_state_diffs.c.seq)
        ):
            diffs[r.order_id].append(r)
        refund_rows: dict[str, list[Any]] = defaultdict(list)
        for r in await conn.execute(select(refunds)):
            refund_rows[r.payment_id].append(r)
        commissions: dict[str, list[Any]] = defaultdict(list)
        for r in await conn.execute(select(referral_commissions)):
            commissions[r.order_id].append(r)
    return DbState(pay, events, diffs, refund_rows, commissions)


def _diff_problems(p: PlannedPayment, rows: list[Any]) -> list[str]:
    """The order's diffs: seq 1..n, a chain (each starts where the last ended), first pending -> paid,
    then strictly growing refunded totals (no double), each a total some subset of the refunds makes,
    ending at the payment's end state (no gap), each caused by a different event of this payment."""
    where = f"order {p.order_id}"
    got = [
        (r.seq, r.from_state, r.to_state, r.amount_paid, r.amount_refunded, r.cause_event_id) for r in rows
    ]
    if [r.seq for r in rows] != list(range(1, len(rows) + 1)):
        return [f"{where}: diff seqs are not 1..n: {got}"]
    if not rows or (rows[0].from_state, rows[0].to_state, rows[0].amount_paid, rows[0].amount_refunded) != (
        "pending",
        "paid",
        p.amount,
        0,
    ):
        return [f"{where}: first diff is not pending -> paid {p.amount}/0: {got}"]
    problems: list[str] = []
    for prev, cur in itertools.pairwise(rows):
        if cur.from_state != prev.to_state or cur.amount_paid != p.amount:
            problems.append(f"{where}: diff {cur.seq} does not follow diff {prev.seq}: {got}")
        if cur.amount_refunded <= prev.amount_refunded:
            problems.append(f"{where}: diff {cur.seq} does not add a refund (a double?): {got}")
        if cur.amount_refunded not in p.possible_refunded:
            problems.append(
                f"{where}: diff {cur.seq} refunded {cur.amount_refunded} is no sum of the refunds "
                f"{p.refunds}: {got}"
            )
        if cur.to_state != _ORDER_STATE[_status_for(p.amount, cur.amount_refunded)]:
            problems.append(f"{where}: diff {cur.seq} state {cur.to_state} does not match its amounts: {got}")
    last = rows[-1]
    if (last.to_state, last.amount_refunded) != (_ORDER_STATE[p.expected_status], p.refunded):
        problems.append(
            f"{where}: history ends at {last.to_state}/{last.amount_refunded}, expected "
            f"{_ORDER_STATE[p.expected_status]}/{p.refunded} (a gap): {got}"
        )
    causes = [r.cause_event_id for r in rows]
    if len(set(causes)) != len(causes) or not set(causes) <= set(p.event_ids):
        problems.append(f"{where}: diff causes are repeated or foreign: {got}")
    return problems


def end_state_problems(plan: Plan, state: DbState, *, expect_delivered: bool = False) -> list[str]:
    problems: list[str] = []
    planned_ids = set(plan.events)
    if set(state.events) != planned_ids:
        missing, extra = planned_ids - set(state.events), set(state.events) - planned_ids
        problems.append(
            f"ledger: {len(missing)} events missing (e.g. {sorted(missing)[:5]}), "
            f"{len(extra)} unexpected (e.g. {sorted(extra)[:5]})"
        )
    not_processed = {eid: s for eid, s in state.events.items() if s != "processed"}
    if not_processed:
        problems.append(
            f"ledger: {len(not_processed)} events not processed: {dict(sorted(not_processed.items())[:10])}"
        )
    for p in plan.payments:
        row = state.payments.get(p.payment_id)
        if row is None:
            problems.append(f"payment {p.payment_id} is gone")
            continue
        got = (row.status, row.amount_refunded, row.stripe_payment_intent_id, row.stripe_charge_id)
        want = (p.expected_status, p.refunded, p.payment_intent_id, p.charge_id)
        if got != want:
            problems.append(f"payment {p.payment_id}: (status, refunded, pi, charge) {got}, expected {want}")
        facts = PaymentFacts.from_json(row.facts)
        want_refunds = {rid: amount for rid, amount in p.refunds}
        got_refunds = {rid: f.amount for rid, f in facts.refunds.items() if f.status.value == "succeeded"}
        if (
            not facts.succeeded
            or facts.amount_received != p.amount
            or got_refunds != want_refunds
            or len(facts.refunds) != len(p.refunds)
        ):
            problems.append(f"payment {p.payment_id}: facts {facts.to_json()} do not match the plan")
        rows = sorted((r.stripe_refund_id, r.amount, r.status) for r in state.refunds.get(p.payment_id, []))
        want_rows = sorted((rid, amount, "succeeded") for rid, amount in p.refunds)
        if rows != want_rows:
            problems.append(f"payment {p.payment_id}: refund rows {rows}, expected {want_rows}")
        diffs = state.diffs.get(p.order_id, [])
        problems += _diff_problems(p, diffs)
        if expect_delivered and any(d.delivered_at is None for d in diffs):
            problems.append(
                f"order {p.order_id}: diffs not delivered to Orders: "
                f"{[d.seq for d in diffs if d.delivered_at is None]}"
            )
        commissions = state.commissions.get(p.order_id, [])
        if p.referrer_id is None:
            if commissions:
                problems.append(f"order {p.order_id} has no referrer but {len(commissions)} commissions")
            continue
        if len(commissions) != 1 or commissions[0].payment_id != p.payment_id:
            problems.append(
                f"order {p.order_id}: {len(commissions)} commission rows, expected one for {p.payment_id}"
            )
            continue
        c = commissions[0]
        if c.status in LIVE_COMMISSION_STATUSES and c.amount != remaining_after_refunds(
            c.original_amount, p.amount, p.refunded
        ):
            problems.append(
                f"order {p.order_id}: commission {c.id} is {c.amount} ({c.status}), expected "
                f"{remaining_after_refunds(c.original_amount, p.amount, p.refunded)} after "
                f"refunds of {p.refunded}"
            )
    return problems


@dataclass
class Settled:
    state: DbState
    waited: float  # seconds until the end state was right
    problems_at_first: list[str]  # what was still wrong at the stream's end (deferred events, outbox)

    def summary(self) -> str:
        first = f"; at the stream's end: {self.problems_at_first[:3]}" if self.problems_at_first else ""
        return f"settled after {self.waited:.1f}s{first}"


async def assert_exactly_once(
    database_url: str,
    plan: Plan,
    *,
    timeout: float = 20.0,
    expect_delivered: bool = False,
    context: str = "",
) -> Settled:
    """Wait (bounded) until the database holds the plan's end state, exactly once, and return it.

    Called while the service still runs: an event deferred because its payment's link was being committed
    at the same moment is applied by the service's housekeeping sweep (every few seconds), and the outbox
    drains at the relay's pace. Fails with every problem still there at the deadline.
    """
    engine = create_engine(database_url, pool_size=2)
    started = time.monotonic()
    first: list[str] | None = None
    try:
        while True:
            state = await read_state(engine)
            problems = end_state_problems(plan, state, expect_delivered=expect_delivered)
            first = problems if first is None else first
            if not problems:
                return Settled(state, time.monotonic() - started, first)
            if time.monotonic() - started > timeout:
                raise AssertionError(
                    f"{len(problems)} problems still there after {timeout}s ({context}; "
                    f"{plan.describe()}):\n  " + "\n  ".join(problems[:40])
                )
            await asyncio.sleep(0.2)
    finally:
        await engine.dispose()


def all_gates(*gates: Gate) -> Gate:
    def gate(dispatched: int) -> bool:
        return all(one(dispatched) for one in gates)

    return gate
