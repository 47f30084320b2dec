from datetime import UTC, datetime, timedelta

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


class FakeClock:
    """A clock a test moves by hand."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta
