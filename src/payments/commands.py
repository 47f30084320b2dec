"""The operator commands behind ``payments events|outbox|commissions|audit``."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from tqdm import tqdm

from payments import bootstrap
from payments.config import Settings
from payments.errors import ServiceError
from payments.records import NEEDING_LOOK, EventStatus
from payments.referrals.access import issue_referrer_token
from payments.runner import public_url
from payments.stripe_port import GatewayError
from payments.webhooks.stripe_events import envelope_problem


@asynccontextmanager
async def _container(settings: Settings) -> AsyncIterator[bootstrap.Container]:
    container = bootstrap.build(settings)
    try:
        yield container
    finally:
        await container.close()


CLI_ACTOR = "cli"


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")


async def events_sync(settings: Settings, since: timedelta) -> int:
    """Missed webhooks: fetch from the Events API and run each through the same exactly-once path."""
    async with _container(settings) as c:
        created_gte = int((c.clock() - since).timestamp())
        try:
            events = [event async for event in c.gateway.iter_events(created_gte=created_gte)]
        except GatewayError as exc:
            _out(f"Stripe could not list the events ({exc.kind.value}); nothing was processed")
            return 1
        processed = duplicates = skipped = failed = 0
        for event in tqdm(events, desc="events", unit="evt", file=sys.stderr, disable=not events):
            if envelope_problem(event) is not None:
                skipped += 1
                continue
            try:
                handled = await c.webhooks.process(event, json.dumps(event, separators=(",", ":")))
            except ServiceError:  # stored as failed with its reason: `payments events list`
                failed += 1
                continue
            if handled.duplicate:
                duplicates += 1
            else:
                processed += 1
        _out(
            f"{len(events)} events fetched: {processed} processed, {duplicates} already processed"
            + (f", {skipped} malformed and skipped" if skipped else "")
            + (f", {failed} failed (see payments events list)" if failed else "")
        )
    return 1 if failed else 0


def _age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


async def events_list(settings: Settings, status: str | None, limit: int) -> int:
    """Stored events a person may need to look at: failed, deferred and unreadable ones unless a status is
    named."""
    statuses = (EventStatus(status),) if status else NEEDING_LOOK
    async with _container(settings) as c:
        events = await c.events.needing_look(statuses, limit)
        now = c.clock()
    for e in events:
        age = _age((now - e.received_at).total_seconds())
        line = f"{e.id}  {e.type}  {e.status.value}  attempts={e.attempts}  age={age}  {e.error or ''}"
        _out(line.rstrip())
    _out(f"{len(events)} event(s) {'/'.join(s.value for s in statuses)}")
    return 0


async def payment_review(settings: Settings, payment_id: str, decision: str) -> int:
    # Through the operator actions, as the console does: the decision moves money, so it is logged.
    async with _container(settings) as c:
        outcome = await c.operator.review_payment(payment_id, decision, CLI_ACTOR)
    _out(outcome.message if outcome.ok else f"{payment_id}: {outcome.message}")
    return 0 if outcome.ok else 1


async def events_replay(settings: Settings, event_id: str) -> int:
    async with _container(settings) as c:
        outcome = await c.operator.replay_event(event_id, CLI_ACTOR)
    _out(outcome.message)
    return 0 if outcome.ok else 1


async def outbox_list(settings: Settings) -> int:
    async with _container(settings) as c:
        pending = await c.outbox.pending()
    for m in pending:
        _out(
            f"{m.id}  order={m.order_id} seq={m.seq} {m.from_state}->{m.to_state} "
            f"attempts={m.attempts} next={m.next_attempt_at.isoformat()} {m.last_error or ''}".rstrip()
        )
    _out(f"{len(pending)} undelivered")
    return 0


async def outbox_retry(settings: Settings, message_id: str | None) -> int:
    async with _container(settings) as c:
        outcome = await c.operator.retry_outbox(message_id, CLI_ACTOR)
    _out(outcome.message)
    return 0 if outcome.ok else 1


async def outbox_relay(settings: Settings, *, once: bool) -> int:
    async with _container(settings) as c:
        relay = c.relay
        if relay is None:
            _out("PAYMENTS_ORDERS_URL is unset: nothing to deliver to")
            return 2
        if once:
            _out(f"{await relay.run_once()} delivered")
            return 0
        await relay.run_forever(settings.outbox_poll_seconds, asyncio.Event())
    return 0


async def commissions_release(settings: Settings) -> int:
    async with _container(settings) as c:
        released = await c.commissions.release_due(c.clock())
    _out(f"{released} commission(s) approved")
    return 0


async def audit_verify(settings: Settings) -> int:
    async with _container(settings) as c:
        result, outcome = await c.operator.verify_audit_chain(CLI_ACTOR)
    _out(outcome.message)
    return 0 if result.ok else 1


async def referrers_link(settings: Settings, referrer_id: str, minutes: int) -> int:
    """The dashboard sign-in link for one referrer, valid for ``minutes``; nothing is stored."""
    if settings.jwt_secret is None:
        _out("PAYMENTS_JWT_SECRET is unset: referrer links cannot be signed")
        return 2
    if not referrer_id.strip() or len(referrer_id) > 128:
        _out("REFERRER_ID: 1 to 128 characters")
        return 2
    try:
        token = issue_referrer_token(
            referrer_id.strip(),
            settings.jwt_secret,
            settings.token_policy(),
            lifetime=timedelta(minutes=minutes),
            now=datetime.now(UTC),
        )
    except ValueError as exc:
        _out(f"--minutes: {exc} (PAYMENTS_JWT_MAX_LIFETIME_SECONDS)")
        return 2
    _out(f"{public_url(settings)}/referrer/signin?token={token}")
    return 0
