"""Readiness: each dependency the service cannot work without, asked whether it answers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

Check = Callable[[], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class ReadinessReport:
    checks: dict[str, str]  # name -> "ok" | "down"

    @property
    def ready(self) -> bool:
        return all(state == "ok" for state in self.checks.values())


class Readiness:
    def __init__(self, checks: Mapping[str, Check]) -> None:
        self._checks = dict(checks)

    async def check(self) -> ReadinessReport:
        return ReadinessReport(
            {name: "ok" if await answers() else "down" for name, answers in self._checks.items()}
        )
