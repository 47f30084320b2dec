"""Background duties of ``payments serve``: each is idempotent and safe on several replicas at once."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import structlog

from payments.bootstrap import Container
from payments.observability.metrics import PAYMENTS_NEEDING_REVIEW

log = structlog.get_logger(__name__)


async def run_once(c: Container) -> dict[str, int]:
    now = c.clock()
    done: dict[str, int] = {}
    done["commissions_released"] = await c.commissions.release_due(now)
    done["deferred_applied"] = await c.deferred.run_once() or 0  # None: another replica sweeps them
    done["failed_retried"] = await c.webhooks.retry_failed()
    swept = await c.sweep.run_once()
    done["events_swept"] = swept.applied if swept is not None else 0
    done["refunds_retried"] = await c.refunds.retry_requested()
    done["events_pruned"] = await c.events.prune(now - timedelta(days=c.settings.event_retention_days))
    PAYMENTS_NEEDING_REVIEW.set(await c.review.waiting())
    return done


async def run_forever(c: Container, stop: asyncio.Event, interval_seconds: float = 5.0) -> None:
    while not stop.is_set():
        try:
            done = await run_once(c)
            if any(done.values()):
                log.info("housekeeping.done", **done)
        except Exception as exc:  # a database blip must not end the loop; the next round retries
            log.warning("housekeeping.failed", error=type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_seconds)
