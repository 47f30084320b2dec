"""Signed webhook delivery with retries and configurable chaos, every attempt recorded."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from .store import Store

JSON = dict[str, Any]


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """The `Stripe-Signature` header `stripe.Webhook.construct_event` checks."""
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def encode_event(event: JSON) -> bytes:
    return json.dumps(event, indent=2).encode()


@dataclass
class RetryPolicy:
    base_ms: int = 500
    cap_ms: int = 5000
    max_attempts: int = 10
    timeout_s: float = 5.0

    @classmethod
    def from_env(cls) -> RetryPolicy:
        env = os.environ
        return cls(
            base_ms=int(env.get("STRIPE_EMULATOR_RETRY_BASE_MS", "500")),
            cap_ms=int(env.get("STRIPE_EMULATOR_RETRY_CAP_MS", "5000")),
            max_attempts=int(env.get("STRIPE_EMULATOR_MAX_ATTEMPTS", "10")),
            timeout_s=float(env.get("STRIPE_EMULATOR_DELIVERY_TIMEOUT_S", "5")),
        )

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before attempt `attempt` (2, 3, …): exponential, capped."""
        return min(self.base_ms << max(0, attempt - 2), self.cap_ms) / 1000


@dataclass
class Chaos:
    duplicates: int = 1
    shuffle: bool = False
    delay_ms: int = 0
    drop_first: bool = False

    def as_dict(self) -> JSON:
        return asdict(self)


@dataclass
class _Job:
    event_id: str
    event_type: str
    endpoint_id: str
    payload: bytes
    copy_index: int
    drop_first: bool
    not_before: float


# How long a shuffling worker waits to gather a window of events to reorder.
_SHUFFLE_WINDOW_S = 0.05
_SHUFFLE_MAX_BATCH = 20


@dataclass
class WebhookDispatcher:
    store: Store
    policy: RetryPolicy = field(default_factory=RetryPolicy.from_env)
    chaos: Chaos = field(default_factory=Chaos)
    _queues: dict[str, asyncio.Queue[_Job]] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _client: httpx.AsyncClient | None = None
    # (event id, endpoint id) pairs already delivered, so `pending_webhooks` counts down once each.
    _delivered: set[tuple[str, str]] = field(default_factory=set)

    def endpoints_for(self, event_type: str) -> list[JSON]:
        return [
            endpoint
            for endpoint in self.store.table("webhook_endpoints").values()
            if endpoint["status"] == "enabled"
            and ("*" in endpoint["enabled_events"] or event_type in endpoint["enabled_events"])
        ]

    def enqueue(self, event: JSON, *, endpoint_ids: list[str] | None = None) -> int:
        """Schedule delivery (must run on the event loop); returns how many deliveries were queued."""
        payload = encode_event(event)
        not_before = time.monotonic() + self.chaos.delay_ms / 1000
        queued = 0
        for endpoint in self.endpoints_for(event["type"]):
            if endpoint_ids is not None and endpoint["id"] not in endpoint_ids:
                continue
            for copy_index in range(max(1, self.chaos.duplicates)):
                job = _Job(
                    event_id=event["id"],
                    event_type=event["type"],
                    endpoint_id=endpoint["id"],
                    payload=payload,
                    copy_index=copy_index,
                    drop_first=self.chaos.drop_first,
                    not_before=not_before,
                )
                self._queue_for(endpoint["id"]).put_nowait(job)
                queued += 1
        return queued

    def _queue_for(self, endpoint_id: str) -> asyncio.Queue[_Job]:
        queue = self._queues.get(endpoint_id)
        if queue is None:
            queue = self._queues[endpoint_id] = asyncio.Queue()
            self._spawn(self._worker(queue))
        return queue

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _worker(self, queue: asyncio.Queue[_Job]) -> None:
        # One worker per endpoint makes first attempts in event order (unless chaos shuffles);
        # retries run on their own so one failing event does not hold back the rest.
        while True:
            batch = [await queue.get()]
            if self.chaos.shuffle:
                await asyncio.sleep(_SHUFFLE_WINDOW_S)
                while not queue.empty() and len(batch) < _SHUFFLE_MAX_BATCH:
                    batch.append(queue.get_nowait())
                random.shuffle(batch)
            for job in batch:
                wait = job.not_before - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not await self._attempt(job, 1):
                    self._spawn(self._retry(job))

    async def _retry(self, job: _Job) -> None:
        for attempt in range(2, self.policy.max_attempts + 1):
            await asyncio.sleep(self.policy.delay_before(attempt))
            if job.endpoint_id not in self.store.table("webhook_endpoints"):
                return
            if await self._attempt(job, attempt):
                return

    async def _attempt(self, job: _Job, attempt: int) -> bool:
        endpoint = self.store.table("webhook_endpoints").get(job.endpoint_id)
        secret = self.store.endpoint_secrets.get(job.endpoint_id)
        if endpoint is None or secret is None:
            return True
        record: JSON = {
            "event_id": job.event_id,
            "type": job.event_type,
            "endpoint": endpoint["url"],
            "endpoint_id": job.endpoint_id,
            "attempt": attempt,
            "copy": job.copy_index,
            "status_code": None,
            "dropped": False,
            "error": None,
            "at": time.time(),
        }
        if attempt == 1 and job.drop_first:
            record["dropped"] = True
            record["error"] = "dropped by chaos"
            self.store.deliveries.append(record)
            return False
        header = sign(job.payload, secret, int(time.time()))
        try:
            response = await self._http().post(
                endpoint["url"],
                content=job.payload,
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "Stripe-Signature": header,
                    "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                },
                timeout=self.policy.timeout_s,
            )
        except httpx.HTTPError as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
            self.store.deliveries.append(record)
            return False
        record["status_code"] = response.status_code
        self.store.deliveries.append(record)
        ok = 200 <= response.status_code < 300
        if ok:
            self._count_down(job)
        return ok

    def _count_down(self, job: _Job) -> None:
        key = (job.event_id, job.endpoint_id)
        if key in self._delivered:
            return
        self._delivered.add(key)
        event = self.store.table("events").get(job.event_id)
        if event is not None and event["pending_webhooks"] > 0:
            event["pending_webhooks"] -= 1

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient()
        return self._client

    async def reset(self) -> None:
        """Forget queued and retrying deliveries, as if the account were new."""
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        for task in list(self._tasks):
            if task is not current:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._tasks.clear()
        self._queues.clear()
        self._delivered.clear()
        self.chaos = Chaos()

    async def close(self) -> None:
        await self.reset()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
