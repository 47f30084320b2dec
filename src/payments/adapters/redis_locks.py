"""Redis as an optimisation for webhook idempotency: a fast "seen" marker and a per-event lock.

Never the source of truth: every failure here is answered with "don't know", and the caller falls back to
the database. After an error Redis is skipped for a short while, so an outage costs one timeout, not one
per request. Each delivery costs two round trips: check-and-lock before, release-and-mark after.
"""

from __future__ import annotations

import secrets
import time
from enum import Enum

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)

# KEYS: done marker, lock. ARGV: token, lock ttl ms. 0 = already processed, 1 = locked by us, 2 = held.
_CHECK_AND_LOCK = """
if redis.call('exists', KEYS[1]) == 1 then return 0 end
if redis.call('set', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 2
"""
# KEYS: lock, done marker. ARGV: token, done ttl s, processed flag. Only the owner's token frees the lock,
# so a lock that expired and was taken by another replica stays theirs.
_RELEASE_AND_MARK = """
if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('del', KEYS[1]) end
if ARGV[3] == '1' then redis.call('set', KEYS[2], '1', 'EX', ARGV[2]) end
return 1
"""


class LockState(Enum):
    PROCESSED = "processed"  # the marker says done: a duplicate
    ACQUIRED = "acquired"
    HELD = "held"  # another delivery is working on it right now
    UNKNOWN = "unknown"  # Redis did not answer


class RedisEventLocks:
    def __init__(
        self, url: str, *, lock_ttl_ms: int = 30_000, seen_ttl_s: int = 7 * 24 * 3600, cooldown_s: float = 5.0
    ) -> None:
        self._redis = Redis.from_url(url, socket_timeout=0.25, socket_connect_timeout=0.25)
        self._lock_ttl_ms = lock_ttl_ms
        self._seen_ttl_s = seen_ttl_s
        self._cooldown_s = cooldown_s
        self._down_until = 0.0
        self._check_and_lock = self._redis.register_script(_CHECK_AND_LOCK)
        self._release_and_mark = self._redis.register_script(_RELEASE_AND_MARK)

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, exc: Exception, op: str) -> None:
        self._down_until = time.monotonic() + self._cooldown_s
        log.warning("redis.unavailable", op=op, error=type(exc).__name__)

    async def acquire(self, event_id: str) -> tuple[LockState, str | None]:
        if not self.available:
            return LockState.UNKNOWN, None
        token = secrets.token_hex(16)
        try:
            answer = await self._check_and_lock(
                keys=[f"stripe:evt:done:{event_id}", f"stripe:evt:lock:{event_id}"],
                args=[token, self._lock_ttl_ms],
            )
        except (RedisError, OSError) as exc:
            self._failed(exc, "acquire")
            return LockState.UNKNOWN, None
        if answer == 0:
            return LockState.PROCESSED, None
        return (LockState.ACQUIRED, token) if answer == 1 else (LockState.HELD, None)

    async def release(self, event_id: str, token: str | None, *, processed: bool) -> None:
        if not self.available or (token is None and not processed):
            return
        try:
            await self._release_and_mark(
                keys=[f"stripe:evt:lock:{event_id}", f"stripe:evt:done:{event_id}"],
                args=[token or "", self._seen_ttl_s, "1" if processed else "0"],
            )
        except (RedisError, OSError) as exc:
            self._failed(exc, "release")

    async def is_processed(self, event_id: str) -> bool | None:
        if not self.available:
            return None
        try:
            return bool(await self._redis.exists(f"stripe:evt:done:{event_id}"))
        except (RedisError, OSError) as exc:
            self._failed(exc, "is_processed")
            return None

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self._redis.aclose()
