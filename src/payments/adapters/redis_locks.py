"""Redis as an optimisation for webhook idempotency: a fast "seen" marker and a per-event lock.

Never the source of truth: every failure here is answered with "don't know", and the caller falls back to
the database. After an error Redis is skipped for a short while, so an outage costs one timeout, not one
per request.
"""

from __future__ import annotations

import secrets
import time

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end
"""


class RedisEventLocks:
    def __init__(
        self, url: str, *, lock_ttl_ms: int = 30_000, seen_ttl_s: int = 7 * 24 * 3600, cooldown_s: float = 5.0
    ) -> None:
        self._redis = Redis.from_url(url, socket_timeout=0.25, socket_connect_timeout=0.25)
        self._lock_ttl_ms = lock_ttl_ms
        self._seen_ttl_s = seen_ttl_s
        self._cooldown_s = cooldown_s
        self._down_until = 0.0
        self._release = self._redis.register_script(_RELEASE)

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, exc: Exception, op: str) -> None:
        self._down_until = time.monotonic() + self._cooldown_s
        log.warning("redis.unavailable", op=op, error=type(exc).__name__)

    async def is_processed(self, event_id: str) -> bool | None:
        if not self.available:
            return None
        try:
            return bool(await self._redis.exists(f"stripe:evt:done:{event_id}"))
        except (RedisError, OSError) as exc:
            self._failed(exc, "is_processed")
            return None

    async def mark_processed(self, event_id: str) -> None:
        if not self.available:
            return
        try:
            await self._redis.set(f"stripe:evt:done:{event_id}", b"1", ex=self._seen_ttl_s)
        except (RedisError, OSError) as exc:
            self._failed(exc, "mark_processed")

    async def acquire(self, event_id: str) -> str | None:
        """A token when we own the lock; None when someone else does or Redis cannot say."""
        if not self.available:
            return None
        token = secrets.token_hex(16)
        try:
            ok = await self._redis.set(f"stripe:evt:lock:{event_id}", token, nx=True, px=self._lock_ttl_ms)
        except (RedisError, OSError) as exc:
            self._failed(exc, "acquire")
            return None
        return token if ok else None

    async def release(self, event_id: str, token: str) -> None:
        """Only the owner's token deletes the key, so a lock that expired and was retaken stays."""
        try:
            await self._release(keys=[f"stripe:evt:lock:{event_id}"], args=[token])
        except (RedisError, OSError) as exc:
            self._failed(exc, "release")

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self._redis.aclose()
