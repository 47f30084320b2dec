"""DeferredSweep on the in-memory store: one replica sweeps the deferred events, and another takes over
once its lease lapses."""

from __future__ import annotations

from datetime import timedelta

from payments.webhooks.deferred_sweep import DeferredSweep
from tests.support.clock import FakeClock
from tests.support.fakes import FakeStore

LEASE = timedelta(seconds=30)


class Deferred:
    """The processor's sweep, counted: what the lease decides is whether it runs at all."""

    def __init__(self) -> None:
        self.sweeps = 0

    async def sweep_deferred(self) -> int:
        self.sweeps += 1
        return 3


async def test_one_replica_sweeps_and_keeps_the_lease_while_it_runs() -> None:
    store, clock = FakeStore(), FakeClock()
    a_events, b_events = Deferred(), Deferred()
    a = DeferredSweep(store, a_events, clock, LEASE)
    b = DeferredSweep(store, b_events, clock, LEASE)

    assert await a.run_once() == 3
    assert await b.run_once() is None
    clock.advance(timedelta(seconds=25))
    assert await a.run_once() == 3  # renewed: a keeps sweeping
    clock.advance(timedelta(seconds=25))
    assert await b.run_once() is None  # 50 s after a's first round, still a's
    assert (a_events.sweeps, b_events.sweeps) == (2, 0)


async def test_another_replica_takes_over_once_the_lease_lapses() -> None:
    store, clock = FakeStore(), FakeClock()
    a_events, b_events = Deferred(), Deferred()
    a = DeferredSweep(store, a_events, clock, LEASE)
    b = DeferredSweep(store, b_events, clock, LEASE)

    assert await a.run_once() == 3
    clock.advance(LEASE + timedelta(seconds=1))  # a stopped (or died) without a word
    assert await b.run_once() == 3
    assert await a.run_once() is None
    assert (a_events.sweeps, b_events.sweeps) == (1, 1)
