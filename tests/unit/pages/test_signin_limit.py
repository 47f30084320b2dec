"""The console's sign-in limiter on a hand-moved clock: five failures close an address for the window,
a success clears it, other addresses are not touched, and memory stays bounded whatever the flood."""

from __future__ import annotations

from payments.pages.console.signin_limit import SignInLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_the_fifth_failure_closes_the_address_until_its_first_leaves_the_window() -> None:
    clock = Clock()
    limiter = SignInLimiter(max_failures=5, window_seconds=900, clock=clock)
    for _ in range(4):
        limiter.failed("10.0.0.1")
        clock.now += 10
    assert limiter.retry_after("10.0.0.1") is None
    limiter.failed("10.0.0.1")  # at 1040; the first was at 1000
    assert limiter.retry_after("10.0.0.1") == 860
    assert limiter.retry_after("10.0.0.2") is None
    clock.now = 1_000 + 900  # the first failure leaves the window: one more try
    assert limiter.retry_after("10.0.0.1") is None
    limiter.failed("10.0.0.1")
    assert limiter.retry_after("10.0.0.1") == 10  # the second failure, at 1010, leaves next


def test_a_success_clears_the_count() -> None:
    limiter = SignInLimiter(max_failures=5, window_seconds=900, clock=Clock())
    for _ in range(4):
        limiter.failed("10.0.0.1")
    limiter.succeeded("10.0.0.1")
    for _ in range(4):
        limiter.failed("10.0.0.1")
    assert limiter.retry_after("10.0.0.1") is None


def test_a_flood_of_addresses_keeps_memory_bounded_and_forgets_the_oldest() -> None:
    clock = Clock()
    limiter = SignInLimiter(max_failures=5, window_seconds=900, max_entries=100, clock=clock)
    for _ in range(5):
        limiter.failed("attacker")
    for n in range(10_000):
        limiter.failed(f"10.{n // 256}.{n % 256}.1")
        assert len(limiter) <= 100
    assert len(limiter) == 100
    assert limiter.retry_after("attacker") is None  # forgotten first: it failed least recently
    # Each address keeps at most max_failures timestamps, however often it fails.
    for _ in range(1_000):
        limiter.failed("10.0.0.1")
    assert len(limiter._failures["10.0.0.1"]) == 5


def test_addresses_are_logged_as_a_keyed_hash() -> None:
    limiter = SignInLimiter()
    hashed = limiter.hashed("192.0.2.7")
    assert "192.0.2.7" not in hashed and hashed == limiter.hashed("192.0.2.7")
    assert SignInLimiter().hashed("192.0.2.7") != hashed  # another process, another key
