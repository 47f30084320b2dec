"""Failed console sign-ins, counted per client address, so the admin credential cannot be guessed at speed.

After ``max_failures`` wrong credentials within ``window_seconds`` from one address, that address is
refused (429, Retry-After) until its oldest failure leaves the window, even with the right credential; a
success clears it. The console has one credential and no user name, so there is no per-account count: one
would let anyone lock the operators out from anywhere.

In process and bounded: at most ``max_entries`` addresses are remembered, the least recently failing one
forgotten first, each with at most ``max_failures`` timestamps. A flood from more addresses than that
forgets the oldest (their count starts again); limiting many addresses belongs in front of the service.
Each process of ``serve --workers N`` counts on its own. Addresses are logged only as a keyed hash that
changes with each process (an IPv4 address hashed without a key is found by trying them all).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable

MAX_FAILURES = 5
WINDOW_SECONDS = 15 * 60
MAX_ENTRIES = 10_000


class SignInLimiter:
    def __init__(
        self,
        *,
        max_failures: int = MAX_FAILURES,
        window_seconds: float = WINDOW_SECONDS,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_failures = max_failures
        self._window = window_seconds
        self._max_entries = max_entries
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._log_key = secrets.token_bytes(16)

    def __len__(self) -> int:
        return len(self._failures)

    def retry_after(self, client: str) -> int | None:
        """Seconds until ``client`` may try again; None when it may now."""
        failures = self._recent(client)
        if failures is None or len(failures) < self._max_failures:
            return None
        return max(1, math.ceil(failures[0] + self._window - self._clock()))

    def failed(self, client: str) -> None:
        failures = self._recent(client)
        if failures is None:
            failures = self._failures[client] = deque(maxlen=self._max_failures)
            while len(self._failures) > self._max_entries:
                self._failures.popitem(last=False)
        self._failures.move_to_end(client)
        failures.append(self._clock())

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)

    def hashed(self, client: str) -> str:
        """What a log line may carry instead of the address."""
        return hmac.new(self._log_key, client.encode(), hashlib.sha256).hexdigest()[:16]

    def _recent(self, client: str) -> deque[float] | None:
        failures = self._failures.get(client)
        if failures is None:
            return None
        horizon = self._clock() - self._window
        while failures and failures[0] <= horizon:
            failures.popleft()
        if not failures:
            del self._failures[client]
            return None
        return failures
