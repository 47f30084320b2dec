"""Redis' "seen" markers against a real Redis: written in batches after the fact, read as a hint only."""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

from payments.adapters.redis_marks import RedisSeenMarks
from tests.conftest import REDIS_URL


async def test_marked_events_read_back_as_processed_and_others_do_not() -> None:
    marks = RedisSeenMarks(REDIS_URL)
    ids = [f"evt_{uuid.uuid4().hex}" for _ in range(3)]
    try:
        for event_id in ids:
            marks.mark_processed(event_id)
        await marks.flush()
        assert [await marks.is_processed(event_id) for event_id in ids] == [True, True, True]
        assert await marks.is_processed(f"evt_{uuid.uuid4().hex}") is False
    finally:
        await marks.close()


async def test_a_batch_goes_out_as_one_pipeline_with_the_ttl() -> None:
    marks = RedisSeenMarks(REDIS_URL, seen_ttl_s=600, batch_max=2)
    ids = [f"evt_{uuid.uuid4().hex}" for _ in range(5)]
    probe = Redis.from_url(REDIS_URL)
    try:
        for event_id in ids:
            marks.mark_processed(event_id)
        await marks.close()  # sends what is pending, two at a time
        for event_id in ids:
            ttl = await probe.ttl(f"stripe:evt:done:{event_id}")
            assert 0 < ttl <= 600
    finally:
        await probe.aclose()


async def test_an_unreachable_redis_answers_dont_know_and_is_skipped_for_a_while() -> None:
    marks = RedisSeenMarks("redis://127.0.0.1:1/0", cooldown_s=60)
    try:
        assert await marks.is_processed("evt_any") is None
        assert not marks.available  # the next calls do not wait for a timeout again
        marks.mark_processed("evt_any")  # dropped, never raises
        assert await marks.is_processed("evt_any") is None
    finally:
        await marks.close()
